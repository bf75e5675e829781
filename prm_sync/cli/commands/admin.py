"""``failures``, ``audit`` and ``review``: what an administrator does after a run.

Dead-lettered records are listed, inspected, replayed through the normal sync
path or discarded with a reason; ``audit`` tells where a field's value came
from; ``review`` settles the field conflicts a mapping parked for a person.
Every decision is written to the audit log with the acting user. Bad input
(unknown id, malformed date) is a ``UsageError``: one line, exit 2.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from pydantic import BaseModel

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_mapping, print_table
from prm_sync.errors import UsageError
from prm_sync.store.db import Store

failures_app = typer.Typer(help="Records that failed to sync: list, inspect, replay, discard.", no_args_is_help=True)
review_app = typer.Typer(help="Field conflicts parked for a person (rule manual_review).", no_args_is_help=True)
app.add_typer(failures_app, name="failures")
app.add_typer(review_app, name="review")

STATUSES = ("open", "resolved", "discarded", "all")
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def actor() -> str:
    """Who is acting, for the audit log: the OS user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``24h``/``7d``/``30m``/``2w`` ago, or an ISO date/datetime (UTC unless it says otherwise)."""
    if value is None:
        return None
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--since {value!r} is neither a duration like 24h/7d nor an ISO date like 2026-11-01"
        raise UsageError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _store() -> Store:
    from prm_sync.runtime import open_store

    return open_store(state.config())


class ReviewOutcome(BaseModel):
    item_id: int
    entity: str
    record_id: str
    system: str
    field: str
    take: str
    previous: Any
    value: Any


def resolve_review_item(store: Store, item_id: int, *, take: str, value: str | None, actor: str) -> ReviewOutcome:
    """Close a review item and put the winning value on the PRM record, in one transaction.

    The field was held back from pushes while the item was open; once the
    PRM record carries the decision and the hold is lifted, the next push
    writes it to the system (a PRM value that differs from the last agreed one
    is a PRM change). The decision is audited with the acting user.
    """
    from pydantic import ValidationError

    from prm_sync.model import ENTITIES, utcnow
    from prm_sync.store import audit, records, review

    with store.session() as session:
        item = review.get_review(session, item_id)
        if item is None:
            msg = f"no review item with id {item_id} (see `prm-sync review list`)"
            raise UsageError(msg)
        record = records.get_record(session, item.entity, item.record_id)
        if record is None:
            msg = f"review item {item_id}: {item.entity} {item.record_id} is no longer in the PRM store"
            raise UsageError(msg)
        settled = review.resolve_review(session, item_id, resolution=take, resolved_by=actor, resolved_value=value)
        previous = getattr(record, item.field)
        try:
            updated = ENTITIES[item.entity].model_validate(
                {**record.model_dump(), item.field: settled.resolved_value, "updated_at": utcnow()}
            )
        except ValidationError as exc:
            problem = "; ".join(e["msg"] for e in exc.errors())
            msg = f"review item {item_id}: {settled.resolved_value!r} is not a valid {item.field}: {problem}"
            raise UsageError(msg) from None
        records.save_record(session, updated)
        audit.append_audit(session, [audit.AuditEntry(
            actor=actor, action="review.resolve", system=item.system, entity=item.entity, record_id=item.record_id,
            fields_before={item.field: previous}, fields_after={item.field: getattr(updated, item.field)},
            reason=f"review item {item_id} settled: took {take}",
        )])
    return ReviewOutcome(item_id=item_id, entity=item.entity, record_id=item.record_id, system=item.system,
                         field=item.field, take=take, previous=previous, value=getattr(updated, item.field))


def _failure_row(f: Any) -> dict[str, Any]:
    return f.model_dump(mode="json")


# -- failures ---------------------------------------------------------------------------------
@failures_app.command("list")
def failures_list(
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    remote_object: str | None = typer.Option(None, "--object", help="Only this remote object (Account, companies...)."),
    error_code: str | None = typer.Option(None, "--error-code", help="Only this error code."),
    since: str | None = typer.Option(None, "--since", help="Seen since: 24h, 7d or an ISO date."),
    status: str = typer.Option("open", "--status", help="open, resolved, discarded or all."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Failed records, newest first (open ones unless --status says otherwise)."""
    from prm_sync.store import failures

    if status not in STATUSES:
        msg = f"--status {status!r}: expected one of {', '.join(STATUSES)}"
        raise UsageError(msg)
    since_at = parse_since(since)
    store = _store()
    try:
        with store.session(readonly=True) as session:
            rows = failures.list_failures(
                session, status=None if status == "all" else status, system=system, remote_object=remote_object,
                error_code=error_code, since=since_at, limit=limit,
            )
    finally:
        store.close()
    if json_output:
        print_json([_failure_row(f) for f in rows])
        return
    print_table(
        f"{len(rows)} failed record{'s' if len(rows) != 1 else ''} ({status})",
        ["id", "system", "object", "record", "op", "error", "attempts", "last seen", "status"],
        [(f.id, f.system, f.remote_object, f.record_key, f.operation, f"{f.error_code}: {f.error_message}"[:90],
          f.attempts, f.last_seen.isoformat(timespec="seconds"), f.status) for f in rows],
    )


def _get_failure(failure_id: int) -> Any:
    from prm_sync.store import failures

    store = _store()
    try:
        with store.session(readonly=True) as session:
            found = failures.get_failure(session, failure_id)
    finally:
        store.close()
    if found is None:
        msg = f"no failed record with id {failure_id} (see `prm-sync failures list --status all`)"
        raise UsageError(msg)
    return found


@failures_app.command("show")
def failures_show(
    failure_id: int = typer.Argument(..., help="The failure id from `failures list`."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One failed record: the error, the payload it had, how often it failed."""
    found = _get_failure(failure_id)
    if json_output:
        print_json(_failure_row(found))
        return
    data = _failure_row(found)
    payload = data.pop("payload")
    print_mapping(f"failed record {failure_id}", data)
    if payload:
        print_mapping("payload when it failed", payload)


@failures_app.command("replay")
def failures_replay(
    ids: list[int] = typer.Argument(None, help="Failure ids to replay."),
    all_open: bool = typer.Option(False, "--all", help="Every open failure (narrowed by the filters)."),
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    remote_object: str | None = typer.Option(None, "--object", help="Only this remote object."),
    error_code: str | None = typer.Option(None, "--error-code", help="Only this error code."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what a replay would do; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-read current state and sync the failed records again through the normal path."""
    from prm_sync.replay import ReplaySelection, replay_failures
    from prm_sync.runtime import open_runtime

    selection = ReplaySelection(ids=ids or [], all=all_open, system=system, remote_object=remote_object,
                                error_code=error_code)
    if selection.is_empty():
        msg = "name failure ids, a filter (--system/--object/--error-code) or --all"
        raise UsageError(msg)
    runtime = open_runtime(state.config())
    try:
        report = replay_failures(runtime, selection, dry_run=dry_run, actor=actor())
    finally:
        runtime.close()
    if json_output:
        print_json({**report.model_dump(mode="json"), "counts": report.counts()})
    else:
        print_table(
            f"replay{' (dry run: nothing written)' if dry_run else ''}: "
            + ", ".join(f"{k} {v}" for k, v in report.counts().items() if v),
            ["id", "system", "object", "record", "outcome", "attempts", "detail"],
            [(i.id, i.system, i.remote_object, i.record, i.outcome, i.attempts,
              (f"{i.error_code}: {i.error}" if i.error else i.reason or "")[:90]) for i in report.items],
        )
    if report.counts()["failed_again"]:
        raise typer.Exit(3)


@failures_app.command("discard")
def failures_discard(
    failure_id: int = typer.Argument(..., help="The failure id from `failures list`."),
    reason: str = typer.Option(..., "--reason", help="Why it is given up on (kept in the audit log)."),
) -> None:
    """Give up on a failed record on purpose; the reason is audited."""
    from prm_sync.store import audit, failures

    if not reason.strip():
        raise UsageError("--reason must say why the record is discarded")
    store = _store()
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
    finally:
        store.close()
    console.print(f"failed record {failure_id} discarded", markup=False)


# -- audit ---------------------------------------------------------------------------------------
@app.command("audit")
def audit_command(
    record: str = typer.Argument(..., help="A PRM id (ptn_...) or a remote id (001..., 12345)."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many entries, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Where each field of a record got its value: run, time, source field and rule."""
    from prm_sync.audit_view import provenance

    store = _store()
    try:
        with store.session(readonly=True) as session:
            lines = provenance(session, record, limit=limit)
    finally:
        store.close()
    if not lines:
        msg = f"no audit entries for {record!r}: neither a PRM id nor a remote id prm-sync has changed"
        raise UsageError(msg)
    if json_output:
        print_json([line.model_dump(mode="json") for line in lines])
        return
    for line in lines:
        console.print(line.text, markup=False, highlight=False, soft_wrap=True)


# -- review -------------------------------------------------------------------------------------
@review_app.command("list")
def review_list(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Open field conflicts, oldest first."""
    from prm_sync.store import review

    store = _store()
    try:
        with store.session(readonly=True) as session:
            items = review.list_open_reviews(session)
    finally:
        store.close()
    if json_output:
        print_json([i.model_dump(mode="json") for i in items])
        return
    print_table(
        f"{len(items)} open review item{'s' if len(items) != 1 else ''}",
        ["id", "entity", "record", "system", "field", "PRM value", "remote value", "since"],
        [(i.id, i.entity, i.record_id, i.system, i.field, i.prm_value, i.remote_value,
          i.created_at.isoformat(timespec="seconds")) for i in items],
    )


@review_app.command("resolve")
def review_resolve(
    item_id: int = typer.Argument(..., help="The review item id from `review list`."),
    take: str = typer.Option(..., "--take", help="prm (keep the PRM value), remote, or value (--value)."),
    value: str | None = typer.Option(None, "--value", help="The right value, with --take value."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Settle a conflict: the PRM record takes the chosen value and the next push carries it."""
    if take not in ("prm", "remote", "value"):
        msg = f"--take {take!r}: expected prm, remote or value"
        raise UsageError(msg)
    if (take == "value") != (value is not None):
        raise UsageError("--value goes with --take value, and only with it")
    store = _store()
    try:
        outcome = resolve_review_item(store, item_id, take=take, value=value, actor=actor())
    finally:
        store.close()
    if json_output:
        print_json(outcome.model_dump(mode="json"))
        return
    console.print(
        f"review item {item_id}: {outcome.entity} {outcome.record_id}.{outcome.field} = {outcome.value!r} "
        f"(was {outcome.previous!r}); the next sync writes it to {outcome.system}",
        markup=False, highlight=False,
    )
