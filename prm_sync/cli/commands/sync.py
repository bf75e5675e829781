"""``sync`` and ``demo``: running the engine from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.status import Status

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_table
from prm_sync.sync.stats import RunReport

if TYPE_CHECKING:
    from prm_sync.webhooks.drain import InboxDrain

SYSTEM_NAMES = ("salesforce", "hubspot", "lms", "erp")


def print_report(report: RunReport) -> None:
    rows = [
        (s.system, s.entity, s.read, s.created, s.updated, s.unchanged, s.deleted, s.failed, s.conflicts, s.api_calls,
         s.stopped_reason or "")
        for s in report.slices
    ]
    title = f"run {report.run_id}: {report.status}{' (dry run: nothing written)' if report.dry_run else ''}"
    print_table(title, ["system", "entity", "read", "created", "updated", "unchanged", "deleted", "failed",
                        "conflicts", "api calls", "stopped"], rows)
    if report.rule_decisions:
        console.print("rules: " + ", ".join(f"{k} {v}" for k, v in sorted(report.rule_decisions.items())))
    if report.unmatched.get("lms_learners"):
        console.print(f"{report.unmatched['lms_learners']} LMS learners match no partner contact "
                      "(`prm-sync learners unmatched` lists them)", highlight=False)
    failures = [f for s in report.slices for f in s.failures]
    if failures:
        console.print(f"[yellow]{sum(s.failed for s in report.slices)} failed records[/]; first ones:")
        for f in failures[:5]:
            console.print(f"  {f.system}/{f.entity} {f.record_key}: {f.error_code}: {f.message}", markup=False)
        console.print("see them all with `prm-sync failures list`")


@app.command()
def sync(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these systems (repeatable)."),
    entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these entities (repeatable)."),
    full: bool = typer.Option(False, "--full", help="Ignore cursors and re-read everything."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan the run and show what would change; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
) -> None:
    """Sync the PRM store with every configured system, both ways (pending webhook events first)."""
    from prm_sync.errors import UsageError
    from prm_sync.model import ENTITIES
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.engine import SyncScope

    bad = [s for s in system or [] if s not in SYSTEM_NAMES] + [e for e in entity or [] if e not in ENTITIES]
    if bad:
        msg = f"unknown system or entity: {', '.join(bad)} (systems: {', '.join(SYSTEM_NAMES)}; entities: {', '.join(ENTITIES)})"
        raise UsageError(msg)
    from prm_sync.webhooks.drain import drain_inbox

    runtime = open_runtime(state.config())
    drained = None
    try:
        engine = runtime.engine(system or None)
        scope = SyncScope(systems=system or None, entities=entity or None, full=full)
        # webhook events first (a plain sync only: a --system/--entity run is about that slice)
        take_inbox = not dry_run and not system and not entity
        if json_output:
            drained = drain_inbox(runtime) if take_inbox else None
            report = engine.run(scope, dry_run=dry_run)
        else:
            with Status("starting", console=console) as status:
                drained = drain_inbox(runtime, progress=lambda m: status.update(f"inbox: {m}")) if take_inbox else None
                report = engine.run(scope, dry_run=dry_run, progress=lambda m: status.update(m))
    finally:
        runtime.close()
    if json_output:
        print_json({**report.model_dump(mode="json"),
                    **({"inbox": drained.model_dump(mode="json")} if drained is not None else {})})
    else:
        if drained is not None:
            print_drain(drained)
        print_report(report)
    if report.status == "partial" or (drained is not None and drained.report and drained.report.status == "partial"):
        raise typer.Exit(3)


def print_drain(drained: InboxDrain) -> None:
    """The targeted run webhook events caused, before the run that followed."""
    targets = ", ".join(f"{entity} {count}" for entity, count in drained.targets.items()) or "nothing mapped"
    console.print(f"inbox: {drained.events} change notification{'s' if drained.events != 1 else ''} "
                  f"-> targeted sync of {targets}", highlight=False)
    if drained.report is not None:
        print_report(drained.report)


@app.command()
def demo(
    seed: int = typer.Option(7, "--seed", help="Seed of the demo data generator."),
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
        summary = run_demo(config, seed=seed, scale=scale)
        print_json(summary.model_dump(mode="json"))
        return
    with Status("starting", console=console) as status:
        summary = run_demo(config, seed=seed, scale=scale, progress=lambda m: status.update(m))
    console.print(f"[bold]prm-sync demo[/]: seeded {', '.join(f'{k} {v}' for k, v in summary.seeded.items())}")
    for index, run in enumerate(summary.runs, start=1):
        rows = [(s["system"], s["entity"], s["read"], s["created"], s["updated"], s["unchanged"], s["deleted"],
                 s["failed"], s["conflicts"], s["api_calls"]) for s in run["slices"]]
        print_table(f"sync {index} ({run['run_id']}): {run['status']}",
                    ["system", "entity", "read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "api calls"], rows)
    if summary.rule_decisions:
        console.print("channel rules: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.rule_decisions.items())))
    console.print("[bold]what Salesforce, HubSpot and the ERP hold now[/] (read back through the connectors):")
    for line in outcome_lines(summary.outcomes):
        console.print(line, markup=False, highlight=False)
    console.print(f"open failed records: {summary.open_failures}")
    console.print("[bold]where to look next[/]:")
    for step in summary.next_steps:
        console.print(f"  {step}", markup=False, highlight=False)
