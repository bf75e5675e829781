"""``conflicts check|show`` and ``registrations``: the channel manager's commands.

``conflicts check`` runs the conflict check over a CSV of registrations
before anything reaches the store (a partner's batch, or threshold tuning);
``conflicts show`` prints a registration's checks with the full reasons (the
records matched, their partners, the evidence), which the CRMs never get;
``registrations approve|reject|extend|override|dispute`` records one
decision through the lifecycle, so an illegal move is refused with the moves
that are allowed, and the linked opportunity is updated for the next sync.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_table
from prm_sync.model import RegistrationStatus

conflicts_app = typer.Typer(help="Conflict checks of deal registrations.", no_args_is_help=True)
registrations_app = typer.Typer(help="Channel-manager decisions on deal registrations.", no_args_is_help=True)
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(registrations_app, name="registrations")


@conflicts_app.command("check")
def check(
    registrations: Path = typer.Option(..., "--registrations", "-r", help="CSV of registrations to check, in submission order."),
    accounts: Path | None = typer.Option(None, "--accounts", "-a", help="CSV of existing accounts to check against."),
    against_store: bool = typer.Option(False, "--against-store", help="Also check against the PRM store's registrations, open deals and customers."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per registration."),
    encoding: str | None = typer.Option(None, "--encoding", help="The files' encoding (default: from a byte-order "
                                        "mark, else UTF-8), e.g. latin-1, cp1252, utf-16."),
) -> None:
    """Check a CSV of registrations against each other, an accounts CSV and optionally the store.

    Columns: id, company_name, domain, email, street, city, country, phone, product.
    A malformed file exits 2 naming every bad line.
    """
    from prm_sync.rules.csvcheck import check_csv

    config = state.config()
    rules = config.rules.conflict
    if against_store:
        from prm_sync.rules.account_index import refresh_index
        from prm_sync.runtime import open_store

        store = open_store(config)
        try:
            with store.session() as session:
                refresh_index(session, rules)  # the stored account index catches up first
            with store.session(readonly=True) as session:
                rows = check_csv(registrations, accounts, session, rules, encoding=encoding)
        finally:
            store.close()
    else:
        rows = check_csv(registrations, accounts, None, rules, encoding=encoding)
    if json_output:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    table = [(r.id, r.decision, f"{r.score:.1f}", ", ".join(r.matched_ids), r.reasons[0] if r.reasons else "")
             for r in rows]
    print_table(f"conflict check of {registrations.name}", ["id", "decision", "score", "matches", "reason"], table)
    flagged = sum(1 for r in rows if r.decision != "clear")
    console.print(f"{len(rows)} registrations: {flagged} flagged (conflict or review), {len(rows) - flagged} clear")


@conflicts_app.command("show")
def show(
    registration_id: str = typer.Argument(..., metavar="ID", help="PRM id of the registration."),
    history: int = typer.Option(5, "--history", min=1, max=1000, help="How many checks to show, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """A registration's conflict checks with the full reasons and matches (for admins, not partners).

    The registration in Salesforce and HubSpot carries only the partner
    notice; which registration, partner or direct deal matched is here.
    """
    from prm_sync.errors import UsageError
    from prm_sync.runtime import open_store
    from prm_sync.store.conflicts import conflict_checks

    config = state.config()
    store = open_store(config)
    try:
        with store.session(readonly=True) as session:
            checks = conflict_checks(session, registration_id, limit=history)
    finally:
        store.close()
    if not checks:
        msg = f"no conflict check recorded for registration {registration_id!r}"
        raise UsageError(msg)
    if json_output:
        print_json([c.model_dump(mode="json") for c in checks])
        return
    for c in checks:
        console.print(f"{c.checked_at.isoformat(timespec='seconds')}  {c.decision}  score {c.score or 0:.1f}",
                      markup=False, highlight=False)
        for reason in c.reasons:
            console.print(f"  - {reason}", markup=False, highlight=False)
        rows = [(m.get("kind"), m.get("record_id"), m.get("partner_id") or "", m.get("score"),
                 ", ".join(m.get("matched_fields") or [])) for m in c.matches]
        if rows:
            print_table("matches", ["kind", "record", "partner", "score", "fields"], rows)


def _decide(action: str, registration_id: str, reason: str, actor: str | None, to: RegistrationStatus | None,
            json_output: bool) -> None:
    from prm_sync.rules.actions import apply_action
    from prm_sync.runtime import open_store

    config = state.config()
    store = open_store(config)
    try:
        with store.session() as session:
            result = apply_action(session, action, registration_id, actor=actor or f"cli:{getpass.getuser()}",
                                  reason=reason, now=datetime.now(UTC), rules=config.rules, to=to)
    finally:
        store.close()
    reg = result.registration
    if json_output:
        print_json({"id": reg.id, "from": result.previous_status, "to": reg.status, "approved_at": reg.approved_at,
                    "expires_at": reg.expires_at, "opportunity_id": reg.opportunity_id,
                    "opportunity_updated": result.opportunity_updated})
        return
    line = f"registration {reg.id}: {result.previous_status} -> {reg.status}"
    if reg.expires_at is not None and reg.status == RegistrationStatus.approved:
        line += f", protected until {reg.expires_at.isoformat(timespec='minutes')}"
    if result.opportunity_updated:
        line += f"; opportunity {reg.opportunity_id} updated, the next sync shows it in the CRM"
    console.print(line, markup=False, highlight=False)


REASON = typer.Option(..., "--reason", help="Why (kept in the audit log; required).")
ACTOR = typer.Option(None, "--actor", help="Who decides (default: cli:<login name>).")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


@registrations_app.command("approve")
def approve(registration_id: str = typer.Argument(..., metavar="ID"), reason: str = REASON, actor: str | None = ACTOR,
            json_output: bool = JSON) -> None:
    """Approve a submitted or under-review registration; starts its protection window."""
    _decide("approve", registration_id, reason, actor, None, json_output)


@registrations_app.command("reject")
def reject(registration_id: str = typer.Argument(..., metavar="ID"), reason: str = REASON, actor: str | None = ACTOR,
           json_output: bool = JSON) -> None:
    """Reject a submitted or under-review registration."""
    _decide("reject", registration_id, reason, actor, None, json_output)


@registrations_app.command("extend")
def extend(registration_id: str = typer.Argument(..., metavar="ID"), reason: str = REASON, actor: str | None = ACTOR,
           json_output: bool = JSON) -> None:
    """Extend an approved registration's protection window (within the configured limit)."""
    _decide("extend", registration_id, reason, actor, None, json_output)


@registrations_app.command("override")
def override(registration_id: str = typer.Argument(..., metavar="ID"),
             to: RegistrationStatus = typer.Option(..., "--to", help="The status to set, outside the transition table."),
             reason: str = REASON, actor: str | None = ACTOR, json_output: bool = JSON) -> None:
    """Set any status (audited as an override; the reason is mandatory)."""
    _decide("override", registration_id, reason, actor, to, json_output)


@registrations_app.command("dispute")
def dispute(registration_id: str = typer.Argument(..., metavar="ID"), reason: str = REASON, actor: str | None = ACTOR,
            json_output: bool = JSON) -> None:
    """A partner contests a rejection or conflict: back to review, queued for a person."""
    _decide("dispute", registration_id, reason, actor, None, json_output)
