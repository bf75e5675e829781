"""The canonical records prm-sync moves between systems.

Every system's record is mapped to and from these shapes (``mappings/*.yaml``),
so the rules and the store speak one language whatever the CRM calls a field.
Each record carries our own stable ``id`` and the ids it has in each external
system (``external_ids``), which is what lets an upsert find its target again
after a lost confirmation.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from prm_sync.model.enums import (
    AttributionRole,
    CertificationStatus,
    ClosureOutcome,
    ConflictDecision,
    InvoiceKind,
    InvoiceStatus,
    PartnerStatus,
    PartnerTier,
    PartnerType,
    PaymentKind,
    PayoutKind,
    PayoutStatus,
    RegistrationStatus,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _IdClock:
    """The last id's (millisecond, tail) of this process: the next id of the same millisecond counts up.

    32 random bits alone are not enough inside one process: a pull that
    adopts thousands of records a second draws dozens of ids per
    millisecond, and two equal ids are one record to ``save_records`` (the
    second silently overwrites the first). So a millisecond's first id takes
    a random tail of 31 bits and the next ones add one to it (as a
    monotonic ULID does): no two ids of a process are equal, and they sort in
    the order they were made even when the clock steps back. Other processes
    draw their own random tails. A forked child starts afresh, or it would
    repeat its parent's next ids.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.millis, self.tail = -1, 0

    def next(self) -> tuple[int, int]:
        now = time.time_ns() // 1_000_000
        with self.lock:
            if now > self.millis:
                self.millis, self.tail = now, secrets.randbits(31)
            elif self.tail < 0xFFFFFFFF:
                self.tail += 1
            else:  # 2^31 ids in one millisecond: borrow the next one
                self.millis, self.tail = self.millis + 1, secrets.randbits(31)
            return self.millis, self.tail


_ID_CLOCK = _IdClock()
os.register_at_fork(after_in_child=_ID_CLOCK.reset)


def new_id(prefix: str) -> str:
    """Our ids are readable in logs and CRM fields (``ptn_0193a5c2e4f1b07c9d2e``) and sort by creation.

    Twenty hex digits as before: the creation time in milliseconds (12) and
    32 bits (8), the layout of a UUIDv7's first half. Ids that grow with
    time insert at the end of every B-tree keyed by them (the record tables,
    link states, audit, external ids) instead of at a random page: at
    600,000 records a random key touches a page that is no longer cached on
    nearly every insert. The 32 bits are random per millisecond and count up
    within it (``_IdClock``), so ids of one process never repeat.
    """
    millis, tail = _ID_CLOCK.next()
    return f"{prefix}_{millis:012x}{tail:08x}"


class CanonicalRecord(BaseModel):
    """Fields every entity shares."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=True)

    entity: ClassVar[str]
    id_prefix: ClassVar[str]
    # field -> value that means "no longer active" (a terminated partner): the CRMs' on_delete applies
    inactive_when: ClassVar[dict[str, str]] = {}

    id: str
    external_ids: dict[str, str] = Field(
        default_factory=dict, description="Remote id per system, e.g. {'salesforce': '001...'}"
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def field_names(cls) -> list[str]:
        return list(cls.model_fields)

    @property
    def inactive(self) -> bool:
        """Deactivated in the PRM (see ``inactive_when``): each CRM's ``on_delete`` policy applies to it."""
        return any(str(getattr(self, name)) == value for name, value in self.inactive_when.items())


class Partner(CanonicalRecord):
    entity = "partner"
    id_prefix = "ptn"
    inactive_when = {"status": "terminated"}

    name: str = Field(min_length=1, max_length=255)
    partner_type: PartnerType = PartnerType.reseller
    tier: PartnerTier = PartnerTier.registered
    status: PartnerStatus = PartnerStatus.active
    program: str = "default"
    territory: str | None = None
    domain: str | None = None
    website: str | None = None
    phone: str | None = None
    city: str | None = None
    country: str | None = None
    tier_grace_until: date | None = None


class PartnerContact(CanonicalRecord):
    entity = "partner_contact"
    id_prefix = "pcn"

    partner_id: str
    first_name: str | None = None
    last_name: str = Field(min_length=1, max_length=80)
    email: str | None = None
    title: str | None = None
    phone: str | None = None


class EndCustomer(CanonicalRecord):
    entity = "end_customer"
    id_prefix = "cus"

    name: str = Field(min_length=1, max_length=255)
    domain: str | None = None
    website: str | None = None
    street: str | None = None
    city: str | None = None
    country: str | None = None
    phone: str | None = None
    industry: str | None = None
    is_customer: bool = False


class DealRegistration(CanonicalRecord):
    entity = "deal_registration"
    id_prefix = "reg"

    partner_id: str
    end_customer_id: str | None = None
    customer_name: str = Field(min_length=1, max_length=255)
    customer_domain: str | None = None
    customer_country: str | None = None
    customer_city: str | None = None
    customer_phone: str | None = None
    contact_email: str | None = None
    product_lines: list[str] = Field(default_factory=list)
    amount: Decimal | None = None
    currency: str = "USD"
    status: RegistrationStatus = RegistrationStatus.submitted
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    expires_at: datetime | None = None
    opportunity_id: str | None = None
    conflict_decision: ConflictDecision | None = None
    conflict_score: float | None = None
    conflict_reason: str | None = None


class Opportunity(CanonicalRecord):
    """An opportunity (Salesforce) or deal (HubSpot) as the CRM sees it."""

    entity = "opportunity"
    id_prefix = "opp"

    name: str = Field(min_length=1, max_length=120)
    end_customer_id: str | None = None
    stage: str = "Prospecting"
    amount: Decimal | None = None
    currency: str = "USD"
    close_date: date | None = None
    is_closed: bool = False
    is_won: bool = False
    is_direct: bool = True
    registration_id: str | None = None
    registered_partner_id: str | None = None
    registration_status: RegistrationStatus | None = None
    protection_expires_at: datetime | None = None
    partner_tier: PartnerTier | None = None
    attribution_summary: str | None = None
    conflict_status: ConflictDecision | None = None  # written to the CRM beside the registered partner


class Closure(CanonicalRecord):
    entity = "closure"
    id_prefix = "clo"

    opportunity_id: str
    outcome: ClosureOutcome
    amount: Decimal = Decimal("0")
    currency: str = "USD"
    close_date: date


class Attribution(CanonicalRecord):
    entity = "attribution"
    id_prefix = "att"

    closure_id: str
    opportunity_id: str
    partner_id: str
    registration_id: str | None = None
    role: AttributionRole
    split_pct: Decimal = Field(ge=0, le=100)
    amount: Decimal
    currency: str = "USD"
    reversed: bool = False


class CourseCompletion(CanonicalRecord):
    entity = "course_completion"
    id_prefix = "cmp"

    contact_id: str | None = None
    learner_email: str
    partner_id: str | None = None
    course_id: str
    product_line: str | None = None
    completed_at: datetime
    score: float | None = None
    passed: bool = True


class Certification(CanonicalRecord):
    entity = "certification"
    id_prefix = "crt"

    contact_id: str | None = None
    learner_email: str
    partner_id: str | None = None
    product_line: str
    name: str
    issued_at: datetime
    expires_at: datetime
    status: CertificationStatus = CertificationStatus.active


class Invoice(CanonicalRecord):
    entity = "invoice"
    id_prefix = "inv"

    number: str
    kind: InvoiceKind = InvoiceKind.invoice
    opportunity_id: str | None = None
    end_customer_id: str | None = None
    amount: Decimal
    amount_paid: Decimal = Decimal("0")  # payments less refunds (for a credit note: refunded), by the payout rules
    currency: str = "USD"
    status: InvoiceStatus = InvoiceStatus.open
    issued_at: date


class Payment(CanonicalRecord):
    entity = "payment"
    id_prefix = "pay"

    invoice_id: str
    kind: PaymentKind = PaymentKind.payment
    amount: Decimal
    currency: str = "USD"
    paid_at: datetime


class Payout(CanonicalRecord):
    entity = "payout"
    id_prefix = "pout"

    partner_id: str
    kind: PayoutKind = PayoutKind.bill  # a bill of ``amount``, or a credit note of ``clawback``
    amount: Decimal
    currency: str = "USD"
    period: str
    status: PayoutStatus = PayoutStatus.pending
    attribution_ids: list[str] = Field(default_factory=list)
    clawback: Decimal = Decimal("0")


ENTITIES: dict[str, type[CanonicalRecord]] = {
    cls.entity: cls
    for cls in (
        Partner,
        PartnerContact,
        EndCustomer,
        DealRegistration,
        Opportunity,
        Closure,
        Attribution,
        CourseCompletion,
        Certification,
        Invoice,
        Payment,
        Payout,
    )
}


def entity_class(name: str) -> type[CanonicalRecord]:
    return ENTITIES[name]
