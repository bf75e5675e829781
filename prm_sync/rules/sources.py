"""Conflict candidates read from the PRM store, and registrations turned into queries.

Rows are read column by column rather than through pydantic models: building
the index touches every active registration, open direct opportunity and
customer, and at a million accounts validation would cost more than the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.model import DealRegistration, RegistrationStatus
from prm_sync.rules.candidates import Candidate, CandidateIndex, CandidateKind, RegistrationQuery
from prm_sync.rules.normalize import CustomerProfile, profile
from prm_sync.store.orm import DealRegistrationRow, EndCustomerRow, OpportunityRow
from prm_sync.store.records import chunks

ACTIVE_STATUSES = (RegistrationStatus.submitted, RegistrationStatus.under_review, RegistrationStatus.approved)


def registration_profile(reg: DealRegistration | DealRegistrationRow, rules: ConflictRules) -> CustomerProfile:
    return profile(
        reg.customer_name,
        domain=reg.customer_domain,
        emails=[reg.contact_email],
        country=reg.customer_country,
        city=reg.customer_city,
        phone=reg.customer_phone,
        public_domains=rules.public_mail_domains,
    )


def registration_query(reg: DealRegistration, rules: ConflictRules) -> RegistrationQuery:
    return RegistrationQuery(
        profile=registration_profile(reg, rules),
        record_id=reg.id,
        partner_id=reg.partner_id,
        product_lines=frozenset(reg.product_lines),
        submitted_at=reg.submitted_at,
        opportunity_id=reg.opportunity_id,
        end_customer_id=reg.end_customer_id,
    )


def customer_profile(row: EndCustomerRow, rules: ConflictRules) -> CustomerProfile:
    return profile(
        row.name, domain=row.domain, website=row.website, country=row.country, city=row.city,
        phone=row.phone, street=row.street, public_domains=rules.public_mail_domains,
    )


def is_active(status: str, expires_at: datetime | None, now: datetime) -> bool:
    """Submitted, under review, or approved and still inside its protection window."""
    if status not in {s.value for s in ACTIVE_STATUSES}:
        return False
    return not (status == RegistrationStatus.approved.value and expires_at is not None and expires_at <= now)


def registration_candidates(session: Session, rules: ConflictRules, now: datetime) -> Iterator[Candidate]:
    query = select(DealRegistrationRow).where(DealRegistrationRow.status.in_([s.value for s in ACTIVE_STATUSES]))
    for row in session.scalars(query.execution_options(yield_per=2000)):
        if not is_active(row.status, row.expires_at, now):
            continue
        yield Candidate(
            kind=CandidateKind.registration, record_id=row.id, profile=registration_profile(row, rules),
            partner_id=row.partner_id, product_lines=frozenset(row.product_lines or ()),
            submitted_at=row.submitted_at, label=row.customer_name,
        )


def _customers(session: Session, ids: Iterable[str]) -> dict[str, EndCustomerRow]:
    found: dict[str, EndCustomerRow] = {}
    for part in chunks(sorted(set(ids))):
        found.update((row.id, row) for row in session.scalars(select(EndCustomerRow).where(EndCustomerRow.id.in_(part))))
    return found


def opportunity_candidates(session: Session, rules: ConflictRules) -> Iterator[Candidate]:
    """Open direct opportunities, profiled by their end customer (or their own name without one)."""
    rows = list(session.scalars(select(OpportunityRow).where(OpportunityRow.is_closed.is_(False), OpportunityRow.is_direct.is_(True))))
    customers = _customers(session, [r.end_customer_id for r in rows if r.end_customer_id])
    for row in rows:
        customer = customers.get(row.end_customer_id or "")
        prof = customer_profile(customer, rules) if customer else profile(row.name, public_domains=rules.public_mail_domains)
        yield Candidate(kind=CandidateKind.opportunity, record_id=row.id, profile=prof, label=prof.name)


def customer_candidates(session: Session, rules: ConflictRules) -> Iterator[Candidate]:
    """Customers flagged ``is_customer`` or with a closed-won opportunity."""
    won = select(OpportunityRow.end_customer_id).where(OpportunityRow.is_won.is_(True), OpportunityRow.end_customer_id.is_not(None))
    query = select(EndCustomerRow).where(or_(EndCustomerRow.is_customer.is_(True), EndCustomerRow.id.in_(won)))
    for row in session.scalars(query.execution_options(yield_per=2000)):
        yield Candidate(kind=CandidateKind.customer, record_id=row.id, profile=customer_profile(row, rules), label=row.name)


def build_index(session: Session, rules: ConflictRules, now: datetime) -> CandidateIndex:
    index = CandidateIndex()
    index.extend(registration_candidates(session, rules, now))
    if rules.check_direct_opportunities:
        index.extend(opportunity_candidates(session, rules))
    if rules.check_existing_customers:
        index.extend(customer_candidates(session, rules))
    return index
