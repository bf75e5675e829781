"""Closures and partner attribution when an opportunity closes, and CRM write-back.

A closure is keyed by its opportunity (one per opportunity, id derived from
it) and attributions are created only when the closure has none live, so a
deal synced ten times is attributed once. A reopened deal reverses its
attributions (``reversed=True``, never deleted: payouts already computed on
them must be clawed back, not rewritten). Splits come from the partner's
tier, else the default, and are scaled down together if they add up past 100 %.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import (
    Attribution,
    AttributionRole,
    Closure,
    ClosureOutcome,
    DealRegistration,
    EndCustomer,
    Opportunity,
    Partner,
    PartnerType,
    RegistrationStatus,
    new_id,
)
from prm_sync.rules.lifecycle import transition
from prm_sync.rules.normalize import profile
from prm_sync.rules.recording import RULES_ACTOR, changed_fields, record_decision
from prm_sync.store.orm import AttributionRow, DealRegistrationRow
from prm_sync.store.records import get_record, save_record, to_record

CENT = Decimal("0.01")
FULFILLERS = {PartnerType.reseller, PartnerType.distributor}
WRITEBACK = ["registration_id", "registered_partner_id", "registration_status", "protection_expires_at",
             "partner_tier", "attribution_summary", "conflict_status"]


@dataclass
class AttributionOutcome:
    opportunity_id: str
    action: str  # attributed | unchanged | reversed | lost | none
    closure_id: str | None = None
    attributions: list[Attribution] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    reversed: int = 0  # attributions reversed by this call (reopened, or won then lost): payouts claw them back


def closure_id(opportunity_id: str) -> str:
    return "clo_" + hashlib.sha1(opportunity_id.encode()).hexdigest()[:20]


def _live_attributions(session: Session, clo_id: str) -> list[Attribution]:
    rows = session.scalars(select(AttributionRow).where(AttributionRow.closure_id == clo_id, AttributionRow.reversed.is_(False)))
    return [a for a in map(to_record, rows) if isinstance(a, Attribution)]


def _close_moment(opp: Opportunity, now: datetime) -> datetime:
    """When the deal closed: its close date, unless that is still ahead (closed early, date not updated)."""
    return min(datetime.combine(opp.close_date, time.max, tzinfo=UTC), now) if opp.close_date else now


def _protected(reg: DealRegistration, at: datetime) -> bool:
    if reg.status == RegistrationStatus.won:
        return True
    return reg.status == RegistrationStatus.approved and (reg.expires_at is None or reg.expires_at >= at)


def customer_registrations(session: Session, opp: Opportunity, rules: RulesConfig, at: datetime) -> list[DealRegistration]:
    """Approved registrations, protected at ``at``, for the opportunity's customer (by id, domain or name)."""
    customer = get_record(session, EndCustomer.entity, opp.end_customer_id) if opp.end_customer_id else None
    public = rules.conflict.public_mail_domains
    target = profile(customer.name, domain=customer.domain, website=customer.website, country=customer.country,
                     public_domains=public) if isinstance(customer, EndCustomer) else profile(opp.name)
    rows = session.scalars(select(DealRegistrationRow).where(DealRegistrationRow.status.in_(["approved", "won"])))
    found: list[DealRegistration] = []
    for reg in (r for r in map(to_record, rows) if isinstance(r, DealRegistration)):
        if not _protected(reg, at) or (reg.opportunity_id and reg.opportunity_id != opp.id):
            continue
        mine = profile(reg.customer_name, domain=reg.customer_domain, emails=[reg.contact_email],
                       country=reg.customer_country, public_domains=public)
        same = (opp.end_customer_id and reg.end_customer_id == opp.end_customer_id) or \
            (target.domain and target.domain == mine.domain) or \
            (target.norm == mine.norm and (not target.country or not mine.country or target.country == mine.country))
        if same:
            found.append(reg)
    return sorted(found, key=lambda r: (r.submitted_at or r.created_at, r.id))


def _split(rules: RulesConfig, tier: str | None, role: AttributionRole) -> Decimal:
    split = rules.attribution.per_tier.get(tier or "", rules.attribution.default)
    return Decimal(str(getattr(split, role.value)))


def plan_roles(session: Session, opp: Opportunity, rules: RulesConfig, at: datetime) -> list[tuple[Partner, AttributionRole, DealRegistration | None]]:
    """Who gets credit: the sourced registration, influencers, and the reseller of record.

    The model has no explicit reseller-of-record field: a sourced partner that is a
    reseller or distributor fulfils its own deal; otherwise the earliest influencing
    reseller/distributor is credited as ``fulfilled`` instead of ``influenced``.
    """
    linked = get_record(session, DealRegistration.entity, opp.registration_id) if opp.registration_id else None
    candidates = customer_registrations(session, opp, rules, at)
    sourced = linked if isinstance(linked, DealRegistration) and _protected(linked, at) else (candidates[0] if candidates else None)
    if sourced is None:
        return []
    roles: list[tuple[Partner, AttributionRole, DealRegistration | None]] = []
    partners: dict[str, Partner] = {}
    for reg in [sourced, *candidates]:
        partner = get_record(session, Partner.entity, reg.partner_id)
        if isinstance(partner, Partner):
            partners.setdefault(reg.partner_id, partner)
    if sourced.partner_id not in partners:
        return []
    lead = partners[sourced.partner_id]
    roles.append((lead, AttributionRole.sourced, sourced))
    fulfilled = lead.partner_type in FULFILLERS
    for reg in candidates:
        if reg.partner_id == lead.id or reg.partner_id not in partners or any(p.id == reg.partner_id for p, _, _ in roles):
            continue
        partner = partners[reg.partner_id]
        role = AttributionRole.influenced
        if not fulfilled and partner.partner_type in FULFILLERS:
            role, fulfilled = AttributionRole.fulfilled, True
        roles.append((partner, role, reg))
    return roles


def _summary(attributions: list[Attribution], names: dict[str, str]) -> str:
    return "; ".join(f"{a.role.title()}: {names.get(a.partner_id, a.partner_id)} ({a.split_pct.normalize():f}%)" for a in attributions)


def _save_closure(session: Session, opp: Opportunity, outcome: ClosureOutcome, now: datetime) -> Closure:
    existing = get_record(session, Closure.entity, closure_id(opp.id))
    closure = Closure(
        id=closure_id(opp.id), opportunity_id=opp.id, outcome=outcome, amount=opp.amount or Decimal("0"),
        currency=opp.currency, close_date=opp.close_date or now.date(),
        external_ids=existing.external_ids if existing else {}, created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    if existing is None or existing.model_dump(exclude={"updated_at"}) != closure.model_dump(exclude={"updated_at"}):
        save_record(session, closure)
    return closure


def reverse_attributions(session: Session, clo_id: str, *, reason: str, now: datetime, run_id: str | None) -> int:
    live = _live_attributions(session, clo_id)
    for att in live:
        save_record(session, att.model_copy(update={"reversed": True, "updated_at": now}))
        record_decision(session, action="attribution.reverse", entity=Attribution.entity, record_id=att.id,
                        rule="attribution.reverse", reason=reason, now=now, run_id=run_id,
                        before={"reversed": False}, after={"reversed": True})
    return len(live)


def attribute_opportunity(session: Session, opportunity_id: str, rules: RulesConfig, now: datetime,
                          *, run_id: str | None = None) -> AttributionOutcome:
    """Bring closure and attributions in line with the opportunity's current state; safe to repeat."""
    opp = get_record(session, Opportunity.entity, opportunity_id)
    if not isinstance(opp, Opportunity):
        return AttributionOutcome(opportunity_id, "none", reasons=["no such opportunity"])
    clo_id = closure_id(opp.id)
    if not opp.is_closed:
        if get_record(session, Closure.entity, clo_id) is None:
            return AttributionOutcome(opp.id, "none")
        n = reverse_attributions(session, clo_id, reason=f"opportunity {opp.id} reopened", now=now, run_id=run_id)
        return AttributionOutcome(opp.id, "reversed" if n else "unchanged", clo_id, reversed=n)
    if not opp.is_won:
        _save_closure(session, opp, ClosureOutcome.lost, now)
        n = reverse_attributions(session, clo_id, reason=f"opportunity {opp.id} closed lost", now=now, run_id=run_id)
        linked = get_record(session, DealRegistration.entity, opp.registration_id) if opp.registration_id else None
        if isinstance(linked, DealRegistration) and linked.status == RegistrationStatus.approved:
            reason = f"opportunity {opp.id} closed lost"
            save_record(session, transition(linked, RegistrationStatus.lost, actor=RULES_ACTOR, reason=reason, now=now))
            record_decision(session, action="registration.transition", entity=DealRegistration.entity, record_id=linked.id,
                            rule="lifecycle.lost", reason=reason, now=now, run_id=run_id,
                            before={"status": linked.status}, after={"status": "lost"})
        return AttributionOutcome(opp.id, "lost", clo_id, reversed=n)
    closure = _save_closure(session, opp, ClosureOutcome.won, now)
    live = _live_attributions(session, clo_id)
    if live:
        return AttributionOutcome(opp.id, "unchanged", clo_id, live)
    roles = plan_roles(session, opp, rules, _close_moment(opp, now))
    if not roles:
        return AttributionOutcome(opp.id, "none", clo_id, reasons=["no approved, unexpired registration for this customer"])
    pcts = [_split(rules, p.tier, role) for p, role, _ in roles]
    total = sum(pcts, Decimal("0"))
    reasons: list[str] = []
    if total > 100:
        pcts = [(p * 100 / total).quantize(Decimal("0.0001"), ROUND_HALF_UP) for p in pcts]
        reasons.append(f"splits totalled {total}%, scaled down proportionally to 100%")
    made: list[Attribution] = []
    for (partner, role, reg), pct in zip(roles, pcts, strict=True):
        amount = (closure.amount * pct / 100).quantize(CENT, ROUND_HALF_UP)
        att = Attribution(id=new_id("att"), closure_id=clo_id, opportunity_id=opp.id, partner_id=partner.id,
                          registration_id=reg.id if reg else None, role=role, split_pct=pct, amount=amount,
                          currency=closure.currency, created_at=now, updated_at=now)
        save_record(session, att)
        why = f"{role} {pct}% of {closure.amount} for partner {partner.name} ({partner.tier})"
        record_decision(session, action="attribution.create", entity=Attribution.entity, record_id=att.id,
                        rule=f"attribution.{role}", reason="; ".join([why, *reasons]), now=now, run_id=run_id,
                        after={"amount": amount, "split_pct": pct, "role": role})
        made.append(att)
    sourced_reg = roles[0][2]
    if sourced_reg is not None and sourced_reg.status == RegistrationStatus.approved:
        won = transition(sourced_reg, RegistrationStatus.won, actor=RULES_ACTOR, reason=f"opportunity {opp.id} closed won", now=now)
        won.opportunity_id = opp.id
        save_record(session, won)
        record_decision(session, action="registration.transition", entity=DealRegistration.entity, record_id=won.id,
                        rule="lifecycle.won", reason=f"opportunity {opp.id} closed won", now=now, run_id=run_id,
                        before={"status": "approved"}, after={"status": "won"})
    summary = _summary(made, {p.id: p.name for p, _, _ in roles})
    write_back(session, opp.id, now, run_id=run_id, registration_id=sourced_reg.id if sourced_reg else None, summary=summary)
    return AttributionOutcome(opp.id, "attributed", clo_id, made, reasons)


def write_back(session: Session, opportunity_id: str, now: datetime, *, run_id: str | None = None,
               registration_id: str | None = None, summary: str | None = None) -> bool:
    """Copy the linked registration's state onto the opportunity for the push; True when changed."""
    opp = get_record(session, Opportunity.entity, opportunity_id)
    if not isinstance(opp, Opportunity):
        return False
    reg_id = registration_id or opp.registration_id
    if reg_id is None:
        row = session.scalars(select(DealRegistrationRow).where(DealRegistrationRow.opportunity_id == opp.id)
                              .order_by(DealRegistrationRow.submitted_at)).first()
        reg_id = row.id if row is not None else None
    reg = get_record(session, DealRegistration.entity, reg_id) if reg_id else None
    if not isinstance(reg, DealRegistration):
        return False
    partner = get_record(session, Partner.entity, reg.partner_id)
    updated = opp.model_copy()
    updated.registration_id = reg.id
    updated.registration_status = reg.status
    updated.conflict_status = reg.conflict_decision
    live = reg.status in (RegistrationStatus.approved, RegistrationStatus.won)
    updated.registered_partner_id = reg.partner_id if live else None
    updated.protection_expires_at = reg.expires_at if live else None
    updated.partner_tier = partner.tier if live and isinstance(partner, Partner) else None
    if summary is not None:
        updated.attribution_summary = summary
    before, after = changed_fields(opp, updated, WRITEBACK)
    if not before:
        return False
    updated.updated_at = now
    save_record(session, updated)
    record_decision(session, action="opportunity.write_back", entity=Opportunity.entity, record_id=opp.id,
                    rule="attribution.write_back", reason=f"from registration {reg.id} ({reg.status})", now=now,
                    run_id=run_id, before=before, after=after)
    return True
