"""The engine hook: apply every channel rule once per run, between pulls and pushes.

Order matters: learners resolved to their partner contacts first (whose
certification is it?), then certifications (the registration gate reads them), then
status changes pulled from a CRM through the lifecycle (an approval there
starts the protection window; an illegal move is undone), the gate and
conflict checks, expiry, linking approved registrations to their customer's
open opportunity, closures and attribution, write-back of registration state
onto opportunities (so the push that follows carries it to both CRMs), tiers,
and payouts. Counts go into ``report.rule_decisions``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import DealRegistration, RegistrationStatus
from prm_sync.rules.attribution import attribute_opportunity, closure_id, write_back
from prm_sync.rules.certifications import apply_tier, issue_certifications, refresh_statuses
from prm_sync.rules.conflict import check_registrations
from prm_sync.rules.crm_moves import apply_crm_moves
from prm_sync.rules.learners import count_unmatched_learners, resolve_learners
from prm_sync.rules.lifecycle import apply_certification_gate, expire_due
from prm_sync.rules.linking import link_registrations
from prm_sync.rules.payouts import compute_payouts, link_invoices_to_new_deals, period_of, settle_invoices
from prm_sync.store.orm import (
    ClosureRow,
    ConflictCheckRow,
    DealRegistrationRow,
    InvoiceRow,
    OpportunityRow,
    PartnerRow,
    PaymentRow,
)
from prm_sync.store.records import list_records

if TYPE_CHECKING:  # the engine imports connectors; the rules must load without them
    from prm_sync.sync.context import RunContext
    from prm_sync.sync.stats import RunReport

CHECKABLE = [RegistrationStatus.submitted.value, RegistrationStatus.under_review.value]


def _unchecked_registrations(session: Session) -> set[str]:
    checked = select(ConflictCheckRow.registration_id)
    query = select(DealRegistrationRow.id).where(DealRegistrationRow.status.in_(CHECKABLE), DealRegistrationRow.id.not_in(checked))
    return set(session.scalars(query))


def _opportunities_to_attribute(session: Session, pulled: set[str]) -> list[str]:
    """Pulled opportunities that are closed, or that reopened with a closure on record."""
    if not pulled:
        return []
    rows = session.execute(select(OpportunityRow.id, OpportunityRow.is_closed).where(OpportunityRow.id.in_(pulled))).all()
    closures = set(session.scalars(select(ClosureRow.id).where(ClosureRow.id.in_([closure_id(i) for i, _ in rows]))))
    return sorted(i for i, closed in rows if closed or closure_id(i) in closures)


def _touched_invoices(session: Session, pulled: dict[str, set[str]]) -> set[str]:
    """Invoices (and credit notes) pulled this run, or paid or refunded by a payment pulled this run."""
    invoices = set(pulled.get("invoice", set()))
    payments = pulled.get("payment", set())
    if payments:
        invoices |= set(session.scalars(select(PaymentRow.invoice_id).where(PaymentRow.id.in_(payments))))
    return invoices


def _paid_opportunities_changed(session: Session, invoices: set[str]) -> bool:
    if not invoices:
        return False
    return session.scalar(select(InvoiceRow.id).where(InvoiceRow.id.in_(invoices), InvoiceRow.opportunity_id.is_not(None)).limit(1)) is not None


def apply_rules_in_session(session: Session, rules: RulesConfig, pulled: dict[str, set[str]], *, now: datetime, run_id: str | None) -> Counter[str]:
    """Every rule over one session; the counts the run report shows."""
    counts: Counter[str] = Counter()
    counts.update(resolve_learners(session, now=now, run_id=run_id))  # before anything counts certified people
    completions = pulled.get("course_completion", set())
    if completions:
        counts["certified"] += len(issue_certifications(session, sorted(completions), rules.certification, now, run_id=run_id))
    counts["certification_status"] += refresh_statuses(session, rules.certification, now, run_id=run_id)

    pulled_regs = set(pulled.get("deal_registration", set()))
    for move in apply_crm_moves(session, pulled_regs, rules.protection, now, run_id=run_id):
        counts["crm_" + move.after if move.accepted else "transition_rejected"] += 1

    to_check = pulled_regs | _unchecked_registrations(session)
    regs = [r for r in list_records(session, DealRegistration.entity, ids=sorted(to_check)) if isinstance(r, DealRegistration)]
    checkable = []
    for reg in regs:
        if apply_certification_gate(session, reg, rules.certification, now, run_id=run_id):
            counts["returned"] += 1
        elif reg.status in CHECKABLE:
            checkable.append(reg.id)
    for result in check_registrations(session, checkable, rules.conflict, now, run_id=run_id).values():
        counts[result.decision] += 1

    expired = expire_due(session, now, run_id=run_id)
    counts["expired"] += len(expired)

    for link in link_registrations(session, rules, now, registration_ids=to_check, run_id=run_id,
                                   opportunity_ids=pulled.get("opportunity", set())):
        if link.action != "no_match":
            counts[link.action] += 1

    attributions_changed = False
    for opp_id in _opportunities_to_attribute(session, pulled.get("opportunity", set())):
        outcome = attribute_opportunity(session, opp_id, rules, now, run_id=run_id)
        if outcome.action in {"attributed", "reversed", "lost"}:
            counts[outcome.action] += 1
            attributions_changed |= outcome.action == "attributed" or outcome.reversed > 0

    linked = set(session.scalars(select(DealRegistrationRow.opportunity_id).where(
        DealRegistrationRow.id.in_(to_check | set(expired)), DealRegistrationRow.opportunity_id.is_not(None))))
    linked |= set(session.scalars(select(OpportunityRow.id).where(
        OpportunityRow.id.in_(pulled.get("opportunity", set())), OpportunityRow.registration_id.is_not(None))))
    counts["written_back"] += sum(write_back(session, opp_id, now, run_id=run_id) for opp_id in sorted(linked))

    for partner_id in session.scalars(select(PartnerRow.id)).all():
        decision = apply_tier(session, partner_id, now, rules.tiers, run_id=run_id)
        counts["tier_changes"] += decision.new_tier != decision.current

    invoices = _touched_invoices(session, pulled)
    relinked = link_invoices_to_new_deals(session, pulled.get("opportunity", set()), now, run_id=run_id)
    counts["invoices_linked"] += len(relinked)
    invoices |= relinked
    counts["invoices_settled"] += settle_invoices(session, invoices, now, run_id=run_id)
    # a deal the ERP already collected on can be marked won in its CRM later (or synced after the ERP), or
    # won and then lost: its attribution changes what is earned, so the payouts are recomputed then too
    if attributions_changed or _paid_opportunities_changed(session, invoices):
        counts["payouts"] += len(compute_payouts(session, period_of(now), now, run_id=run_id))
    return +counts


def apply_rules(ctx: RunContext, report: RunReport) -> None:
    """``SyncEngine.rule_hooks`` entry: one transaction, counts merged into the report.

    The rules read and write across slices (registrations, opportunities,
    partners' tiers, payouts), so two runs of different slices going at once
    take turns here (a turn on every entity) instead of both deciding the
    same conflict or payout.
    """
    with ctx.transaction(every_entity=True) as session:
        counts = apply_rules_in_session(session, ctx.config.rules, ctx.pulled, now=ctx.clock(), run_id=ctx.run_id)
        unmatched = count_unmatched_learners(session)
    for key, value in counts.items():
        report.rule_decisions[key] = report.rule_decisions.get(key, 0) + value
    if unmatched:
        report.unmatched["lms_learners"] = unmatched
