"""Customer profiles of store rows, and registrations turned into conflict-check queries.

Rows are profiled straight from their columns rather than through pydantic
models: building the account index touches every active registration, open
direct opportunity and customer, and at a million accounts validation would
cost more than the check.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from prm_sync.config.settings import ConflictRules
from prm_sync.model import DealRegistration, RegistrationStatus
from prm_sync.rules.candidates import RegistrationQuery
from prm_sync.rules.normalize import CustomerProfile, profile
from prm_sync.store.orm import DealRegistrationRow, EndCustomerRow

ACTIVE_STATUSES = (RegistrationStatus.submitted, RegistrationStatus.under_review, RegistrationStatus.approved)


def registration_profile(reg: DealRegistration | DealRegistrationRow, rules: ConflictRules) -> CustomerProfile:
    return _registration_profile(reg.customer_name, reg.customer_domain, reg.contact_email, reg.customer_country,
                                 reg.customer_city, reg.customer_phone, tuple(rules.public_mail_domains))


@lru_cache(maxsize=32768)  # a check profiles what the index catch-up just profiled: a large pull's worth is kept
def _registration_profile(name: str, domain: str | None, email: str | None, country: str | None, city: str | None,
                          phone: str | None, public: tuple[str, ...]) -> CustomerProfile:
    return profile(name, domain=domain, emails=[email], country=country, city=city, phone=phone, public_domains=public)


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
