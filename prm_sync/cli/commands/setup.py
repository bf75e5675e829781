"""``setup``: create the custom fields, properties and objects the mappings need in each CRM.

The plan is printed first (a table that fits 80 columns: system, what, name,
detail); ``--dry-run`` stops there. Each item then reports its own outcome,
and the exit code says how it went as a whole (``prm_sync.exit_codes``): 0
when everything planned was created (or nothing was missing), 6 (partial)
when some items failed, 7 when none could be created.
"""

from __future__ import annotations

import typer
from rich.text import Text

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import Col, console, print_fitted, print_json, styled
from prm_sync.exit_codes import ExitCode

_KIND = {"object": "object", "field": "field", "access": "field access", "schema": "object", "group": "group",
         "property": "property", "label": "assoc. label", "permission set": "permission set"}


def _rows(plan, *, applied: bool) -> list[tuple]:
    rows = []
    for item in plan.items:
        detail = item.message if applied and item.message else item.summary
        outcome = styled(item.outcome) if applied else Text(item.action)
        rows.append((item.system, _KIND.get(item.kind, item.kind), item.label, outcome, detail))
    return rows


@app.command()
def setup(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these CRMs (repeatable): salesforce, hubspot."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan only; create nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print the plan and each item's outcome as JSON."),
) -> None:
    """Create what each CRM lacks for the mappings: custom objects and fields, properties, groups, labels."""
    from prm_sync.errors import UsageError
    from prm_sync.mapping.apply import load_mappings
    from prm_sync.setup import SETUP_SYSTEMS, run_setup
    from prm_sync.sync.connections import build_connectors

    config = state.config()
    enabled = [s for s in config.systems.enabled() if s in SETUP_SYSTEMS]
    unknown = [s for s in system or [] if s not in SETUP_SYSTEMS]
    if unknown:
        msg = f"setup knows {', '.join(SETUP_SYSTEMS)}; not {', '.join(unknown)}"
        raise UsageError(msg)
    chosen = [s for s in enabled if not system or s in system]
    if not chosen:
        msg = "no CRM to set up: enable salesforce or hubspot under `systems:` in the config"
        raise UsageError(msg)
    mappings = load_mappings(config.mappings)
    connectors = build_connectors(config, chosen)
    permission_set = config.systems.salesforce.permission_set if config.systems.salesforce else None

    def show(plan) -> None:
        if json_output:
            return
        if plan.empty:
            checked = ", ".join(f"{n} {s} items" for s, n in plan.checked.items())
            console.print(f"[green]nothing to create[/]: every item the mappings need exists ({checked})",
                          highlight=False)
            return
        cols = [Col("system", priority=3), Col("kind", priority=2), Col("name"), Col("action"),
                Col("detail", wrap=True, min_width=20)]
        grants = sum(1 for i in plan.items if i.action == "grant")
        what = f"{len(plan.items) - grants} to create, {grants} to grant" if grants else f"{len(plan.items)} to create"
        print_fitted(f"setup plan: {len(plan.items)} items ({what})", cols, _rows(plan, applied=False))

    plan = run_setup(mappings, connectors, dry_run=dry_run, permission_set=permission_set, before_apply=show)
    if dry_run or plan.empty:
        if json_output:
            print_json({"dry_run": dry_run, "empty": plan.empty, "items": [i.model_dump() for i in plan.items]})
        return
    code = plan.exit_code()
    if json_output:
        print_json({"dry_run": False, "empty": plan.empty, "counts": plan.counts(),
                    "items": [i.model_dump() for i in plan.items], "exit_code": int(code)})
    else:
        done = [r for r, i in zip(_rows(plan, applied=True), plan.items, strict=True)
                if i.outcome != "created" or i.message]
        counts = plan.counts()
        if done:
            cols = [Col("system", priority=3), Col("kind", priority=2), Col("name"), Col("outcome"),
                    Col("detail", wrap=True, min_width=20)]
            print_fitted("items not created, or created with a note", cols, done)
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        colour = "green" if code == ExitCode.OK else "red"
        console.print(f"[{colour}]setup[/]: {summary}", highlight=False)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))
