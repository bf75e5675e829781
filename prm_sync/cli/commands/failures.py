"""``prm-sync failures``: records that did not sync, grouped by cause, explained, fixed and replayed.

``prm-sync failures`` (or ``failures summary``) groups the open failures by
system, object, error and field, with counts, first and last seen, one
example with its CRM link, what fixes it and the next command to run.
``list`` shows them one by one (error code and message first), ``show`` one in
full, ``fix`` changes the PRM record and replays it, ``replay`` sends records
again (``--dry-run`` warns when the payload is the same as the one that
failed), ``discard`` gives up on one with a reason. Every change is audited
and reported to the Dagster instance when one is configured.
"""

from __future__ import annotations

from typing import Any

import typer

from prm_sync.cli.app import app
from prm_sync.cli.commands.admin import actor, parse_since
from prm_sync.cli.context import MAX_ID, MAX_LIMIT, state
from prm_sync.cli.output import (
    Col,
    console,
    print_command,
    print_fitted,
    print_json,
    print_mapping,
    styled,
    when,
)
from prm_sync.cli.progress import run_progress
from prm_sync.cli.report import notify
from prm_sync.errors import PrmSyncError, UsageError
from prm_sync.exit_codes import for_run_status
from prm_sync.health.causes import FailureGroup, detail_of
from prm_sync.health.observers import HealthChange

failures_app = typer.Typer(
    help="Records that failed to sync: grouped by cause (no subcommand), list, show, fix, replay, discard.",
    invoke_without_command=True,
)
app.add_typer(failures_app, name="failures")

STATUSES = ("open", "resolved", "discarded", "all")


def _runtime() -> Any:
    from prm_sync.runtime import open_runtime

    return open_runtime(state.config())


def _connector_for(runtime: Any) -> Any:
    """A system's connector when its secret is here (for picklist values); None otherwise."""

    def connector_for(system: str) -> Any:
        try:
            return runtime.connectors([system])[system]
        except PrmSyncError:
            return None

    return connector_for


def print_groups(groups: list[FailureGroup], total: int) -> None:
    if not groups:
        console.print("[green]no open failed records[/]", highlight=False)
        return
    rows = [(g.count, f"{g.error_code}: {g.problem}", g.system, g.remote_object, g.field or "", when(g.first_seen, ""),
             when(g.last_seen, ""), g.example.id) for g in groups]
    print_fitted(
        f"{total} open failed record{'s' if total != 1 else ''} in {len(groups)} cause{'s' if len(groups) != 1 else ''}",
        [Col("count", justify="right"), Col("error", wrap=True, min_width=36), Col("system", priority=3), Col("object", priority=1),
         Col("field", priority=2), Col("first seen", priority=5), Col("last seen", priority=4),
         Col("example", priority=6, justify="right")],
        rows,
    )
    for number, g in enumerate(groups, start=1):
        console.print(f"[bold]{number}. {g.system} {g.remote_object} {g.error_code}[/] ({g.count}): {g.problem}",
                      highlight=False, markup=True)
        if len(g.values) > 1:
            console.print("   values: " + ", ".join(f"{v} ({n})" for v, n in g.values.items()), markup=False, highlight=False)
        console.print(f"   fix: {g.guidance}", markup=False, highlight=False)
        example = f"   example: failure {g.example.id}, record {g.example.record}"
        console.print(example + (f": {g.example.url}" if g.example.url else ""), markup=False, highlight=False)
        for step in g.next_steps:
            print_command(step, "   ")


@failures_app.callback()
def _failures(ctx: typer.Context) -> None:
    """Without a subcommand: the open failures grouped by cause (``failures summary``)."""
    if ctx.invoked_subcommand is None:
        failures_summary(system=None, remote_object=None, error_code=None, since=None, json_output=False)


@failures_app.command("summary")
def failures_summary(
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    remote_object: str | None = typer.Option(None, "--object", help="Only this remote object (Account, companies...)."),
    error_code: str | None = typer.Option(None, "--error-code", help="Only this error code."),
    since: str | None = typer.Option(None, "--since", help="Seen since: 24h, 7d or an ISO date."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Open failures grouped by cause: count, first and last seen, an example, the fix and the next command."""
    from prm_sync.health.failures import open_failure_groups

    since_at = parse_since(since)
    runtime = _runtime()
    try:
        found, groups = open_failure_groups(runtime.store, runtime.config, runtime.mappings, system=system,
                                            remote_object=remote_object, error_code=error_code, since=since_at,
                                            connector_for=_connector_for(runtime))
    finally:
        runtime.close()
    if json_output:
        print_json({"open": len(found), "groups": [g.model_dump(mode="json") for g in groups]})
        return
    print_groups(groups, len(found))


@failures_app.command("list")
def failures_list(
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    remote_object: str | None = typer.Option(None, "--object", help="Only this remote object (Account, companies...)."),
    error_code: str | None = typer.Option(None, "--error-code", help="Only this error code."),
    since: str | None = typer.Option(None, "--since", help="Seen since: 24h, 7d or an ISO date."),
    status: str = typer.Option("open", "--status", help="open, resolved, discarded or all."),
    limit: int = typer.Option(200, "--limit", min=1, max=MAX_LIMIT, help="At most this many, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Failed records one by one, newest first: error code and message first (open ones unless --status says)."""
    from prm_sync.runtime import open_store
    from prm_sync.store import failures

    if status not in STATUSES:
        msg = f"--status {status!r}: expected one of {', '.join(STATUSES)}"
        raise UsageError(msg)
    since_at = parse_since(since)
    store = open_store(state.config())
    try:
        with store.session(readonly=True) as session:
            rows = failures.list_failures(
                session, status=None if status == "all" else status, system=system, remote_object=remote_object,
                error_code=error_code, since=since_at, limit=limit,
            )
    finally:
        store.close()
    if json_output:
        print_json([{**f.model_dump(mode="json"), "problem": detail_of(f).problem} for f in rows])
        return
    cols = [Col("error code"), Col("message", wrap=True, min_width=36), Col("id", justify="right"), Col("system", priority=4),
            Col("object", priority=2), Col("record", priority=1), Col("last seen", priority=3),
            Col("tries", priority=5, justify="right"), Col("op", priority=6)]
    values = [(f.error_code, detail_of(f).problem, f.id, f.system, f.remote_object, f.record_key, when(f.last_seen, ""),
               f.attempts, f.operation) for f in rows]
    if status != "open":
        cols.append(Col("status", priority=1))
        values = [(*v, styled(f.status)) for v, f in zip(values, rows, strict=True)]
    print_fitted(f"{len(rows)} failed record{'s' if len(rows) != 1 else ''} ({status})", cols, values,
                 caption="grouped by cause: prm-sync failures; one in full: prm-sync failures show ID")


@failures_app.command("show")
def failures_show(
    failure_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The failure id from `failures list`."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One failed record: the error explained, its CRM link, the payload it had, what to do next."""
    from prm_sync.health.causes import group_failures
    from prm_sync.health.failures import prm_field_lookup
    from prm_sync.health.links import record_url, remote_ids
    from prm_sync.store import failures

    runtime = _runtime()
    try:
        with runtime.store.session(readonly=True) as session:
            found = failures.get_failure(session, failure_id)
            remote_id = remote_ids(session, [found]).get(failure_id) if found is not None else None
        if found is None:
            msg = f"no failed record with id {failure_id} (see `prm-sync failures list --status all`)"
            raise UsageError(msg)
        url = record_url(runtime.config, found.system, found.remote_object, remote_id)
        group = group_failures([found], url_for=lambda _f: url, prm_field_for=prm_field_lookup(runtime.mappings))[0]
    finally:
        runtime.close()
    data = found.model_dump(mode="json")
    payload = data.pop("payload")
    if json_output:
        print_json({**data, "payload": payload, "detail": detail_of(found).model_dump(), "url": url,
                    "guidance": group.guidance, "next_steps": group.next_steps})
        return
    console.print(f"[bold]failed record {failure_id}[/] ", styled(found.status), highlight=False)
    print_mapping("what failed", {
        "problem": group.problem, "error code": found.error_code, "system": found.system,
        "object": found.remote_object, "entity": found.entity, "record": found.record_key, "in the CRM": url or "-",
        "operation": found.operation, "attempts": found.attempts, "first seen": when(found.first_seen, ""),
        "last seen": when(found.last_seen, ""), "run": found.run_id, "resolution": found.resolution,
    })
    console.print("remote message:", markup=False)
    console.print(f"  {found.error_message}", markup=False, highlight=False, soft_wrap=False)
    console.print(f"fix: {group.guidance}", markup=False, highlight=False)
    for step in group.next_steps:
        print_command(step)
    if payload:
        print_mapping("payload when it failed", payload)


def _print_payload_warning(item: Any) -> None:
    if item.payload_unchanged:
        console.print(f"[yellow]warning:[/] failed record {item.id}: the payload is the same as the one that failed; "
                      f"it fails again unless the cause was fixed in {item.system} (a picklist value, a field, a "
                      "validation rule)", highlight=False)
    elif item.payload_changes:
        changed = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in item.payload_changes.items())
        console.print(f"failed record {item.id}: sends {changed}", markup=False, highlight=False)


def _report_replay(runtime: Any, report: Any, dry_run: bool) -> None:
    if dry_run or not report.items:
        return
    slices = sorted({(i.system, i.entity) for i in report.items if i.entity})
    notify(runtime.config, runtime.store, HealthChange(kind="replay", slices=slices, run_ids=report.run_ids,
                                                       actor=report.actor))


@failures_app.command("replay")
def failures_replay(
    ids: list[int] = typer.Argument(None, min=1, max=MAX_ID, help="Failure ids to replay."),
    all_open: bool = typer.Option(False, "--all", help="Every open failure (narrowed by the filters)."),
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    remote_object: str | None = typer.Option(None, "--object", help="Only this remote object."),
    error_code: str | None = typer.Option(None, "--error-code", help="Only this error code."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what a replay would send; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-read current state and sync the failed records again through the normal path."""
    from prm_sync.replay import ReplaySelection, replay_failures

    selection = ReplaySelection(ids=ids or [], all=all_open, system=system, remote_object=remote_object,
                                error_code=error_code)
    if selection.is_empty():
        msg = "name failure ids, a filter (--system/--object/--error-code) or --all"
        raise UsageError(msg)
    runtime = _runtime()
    try:
        if json_output:
            report = replay_failures(runtime, selection, dry_run=dry_run, actor=actor())
        else:
            with run_progress("replay (dry run)" if dry_run else "replay") as on_event:
                report = replay_failures(runtime, selection, dry_run=dry_run, actor=actor(), progress=on_event)
        _report_replay(runtime, report, dry_run)
    finally:
        runtime.close()
    if json_output:
        print_json({**report.model_dump(mode="json"), "counts": report.counts(), "status": report.status(),
                    "unchanged_payloads": [i.id for i in report.items if i.payload_unchanged]})
    else:
        print_fitted(
            f"replay{' (dry run: nothing written)' if dry_run else ''}: "
            + ", ".join(f"{k} {v}" for k, v in report.counts().items() if v),
            [Col("id", justify="right"), Col("outcome"), Col("detail", wrap=True), Col("system", priority=3),
             Col("object", priority=2), Col("record", priority=1), Col("tries", priority=4, justify="right")],
            [(i.id, styled(i.outcome), f"{i.error_code}: {i.error}" if i.error else i.reason or "", i.system,
              i.remote_object, i.record, i.attempts) for i in report.items],
        )
        for item in report.items:
            _print_payload_warning(item)
    code = for_run_status(report.status())
    if code:
        raise typer.Exit(code)


@failures_app.command("fix")
def failures_fix(
    failure_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The failure id from `failures list`."),
    assignments: list[str] = typer.Option(..., "--set", help="FIELD=VALUE on the PRM record (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the payload the replay would send; write nothing."),
    no_replay: bool = typer.Option(False, "--no-replay", help="Change the record only; replay later."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Correct the failed record's PRM fields and replay it, in one step (audited)."""
    from prm_sync.fix import fix_failure, parse_assignments

    changes = parse_assignments(assignments)
    runtime = _runtime()
    try:
        report = fix_failure(runtime, failure_id, changes, dry_run=dry_run, replay=not no_replay, actor=actor())
        if report.replay is not None:
            _report_replay(runtime, report.replay, dry_run)
    finally:
        runtime.close()
    if json_output:
        print_json(report.model_dump(mode="json"))
    else:
        for change in report.changes:
            console.print(f"{report.entity} {report.record_id}.{change.field}: {change.before!r} -> {change.after!r}"
                          + (" (dry run: not saved)" if dry_run else ""), markup=False, highlight=False)
        if report.invalid:
            console.print(f"[red]still not mappable:[/] {report.invalid}", highlight=False)
        if dry_run and report.payload_changes is not None:
            if not report.payload_changes:
                console.print("[yellow]warning:[/] the payload is the same as the one that failed: this change does "
                              "not reach the field the remote refused", highlight=False)
            for name, (before, after) in report.payload_changes.items():
                console.print(f"  {report.system} {name}: {before!r} -> {after!r}", markup=False, highlight=False)
        if report.replay is not None:
            for item in report.replay.items:
                line = f"replay of failed record {item.id}: "
                console.print(line, styled(item.outcome), (f" {item.error_code}: {item.error}" if item.error else ""),
                              highlight=False)
    if report.replay is not None:
        code = for_run_status(report.replay.status())
        if code:
            raise typer.Exit(code)


@failures_app.command("discard")
def failures_discard(
    failure_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The failure id from `failures list`."),
    reason: str = typer.Option(..., "--reason", help="Why it is given up on (kept in the audit log)."),
) -> None:
    """Give up on a failed record on purpose; the reason is audited."""
    from prm_sync.runtime import open_store
    from prm_sync.store import audit, failures

    if not reason.strip():
        raise UsageError("--reason must say why the record is discarded")
    config = state.config()
    store = open_store(config)
    who = actor()
    try:
        with store.session() as session:
            if failures.get_failure(session, failure_id) is None:
                msg = f"no failed record with id {failure_id} (see `prm-sync failures list --status all`)"
                raise UsageError(msg)
            closed = failures.discard_failure(session, failure_id, reason.strip())
            audit.append_audit(session, [audit.AuditEntry(
                actor=who, action="failure.discard", system=closed.system, remote_object=closed.remote_object,
                entity=closed.entity, record_id=closed.record_key if closed.operation != "read" else None,
                remote_id=closed.record_key if closed.operation == "read" else None,
                reason=f"failed record {failure_id} discarded: {reason.strip()}",
            )])
        console.print(f"failed record {failure_id} discarded", markup=False)
        if closed.entity:
            notify(config, store, HealthChange(kind="failures", slices=[(closed.system, closed.entity)], actor=who))
    finally:
        store.close()
