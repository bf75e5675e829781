"""``sync`` and ``demo``: running the engine from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.status import Status
from rich.text import Text

from prm_sync.cli.app import app
from prm_sync.cli.context import MAX_ID, state
from prm_sync.cli.output import Col, console, print_fitted, print_json, styled
from prm_sync.cli.progress import run_progress
from prm_sync.cli.report import notify
from prm_sync.cli.selection import check_names, check_selection
from prm_sync.exit_codes import for_run_status
from prm_sync.health.causes import parse_error
from prm_sync.health.observers import HealthChange
from prm_sync.sync.preview import RecordChange
from prm_sync.sync.stats import RunReport, identity_line

if TYPE_CHECKING:
    from prm_sync.webhooks.drain import InboxDrain



REPORT_COLUMNS = [
    Col("system"), Col("entity"), Col("read", justify="right"), Col("created", justify="right"),
    Col("updated", justify="right"), Col("unchanged", priority=3, justify="right"),
    Col("deleted", priority=4, justify="right"), Col("failed", justify="right"),
    Col("conflicts", priority=5, justify="right"), Col("api calls", priority=2, justify="right"),
    Col("stopped", wrap=True, min_width=16),
]
# a record pulled and then pushed has an outcome each way: 20 partners read can make 40 unchanged
REPORT_CAPTION = "counts cover both directions: into the PRM, and out to the system"


def print_report(report: RunReport) -> None:
    rows = [
        (s.system, s.entity, s.read, s.created, s.updated, s.unchanged, s.deleted,
         Text(str(s.failed), style="bold red") if s.failed else s.failed, s.conflicts, s.api_calls,
         s.stopped_reason or "")
        for s in report.slices
    ]
    title = Text.assemble(f"run {report.run_id}: ", styled(report.status),
                          " (dry run: nothing written)" if report.dry_run else "")
    stopped = any(s.stopped_reason for s in report.slices)  # the column only when a slice stopped
    print_fitted(None, REPORT_COLUMNS if stopped else REPORT_COLUMNS[:-1], rows if stopped else [r[:-1] for r in rows],
                 caption=REPORT_CAPTION)
    console.print(title, highlight=False)
    if report.error:
        console.print(f"  {report.error}", markup=False, highlight=False)
    if report.rule_decisions:
        console.print("rules: " + ", ".join(f"{k} {v}" for k, v in sorted(report.rule_decisions.items())))
    identity = identity_line(report.slices)
    if identity:
        console.print(identity, markup=False, highlight=False)
    if report.unmatched.get("lms_learners"):
        console.print(f"{report.unmatched['lms_learners']} LMS learners match no partner contact "
                      "(`prm-sync learners unmatched` lists them)", highlight=False)
    failures = [f for s in report.slices for f in s.failures]
    if failures:
        console.print(f"[yellow]{sum(s.failed for s in report.slices)} failed records[/]; first ones:")
        for f in failures[:5]:
            console.print(f"  {f.system}/{f.entity} {f.record_key}: {f.error_code}: "
                          f"{parse_error(f.error_code, f.message, f.fields).problem}", markup=False, highlight=False)
        console.print("grouped by cause, with the fix: `prm-sync failures`")


DIRECTION_STYLE = {"pull": "cyan", "rule": "magenta", "push": "green"}
DIRECTION_WORDS = {"pull": "into the PRM store from", "rule": "the channel rules", "push": "to"}


def print_preview(changes: list[RecordChange], omitted: dict[str, int]) -> None:
    """A dry run's changes, record by record, field by field: pulled, decided by the rules, pushed."""
    if not changes:
        console.print("nothing would change")
        return
    console.print("[bold]what would change[/] (dry run: nothing written, no cursor moved)", highlight=False)
    for change in changes:
        where = f"{change.system}/{change.entity}" if change.system else change.entity
        ids = change.record_id + (f" ({change.remote_id})" if change.remote_id else "")
        head = Text.assemble((change.direction, DIRECTION_STYLE[change.direction]), f" {where} {ids}: {change.action}")
        if change.rule:
            head.append(f" [{change.rule}]")
        console.print(head, highlight=False)
        if change.reason:
            console.print(f"    because {change.reason}", markup=False, highlight=False)
        for field in change.changes:
            console.print(f"    {field.field}: {field.before!r} -> {field.after!r}", markup=False, highlight=False)
    for key, count in sorted(omitted.items()):
        console.print(f"  ... and {count} more {key} (--sample to see more, --json for scripts)", markup=False,
                      highlight=False)


@app.command()
def sync(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these systems (repeatable)."),
    entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these entities (repeatable)."),
    full: bool = typer.Option(False, "--full", help="Ignore cursors and re-read everything."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run it in a transaction that is rolled back: per-record, per-field changes both "
        "ways and the rules' decisions; nothing written anywhere, no cursor moved."),
    sample: int = typer.Option(50, "--sample", min=1, max=100_000, help="With --dry-run: records shown per step."),
    json_output: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
) -> None:
    """Sync the PRM store with every configured system, both ways, pending webhook events first (exit codes: the
    README's table)."""
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.engine import SyncScope

    check_names(system, entity)
    from prm_sync.webhooks.drain import drain_inbox

    runtime = open_runtime(state.config())
    drained = None
    try:
        check_selection(runtime.mappings, runtime.config.systems.enabled(), system, entity)
        engine = runtime.engine(system or None)
        scope = SyncScope(systems=system or None, entities=entity or None, full=full)
        # webhook events first (a plain sync only: a --system/--entity run is about that slice)
        take_inbox = not dry_run and not system and not entity
        if json_output:
            drained = drain_inbox(runtime) if take_inbox else None
            report = engine.run(scope, dry_run=dry_run, preview_sample=sample)
        else:
            with run_progress("dry run" if dry_run else "sync") as on_event:
                drained = drain_inbox(runtime, progress=on_event) if take_inbox else None
                report = engine.run(scope, dry_run=dry_run, progress=on_event, preview_sample=sample)
        if not dry_run:
            inbox_runs = [drained.report.run_id] if drained is not None and drained.report is not None else []
            notify(runtime.config, runtime.store, HealthChange(
                kind="run", slices=[(s.system, s.entity) for s in report.slices], run_ids=[*inbox_runs, report.run_id]))
    finally:
        runtime.close()
    if json_output:
        print_json({**report.model_dump(mode="json"),
                    **({"inbox": drained.model_dump(mode="json")} if drained is not None else {})})
    else:
        if drained is not None:
            print_drain(drained)
        print_report(report)
        if report.preview is not None:
            print_preview(report.preview.changes, report.preview.omitted)
    statuses = [report.status] + ([drained.report.status] if drained is not None and drained.report else [])
    code = max(for_run_status(s) for s in statuses)  # for runs a higher code is the worse outcome
    if code:
        raise typer.Exit(code)


def print_drain(drained: InboxDrain) -> None:
    """The targeted run webhook events caused, before the run that followed."""
    targets = ", ".join(f"{entity} {count}" for entity, count in drained.targets.items()) or "nothing mapped"
    console.print(f"inbox: {drained.events} change notification{'s' if drained.events != 1 else ''} "
                  f"-> targeted sync of {targets}", highlight=False)
    if drained.report is not None:
        print_report(drained.report)


@app.command()
def demo(
    seed: int = typer.Option(7, "--seed", min=0, max=MAX_ID, help="Seed of the demo data generator."),
    scale: float = typer.Option(1.0, "--scale", min=0.01, max=20.0, help="Demo size (1.0: about 200 partners, 5,000 deals)."),
    config: Path | None = typer.Option(
        None, "--demo-config", help="Configuration the demo uses (default: the shipped config/demo.yaml)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Start the sandboxes, seed them, sync both ways, play a day of business, and show what the systems hold."""
    from prm_sync.demo import run_demo
    from prm_sync.demo_outcomes import outcome_lines

    if json_output:
        summary = run_demo(config, seed=seed, scale=scale, report=notify)
        print_json(summary.model_dump(mode="json"))
        return
    with Status("starting", console=console) as status:
        summary = run_demo(config, seed=seed, scale=scale, progress=lambda m: status.update(m), report=notify)
    console.print(f"[bold]prm-sync demo[/]: seeded {', '.join(f'{k} {v}' for k, v in summary.seeded.items())}")
    for index, run in enumerate(summary.runs, start=1):
        rows = [(s["system"], s["entity"], s["read"], s["created"], s["updated"], s["unchanged"], s["deleted"],
                 s["failed"], s["conflicts"], s["api_calls"]) for s in run["slices"]]
        console.print(Text.assemble(f"sync {index} ({run['run_id']}): ", styled(run["status"])), highlight=False)
        print_fitted(None, REPORT_COLUMNS[:-1], rows, caption=REPORT_CAPTION if index == len(summary.runs) else None)
    if summary.rule_decisions:
        console.print("channel rules: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.rule_decisions.items())))
    console.print("[bold]what Salesforce, HubSpot and the ERP hold now[/] (read back through the connectors):")
    for line in outcome_lines(summary.outcomes):
        console.print(line, markup=False, highlight=False)
    console.print(f"open failed records: {summary.open_failures}")
    console.print("[bold]where to look next[/] (in this shell):")
    for step in summary.next_steps:  # never broken by the console: a command must paste as one line
        console.print(f"  {step}", markup=False, highlight=False, soft_wrap=True)
