"""``adopt`` and ``import``: bringing an existing partner base under prm-sync.

``adopt`` plans who every CRM partner record is (linked, matched by PRM id or
natural key, new, or ambiguous), prints the plan, and unless ``--dry-run``
applies it with a full sync of the entity, which writes the PRM ids back.
``import`` loads partners, contacts and registrations from CSV files, all or
nothing. ``unmatched`` lists what the sync could not tie to a PRM record.
"""

from __future__ import annotations

from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import Col, console, print_fitted, print_json
from prm_sync.cli.report import notify_runs

ADOPTABLE = ("partner", "partner_contact", "deal_registration")


@app.command()
def adopt(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these CRMs (repeatable)."),
    entity: str = typer.Option("partner", "--entity", "-e", help="What to adopt: partner (default), partner_contact, "
                                                                  "deal_registration."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan only; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print the plan (and the run) as JSON."),
) -> None:
    """Match an existing org's CRM records to PRM records, create the missing ones, write the PRM ids back."""
    from prm_sync.errors import UsageError
    from prm_sync.mapping.policies import keyed_by_us
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.adopt import ACTIONS, plan_adoption
    from prm_sync.sync.engine import SyncScope
    from prm_sync.sync.slice import Slice

    if entity not in ADOPTABLE:
        msg = f"cannot adopt {entity!r}: choose one of {', '.join(ADOPTABLE)}"
        raise UsageError(msg)
    runtime = open_runtime(state.config())
    try:
        enabled = runtime.config.systems.enabled()
        systems = [s for s in runtime.mappings.systems_for(entity) if s in (system or enabled)
                   and keyed_by_us(runtime.mappings.for_entity(s, entity).spec)]  # type: ignore[union-attr]
        if not systems:
            msg = f"no configured system maps {entity} by our id{' among ' + ', '.join(system) if system else ''}"
            raise UsageError(msg)
        connectors = runtime.connectors(systems)
        slices = [Slice.of(runtime.mappings.for_entity(s, entity)) for s in systems]  # type: ignore[arg-type]
        plan = plan_adoption(runtime.store, slices, connectors)
        report = None
        if not dry_run:
            report = runtime.engine(systems).run(SyncScope(systems=systems, entities=[entity], full=True),
                                                 trigger="adopt")
            notify_runs(runtime.config, runtime.store, [report.run_id])
    finally:
        runtime.close()
    if json_output:
        print_json({"plan": plan.model_dump(mode="json"), "counts": plan.counts(),
                    "run": report.model_dump(mode="json") if report else None})
        return
    rows = [(r.remote_id, r.summary, ACTIONS.get(r.action, r.action), r.record_id or "", r.system, r.detail)
            for r in plan.rows]
    console.print(f"adoption plan: {entity}{' (dry run: nothing written)' if dry_run else ''}", highlight=False)
    print_fitted(None, [Col("remote id"), Col("name", wrap=True, min_width=16), Col("action"),
                        Col("PRM id", priority=2), Col("system", priority=3), Col("why", wrap=True, min_width=20)],
                 rows)
    for key, counts in plan.counts().items():
        console.print(f"{key}: " + ", ".join(f"{ACTIONS.get(k, k)} {v}" for k, v in sorted(counts.items())),
                      highlight=False)
    if plan.for_review:
        many = len(plan.for_review) != 1
        console.print(f"[yellow]{len(plan.for_review)} record{'s' if many else ''} need{'' if many else 's'} a "
                      "person[/] (ambiguous or taken); after the run `prm-sync unmatched` lists "
                      f"{'them' if many else 'it'}", highlight=False)
    if report is not None:
        totals = report.totals()
        console.print(f"run {report.run_id}: {report.status}; adopted {totals['adopted']}, created "
                      f"{totals['created']}, updated {totals['updated']}, unmatched {totals['unmatched']}, "
                      f"failed {totals['failed']}")


@app.command("unmatched")
def unmatched(
    system: str = typer.Option(None, "--system", "-s", help="Only this system."),
    entity: str = typer.Option(None, "--entity", "-e", help="Only this entity."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remote records the sync could not tie to a PRM record (no PRM id under on_unmatched: report, or ambiguous)."""
    from prm_sync.runtime import open_store
    from prm_sync.store import identity

    store = open_store(state.config())
    with store.session(readonly=True) as session:
        rows = identity.list_unmatched(session, system=system, entity=entity)
    if json_output:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    console.print(f"{len(rows)} unmatched remote record{'s' if len(rows) != 1 else ''} (waiting for a person: "
                  "merge the duplicates in the CRM, or give the record its PRM id)", highlight=False)
    if rows:
        print_fitted(None, [Col("system/entity", priority=3), Col("remote id"), Col("name", wrap=True, min_width=16),
                            Col("reason", priority=2), Col("detail", wrap=True, min_width=20)],
                     [(f"{r.system}/{r.entity}", r.remote_id, r.summary or "", r.reason, r.detail or "") for r in rows])


@app.command("import")
def import_csv(
    partners: Path = typer.Option(None, "--partners", help="CSV of partners (columns: partner fields)."),
    contacts: Path = typer.Option(None, "--contacts", help="CSV of partner contacts (partner_id or partner_domain/"
                                                            "partner_name)."),
    registrations: Path = typer.Option(None, "--registrations", help="CSV of deal registrations."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    encoding: str | None = typer.Option(None, "--encoding", help="The files' encoding (default: from a byte-order "
                                        "mark, else UTF-8), e.g. latin-1, cp1252, utf-16."),
) -> None:
    """Load partners, contacts and registrations from CSV into the PRM store: every row valid, or nothing written."""
    from prm_sync.errors import UsageError
    from prm_sync.imports import run_import
    from prm_sync.runtime import open_store

    files = {e: p for e, p in (("partner", partners), ("partner_contact", contacts),
                               ("deal_registration", registrations)) if p is not None}
    if not files:
        msg = "nothing to import: give --partners, --contacts and/or --registrations"
        raise UsageError(msg)
    summary = run_import(open_store(state.config()), files, dry_run=dry_run, actor="prm-sync import",
                         encoding=encoding)
    if json_output:
        print_json(summary.model_dump(mode="json"))
        return
    for entity in files:
        console.print(f"{entity}: {summary.rows.get(entity, 0)} rows; created {summary.created.get(entity, 0)}, "
                      f"updated {summary.updated.get(entity, 0)}, unchanged {summary.unchanged.get(entity, 0)}"
                      f"{' (dry run: nothing written)' if dry_run else ''}")
    if not dry_run:
        console.print("the next `prm-sync sync` writes them to the CRMs")
