"""LMS completions become certifications; certified headcount and revenue decide tiers.

One certification per person and product line: a later passing completion
renews it rather than adding a second, so headcounts never double. Tier
promotions apply at once; demotions wait ``demotion_grace_days`` (kept in
``Partner.tier_grace_until``) so a partner whose expert just left has time
to certify someone else. The tier is written to the Partner record, so both
CRMs get it on the next push.
"""

from __future__ import annotations

import hashlib
from calendar import monthrange
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from prm_sync.config.settings import CertificationRules, TierRules
from prm_sync.model import (
    AttributionRole,
    Certification,
    CertificationStatus,
    CourseCompletion,
    Partner,
    PartnerTier,
)
from prm_sync.rules.recording import changed_fields, record_decision
from prm_sync.store.orm import AttributionRow, CertificationRow, ClosureRow
from prm_sync.store.records import get_record, list_records, save_record, to_record

TIER_ORDER = [PartnerTier.registered, PartnerTier.silver, PartnerTier.gold, PartnerTier.platinum]
REVENUE_WINDOW_DAYS = 365


def add_months(when: datetime, months: int) -> datetime:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, monthrange(year, month)[1]))


def certification_status(expires_at: datetime, now: datetime, rules: CertificationRules) -> CertificationStatus:
    if expires_at <= now:
        return CertificationStatus.expired
    if expires_at - now <= timedelta(days=rules.renewal_window_days):
        return CertificationStatus.expiring
    return CertificationStatus.active


def _person(c: CourseCompletion | Certification) -> str:
    return c.contact_id or c.learner_email.strip().lower()


def certification_id(person: str, product_line: str) -> str:
    return "crt_" + hashlib.sha1(f"{person}|{product_line}".encode()).hexdigest()[:20]


def _existing(session: Session, completion: CourseCompletion, line: str) -> Certification | None:
    """The person's certification for the line: by contact, or by email (issued before the contact was known)."""
    same_person = CertificationRow.learner_email == completion.learner_email
    if completion.contact_id:
        same_person = or_(CertificationRow.contact_id == completion.contact_id, same_person)
    query = select(CertificationRow).where(CertificationRow.product_line == line, same_person)
    row = session.scalars(query.order_by(CertificationRow.expires_at.desc())).first()
    record = to_record(row) if row is not None else None
    return record if isinstance(record, Certification) else None


def issue_certifications(
    session: Session, completion_ids: list[str] | None, rules: CertificationRules, now: datetime,
    *, run_id: str | None = None,
) -> list[Certification]:
    """Certifications created or renewed from passing completions (all completions when ids is None)."""
    completions = [c for c in list_records(session, CourseCompletion.entity, ids=completion_ids) if isinstance(c, CourseCompletion)]
    changed: list[Certification] = []
    for comp in sorted(completions, key=lambda c: (c.completed_at, c.id)):
        if not comp.passed or not comp.product_line or (comp.score is not None and comp.score < rules.passing_score):
            continue
        expires = add_months(comp.completed_at, rules.validity_months)
        current = _existing(session, comp, comp.product_line)
        if current is not None and current.issued_at >= comp.completed_at:
            continue  # already issued from this completion or a later one
        cert = Certification(
            id=current.id if current else certification_id(_person(comp), comp.product_line),
            external_ids=current.external_ids if current else {},
            created_at=current.created_at if current else now,
            updated_at=now,
            contact_id=comp.contact_id, learner_email=comp.learner_email, partner_id=comp.partner_id,
            product_line=comp.product_line, name=f"{comp.product_line.title()} Certified",
            issued_at=comp.completed_at, expires_at=expires,
            status=certification_status(expires, now, rules),
        )
        save_record(session, cert)
        verb = "renewed" if current else "issued"
        record_decision(
            session, action=f"certification.{verb}", entity=Certification.entity, record_id=cert.id,
            rule="certification.issue", now=now, run_id=run_id,
            reason=f"{verb} from completion {comp.id} (score {comp.score}) valid until {expires.date().isoformat()}",
            after={"issued_at": cert.issued_at, "expires_at": cert.expires_at, "status": cert.status},
        )
        changed.append(cert)
    return changed


def refresh_statuses(session: Session, rules: CertificationRules, now: datetime, *, run_id: str | None = None) -> int:
    """Move certifications to expiring/expired as time passes; returns how many changed."""
    count = 0
    for row in session.scalars(select(CertificationRow)).all():
        status = certification_status(row.expires_at, now, rules)
        if status != row.status:
            cert = to_record(row)
            updated = cert.model_copy(update={"status": status, "updated_at": now})
            save_record(session, updated)
            record_decision(session, action="certification.status", entity=Certification.entity, record_id=cert.id,
                            rule="certification.status", reason=f"expires {row.expires_at.date().isoformat()}",
                            now=now, run_id=run_id, before={"status": row.status}, after={"status": status})
            count += 1
    return count


class TierDecision(BaseModel):
    partner_id: str
    current: PartnerTier
    eligible: PartnerTier
    new_tier: PartnerTier
    certified_people: int
    closed_revenue: Decimal
    grace_until: date | None
    reason: str


def certified_people(session: Session, partner_id: str, now: datetime) -> int:
    rows = session.scalars(select(CertificationRow).where(CertificationRow.partner_id == partner_id, CertificationRow.expires_at > now))
    return len({row.contact_id or row.learner_email.lower() for row in rows})


def closed_revenue(session: Session, partner_id: str, now: datetime) -> Decimal:
    """Won closures in the last year this partner sourced or fulfilled (reversed ones excluded)."""
    since = (now - timedelta(days=REVENUE_WINDOW_DAYS)).date()
    query = (
        select(ClosureRow.id, ClosureRow.amount)
        .join(AttributionRow, AttributionRow.closure_id == ClosureRow.id)
        .where(
            AttributionRow.partner_id == partner_id, AttributionRow.reversed.is_(False),
            AttributionRow.role.in_([AttributionRole.sourced.value, AttributionRole.fulfilled.value]),
            ClosureRow.outcome == "won", ClosureRow.close_date >= since,
        )
    )
    amounts = dict(session.execute(query).tuples().all())
    return sum(amounts.values(), Decimal("0"))


def tier_eligibility(session: Session, partner_id: str, now: datetime, rules: TierRules) -> TierDecision:
    """The tier the partner qualifies for now, and the tier it should hold given the grace period."""
    partner = get_record(session, Partner.entity, partner_id)
    if not isinstance(partner, Partner):
        msg = f"no partner with id {partner_id}"
        raise LookupError(msg)
    people = certified_people(session, partner_id, now)
    revenue = closed_revenue(session, partner_id, now)
    eligible = PartnerTier.registered
    for tier in TIER_ORDER[1:]:
        req = rules.requirements.get(tier.value)
        if req is not None and people >= req.certified_people and revenue >= Decimal(str(req.closed_revenue)):
            eligible = tier
    current = PartnerTier(partner.tier)
    today = now.date()
    grace = partner.tier_grace_until
    facts = f"{people} certified {'person' if people == 1 else 'people'}, closed revenue {revenue:,.2f}"
    if TIER_ORDER.index(eligible) >= TIER_ORDER.index(current):
        new, grace = eligible, None
        reason = f"qualifies for {eligible} ({facts})"
    elif grace is None:
        new, grace = current, today + timedelta(days=rules.demotion_grace_days)
        reason = f"qualifies only for {eligible} ({facts}); keeps {current} until {grace.isoformat()}"
    elif today >= grace:
        new, grace = eligible, None
        reason = f"demoted to {eligible} after grace period ({facts})"
    else:
        new = current
        reason = f"qualifies only for {eligible} ({facts}); grace until {grace.isoformat()}"
    return TierDecision(partner_id=partner_id, current=current, eligible=eligible, new_tier=new,
                        certified_people=people, closed_revenue=revenue, grace_until=grace, reason=reason)


def apply_tier(session: Session, partner_id: str, now: datetime, rules: TierRules, *, run_id: str | None = None) -> TierDecision:
    """Write the decision to the Partner (tier, grace) and audit it when anything changed."""
    decision = tier_eligibility(session, partner_id, now, rules)
    partner = get_record(session, Partner.entity, partner_id)
    assert isinstance(partner, Partner)  # tier_eligibility raised otherwise
    updated = partner.model_copy(update={"tier": decision.new_tier, "tier_grace_until": decision.grace_until})
    before, after = changed_fields(partner, updated, ["tier", "tier_grace_until"])
    if before:
        updated.updated_at = now
        save_record(session, updated)
        record_decision(session, action="partner.tier", entity=Partner.entity, record_id=partner_id,
                        rule="tiers.eligibility", reason=decision.reason, now=now, run_id=run_id,
                        before=before, after=after)
    return decision
