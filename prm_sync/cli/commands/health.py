"""``prm-sync status`` and ``prm-sync runs``: is everything syncing, and what did each run do?

``status`` is the sync-health page on a terminal: per system and entity the
last good run and its age, records read and written, open failures by
cause, API quota used against the daily limit, unmatched records; then who
holds the lock, runs in progress, and the schedules' next ticks (with
Dagster's view of them when a Dagster instance is configured). ``runs`` lists
the run history the store keeps; ``runs show ID`` is one run in full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.padding import Padding
from rich.text import Text

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import (
    Col,
    console,
    fit_columns,
    natural_widths,
    print_fitted,
    print_json,
    styled,
    when,
)
from prm_sync.cli.report import notify
from prm_sync.errors import UsageError
from prm_sync.health.observers import HealthChange, OrchestratorStatus, observers
from prm_sync.health.summary import COLOURS, HealthReport, format_age
from prm_sync.store.locks import host_name
from prm_sync.sync.stats import identity_line

runs_app = typer.Typer(help="The run history the store keeps: list (default), show ID.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


def _health_word(status: str) -> Text:
    return Text(status, style="bold " + COLOURS.get(status, ""))


def _orchestrators(config: Any) -> list[OrchestratorStatus]:
    found = []
    for observer in observers():
        try:
            found.append(observer.status(config))
        except Exception as exc:  # its storage is not ours: say so rather than fail the status page
            found.append(OrchestratorStatus(name=observer.name, where="?", problems=[f"{type(exc).__name__}: {exc}"]))
    return found


def print_health(report: HealthReport) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
    console.print(Text.assemble("sync health: ", _health_word(report.status),
                                f" ({len(report.slices)} slices: {counts}; stale after "
                                f"{report.freshness_minutes:.0f} min without a good run)"), highlight=False)
    longest_code = max((len(c.error_code) for s in report.slices for c in s.causes[:2]), default=0)

    def rows(with_code: bool) -> list[tuple[Any, ...]]:
        found = []
        for s in report.slices:
            cause = "; ".join(f"{c.count}x {c.error_code + ': ' if with_code else ''}{c.problem}" for c in s.causes[:2])
            found.append((f"{s.system}/{s.entity}", _health_word(s.status), format_age(s.age_minutes), s.read,
                          s.written, Text(str(s.open_failures), style="bold red") if s.open_failures else 0,
                          cause or "; ".join(r for r in s.reasons if "open failed" not in r),
                          f"{s.quota_pct:.0f}%" if s.quota_pct is not None else "-",
                          s.unmatched if s.unmatched is not None else "-", s.last_run_id or "-"))
        return found

    # the cause column is wide enough for a whole error code (``FIELD_CUSTOM_VALIDATION_EXCEPTION``) before optional
    # columns are kept; on a terminal too narrow for that the code is left out (``prm-sync failures`` shows it),
    # rather than cut in the middle of the word
    cols = [Col("slice"), Col("status"), Col("last good", justify="right"),
            Col("read", priority=4, justify="right"), Col("written", priority=3, justify="right"),
            Col("open", priority=1, justify="right"),
            Col("cause / reason", wrap=True, min_width=max(22, min(longest_code + 5, 40))),
            Col("quota", priority=2, justify="right"), Col("unmatched", priority=5, justify="right"),
            Col("last run", priority=6)]
    coded = rows(with_code=True)
    keep = fit_columns(cols, coded, console.width)
    natural = natural_widths(cols, coded)
    room = console.width - sum(natural[i] for i in keep if not cols[i].wrap) - 3 * (len(keep) - 1)
    print_fitted(None, cols, coded if room >= longest_code + 5 else rows(with_code=False))
    for quota in report.quotas:
        style = "bold red" if quota.over_warning else ""
        console.print(Text.assemble(f"{quota.system} API: ", Text(f"{quota.pct:.1f}%", style=style),
                                    f" of the {quota.window} limit ({quota.used:,} of {quota.limit:,}, as of "
                                    f"{when(quota.as_of)})"), highlight=False)
    for key, count in report.unmatched.items():
        lister = "prm-sync learners unmatched" if key == "lms/course_completion" else "prm-sync unmatched"
        console.print(f"unmatched {key}: {count} waiting for a person (`{lister}` lists them)", markup=False,
                      highlight=False)


def print_operations(report: HealthReport, schedules: list[dict[str, Any]], orchestrators: list[OrchestratorStatus]) -> None:
    if report.locks:
        for lock in report.locks:
            where = f" on {host_name(lock.host)} pid {lock.pid}" if lock.host else ""
            console.print(f"lock {lock.scope!r}: held by {lock.run_id}{where} since {when(lock.acquired_at)} "
                          f"(last heartbeat {when(lock.heartbeat_at)})", markup=False, highlight=False)
    else:
        console.print("locks: free (no run holds a slice)")
    for run in report.running:
        console.print(f"running: {run.id} ({run.trigger}) since {when(run.started_at)}", markup=False, highlight=False)
    rows = [(s["name"], s["cron"], s["timezone"], when(s["next_tick"]), styled(s["state"])) for s in schedules]
    print_fitted("schedules", [Col("schedule"), Col("cron"), Col("timezone", priority=2), Col("next run"),
                               Col("state")], rows)
    if not orchestrators:
        console.print("Dagster: no instance configured (DAGSTER_HOME is unset): CLI runs are in the store only; "
                      "`prm-sync runs` lists them, and the schedules run only under `dagster dev` or its daemon",
                      markup=False, highlight=False)
    for orch in orchestrators:
        daemon = {True: "daemon alive", False: "daemon NOT running: schedules and sensors do not fire",
                  None: "daemon state unknown"}[orch.daemon_alive]
        console.print(f"{orch.name} at {orch.where}: {daemon}", markup=False, highlight=False)
        for problem in orch.problems:
            console.print(f"  [yellow]{problem}[/]", highlight=False)


def _schedules(config: Any, orchestrators: list[OrchestratorStatus], now: datetime) -> list[dict[str, Any]]:
    from prm_sync.health.schedule import SCHEDULES, cron_of, next_ticks

    known = {s.name: s for o in orchestrators for s in o.schedules}
    out = []
    for schedule in SCHEDULES:
        cron = cron_of(config.schedules, schedule)
        seen = known.get(schedule.name)
        running = seen.running if seen is not None else None
        out.append({"name": schedule.name, "job": schedule.job, "cron": cron, "timezone": config.schedules.timezone,
                    "next_tick": next_ticks(cron, config.schedules.timezone, now)[0] if running is not False else None,
                    "state": {True: "running", False: "stopped", None: "unknown"}[running]})
    return out


@app.command()
def status(
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    report_to_dagster: bool = typer.Option(
        False, "--report", help="Also refresh Dagster's health view and checks (e.g. from cron, as a watchdog)."),
) -> None:
    """Sync health per system and entity, open failures by cause, quota, lock holder and the next scheduled runs."""
    from prm_sync.health.summary import build_health, mapped_slices
    from prm_sync.model import utcnow
    from prm_sync.runtime import open_runtime

    runtime = open_runtime(state.config())
    now = utcnow()
    try:
        with runtime.store.session(readonly=True) as session:
            report = build_health(session, runtime.config, mapped_slices(runtime.mappings, runtime.config.systems.enabled()),
                                  now=now)
        if report_to_dagster:
            notify(runtime.config, runtime.store, HealthChange(kind="failures", slices=[
                (s.system, s.entity) for s in report.slices]))
    finally:
        runtime.close()
    orchestrators = _orchestrators(runtime.config)
    schedules = _schedules(runtime.config, orchestrators, now)
    if json_output:
        print_json({**report.model_dump(mode="json"), "schedules": schedules,
                    "orchestrators": [o.model_dump(mode="json") for o in orchestrators]})
        return
    print_health(report)
    print_operations(report, schedules, orchestrators)


# -- runs ----------------------------------------------------------------------------------------
def _run_totals(run: Any) -> dict[str, int]:
    keys = ("read", "created", "updated", "deleted", "failed", "api_calls")
    slices = run.stats.get("slices") or []
    return {k: sum(int(s.get(k) or 0) for s in slices) for k in keys}


def _duration(run: Any) -> str:
    if run.finished_at is None:
        return "running"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _scope(run: Any) -> str:
    scope = run.scope or {}
    systems, entities = scope.get("systems") or [], scope.get("entities") or []
    if not systems and not entities:
        parts = ["everything"]
    else:
        parts = [", ".join(systems) or "every system", ", ".join(entities) or "every entity"]
    if scope.get("full"):
        parts.append("full")
    if scope.get("record_ids"):
        parts.append(f"{sum(len(v) for v in scope['record_ids'].values())} records")
    return "; ".join(parts)


@runs_app.callback()
def _runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="At most this many, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Without a subcommand: the most recent runs (``runs list``)."""
    if ctx.invoked_subcommand is None:
        runs_list(limit=limit, status=None, trigger=None, json_output=json_output)


@runs_app.command("list")
def runs_list(
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="At most this many, newest first."),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    trigger: str | None = typer.Option(None, "--trigger", help="Only runs started this way (cli, schedule, replay...)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recent sync runs, newest first: status, trigger, duration, records read, written and failed."""
    from prm_sync.runtime import open_store
    from prm_sync.store import runs
    from prm_sync.store.runs import RunStatus, RunTrigger

    if status is not None and status not in RunStatus.__members__:
        msg = f"--status {status!r}: expected one of {', '.join(RunStatus.__members__)}"
        raise UsageError(msg)
    if trigger is not None and trigger not in RunTrigger.__members__:
        msg = f"--trigger {trigger!r}: expected one of {', '.join(RunTrigger.__members__)}"
        raise UsageError(msg)
    store = open_store(state.config())
    try:
        with store.session(readonly=True) as session:
            found = runs.list_runs(session, limit=limit, status=status, trigger=trigger)
    finally:
        store.close()
    if json_output:
        print_json([{**r.model_dump(mode="json"), "totals": _run_totals(r)} for r in found])
        return
    rows = []
    for run in found:
        totals = _run_totals(run)
        written = totals["created"] + totals["updated"] + totals["deleted"]
        rows.append((run.id, styled(run.status), run.trigger, when(run.started_at), _duration(run), totals["read"],
                     written, Text(str(totals["failed"]), style="bold red") if totals["failed"] else 0,
                     totals["api_calls"], _scope(run)))
    print_fitted(f"{len(found)} run{'s' if len(found) != 1 else ''}, newest first",
                 [Col("run"), Col("status"), Col("trigger", priority=3), Col("started", priority=1),
                  Col("took", priority=4), Col("read", priority=5, justify="right"), Col("written", justify="right"),
                  Col("failed", justify="right"), Col("api calls", priority=6, justify="right"),
                  Col("scope", wrap=True, min_width=14, priority=7)],
                 rows, caption="written: created, updated or deleted on either side, the PRM or a system; "
                 "one run in full: prm-sync runs show RUN")


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="A run id from `prm-sync runs`."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One run: its slices, rule decisions, unmatched records, error and the failed records it left open."""
    from prm_sync.runtime import open_store
    from prm_sync.store import failures, runs

    store = open_store(state.config())
    try:
        with store.session(readonly=True) as session:
            run = runs.get_run(session, run_id)
            left = [f for f in failures.list_failures(session, status="open") if f.run_id == run_id] if run else []
    finally:
        store.close()
    if run is None:
        msg = f"no run with id {run_id!r} (see `prm-sync runs`)"
        raise UsageError(msg)
    if json_output:
        print_json({**run.model_dump(mode="json"), "totals": _run_totals(run),
                    "open_failures": [f.id for f in left]})
        return
    console.print(Text.assemble(f"run {run.id}: ", styled(run.status),
                                f" ({run.trigger}; {_scope(run)}; started {when(run.started_at)}, took {_duration(run)}; "
                                f"mappings {run.mapping_version or '-'})"), highlight=False)
    if run.error:
        console.print(Padding(Text(run.error), (0, 0, 0, 2)), highlight=False)  # wrapped lines keep the indent
    slices = run.stats.get("slices") or []
    print_fitted(None, [Col("system"), Col("entity"), Col("read", justify="right"), Col("created", justify="right"),
                        Col("updated", justify="right"), Col("unchanged", priority=3, justify="right"),
                        Col("deleted", priority=4, justify="right"), Col("failed", justify="right"),
                        Col("api calls", priority=2, justify="right"), Col("quota", priority=5, justify="right"),
                        Col("stopped", wrap=True, min_width=16)],
                 [(s.get("system"), s.get("entity"), s.get("read", 0), s.get("created", 0), s.get("updated", 0),
                   s.get("unchanged", 0), s.get("deleted", 0),
                   Text(str(s.get("failed", 0)), style="bold red") if s.get("failed") else 0, s.get("api_calls", 0),
                   f"{100 * (s.get('quota_used') or 0) / s['quota_limit']:.0f}%" if s.get("quota_limit") else "-",
                   s.get("stopped_reason") or "") for s in slices])
    decisions = run.stats.get("rule_decisions") or {}
    if decisions:
        console.print("rules: " + ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())), markup=False)
    identity = identity_line(slices)
    if identity:
        console.print(identity, markup=False, highlight=False)
    for name, count in sorted((run.stats.get("unmatched") or {}).items()):
        console.print(f"unmatched {name}: {count}", markup=False)
    if left:
        console.print(f"{len(left)} failed record{'s' if len(left) != 1 else ''} from this run still open: "
                      f"{', '.join(str(f.id) for f in left[:20])}{' ...' if len(left) > 20 else ''}", markup=False)
        console.print("  $ prm-sync failures", markup=False)
