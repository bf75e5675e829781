"""The PRM store's tables: one per canonical entity, plus the sync's own bookkeeping.

Entity tables mirror the pydantic models in ``prm_sync.model`` column for
column (``tests/store/test_orm.py`` checks it), so conversion is by name and a
new model field fails a test until it gets a column and a migration.

There are deliberately no foreign keys between entity tables: records arrive
from five systems in whatever order their cursors allow (a contact before its
partner, a payment before its invoice), and a constraint would turn that
ordinary lag into a failed batch. References are indexed instead.

The declarative base and column types live in ``prm_sync.store.orm_base``,
the sync's bookkeeping tables in ``prm_sync.store.orm_bookkeeping``; both are
importable from here as before.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from prm_sync.store.orm_base import ENUM, ID, REMOTE_ID, Base
from prm_sync.store.types import Money


class EntityRow(Base):
    """Columns every canonical record has; ``entity`` names its pydantic model."""

    __abstract__ = True
    entity: ClassVar[str]

    # sort_order puts the shared columns around the entity's own, as in the pydantic model
    id: Mapped[str] = mapped_column(ID, primary_key=True, sort_order=-1)
    external_ids: Mapped[dict[str, str]] = mapped_column(sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(index=True, sort_order=1)
    # incremented by the store on every save that changes the row; links remember the version
    # they agreed on, so a push plans only records that moved (not part of the pydantic model)
    row_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"), sort_order=2)
    # field -> when its value last changed (ISO UTC), stamped by the store on every save that changes
    # it: the PRM side of a ``newest`` rule (see ``prm_sync.store.records.save_records``); NULL for rows
    # saved before migration 0006 (not part of the pydantic model either)
    field_changed_at: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), sort_order=2)


class PartnerRow(EntityRow):
    __tablename__ = entity = "partner"

    name: Mapped[str] = mapped_column(String(255))
    partner_type: Mapped[str] = mapped_column(ENUM)
    tier: Mapped[str] = mapped_column(ENUM)
    status: Mapped[str] = mapped_column(ENUM)
    program: Mapped[str]
    territory: Mapped[str | None]
    domain: Mapped[str | None] = mapped_column(index=True)
    website: Mapped[str | None]
    phone: Mapped[str | None]
    city: Mapped[str | None]
    country: Mapped[str | None]
    tier_grace_until: Mapped[date | None]


class PartnerContactRow(EntityRow):
    __tablename__ = entity = "partner_contact"

    partner_id: Mapped[str] = mapped_column(ID, index=True)
    first_name: Mapped[str | None]
    last_name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(index=True)
    title: Mapped[str | None]
    phone: Mapped[str | None]


# learners are matched to contacts by email whatever its case or stray spaces (prm_sync.rules.learners)
Index("ix_partner_contact_email_key", func.lower(func.trim(PartnerContactRow.email)))


class EndCustomerRow(EntityRow):
    __tablename__ = entity = "end_customer"

    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(index=True)
    website: Mapped[str | None]
    street: Mapped[str | None]
    city: Mapped[str | None]
    country: Mapped[str | None]
    phone: Mapped[str | None]
    industry: Mapped[str | None]
    is_customer: Mapped[bool]


class DealRegistrationRow(EntityRow):
    __tablename__ = entity = "deal_registration"

    partner_id: Mapped[str] = mapped_column(ID, index=True)
    end_customer_id: Mapped[str | None] = mapped_column(ID, index=True)
    customer_name: Mapped[str] = mapped_column(String(255))
    customer_domain: Mapped[str | None] = mapped_column(index=True)
    customer_country: Mapped[str | None]
    customer_city: Mapped[str | None]
    customer_phone: Mapped[str | None]
    contact_email: Mapped[str | None]
    product_lines: Mapped[list[str]]
    amount: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(ENUM, index=True)
    submitted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    opportunity_id: Mapped[str | None] = mapped_column(ID, index=True)
    conflict_decision: Mapped[str | None] = mapped_column(ENUM)
    conflict_score: Mapped[float | None]
    conflict_reason: Mapped[str | None]


class OpportunityRow(EntityRow):
    __tablename__ = entity = "opportunity"

    name: Mapped[str] = mapped_column(String(120))
    end_customer_id: Mapped[str | None] = mapped_column(ID, index=True)
    stage: Mapped[str]
    amount: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date | None]
    is_closed: Mapped[bool]
    is_won: Mapped[bool]
    is_direct: Mapped[bool]
    registration_id: Mapped[str | None] = mapped_column(ID, index=True)
    registered_partner_id: Mapped[str | None] = mapped_column(ID, index=True)
    registration_status: Mapped[str | None] = mapped_column(ENUM)
    protection_expires_at: Mapped[datetime | None]
    partner_tier: Mapped[str | None] = mapped_column(ENUM)
    attribution_summary: Mapped[str | None] = mapped_column(Text)
    conflict_status: Mapped[str | None] = mapped_column(ENUM)


class ClosureRow(EntityRow):
    __tablename__ = entity = "closure"

    opportunity_id: Mapped[str] = mapped_column(ID, index=True)
    outcome: Mapped[str] = mapped_column(ENUM)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date]


class AttributionRow(EntityRow):
    __tablename__ = entity = "attribution"

    closure_id: Mapped[str] = mapped_column(ID, index=True)
    opportunity_id: Mapped[str] = mapped_column(ID, index=True)
    partner_id: Mapped[str] = mapped_column(ID, index=True)
    registration_id: Mapped[str | None] = mapped_column(ID)
    role: Mapped[str] = mapped_column(ENUM)
    split_pct: Mapped[Decimal] = mapped_column(Money(7, 4))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reversed: Mapped[bool]


class CourseCompletionRow(EntityRow):
    __tablename__ = entity = "course_completion"

    contact_id: Mapped[str | None] = mapped_column(ID, index=True)
    learner_email: Mapped[str] = mapped_column(index=True)
    partner_id: Mapped[str | None] = mapped_column(ID, index=True)
    course_id: Mapped[str] = mapped_column(REMOTE_ID)
    product_line: Mapped[str | None]
    completed_at: Mapped[datetime]
    score: Mapped[float | None]
    passed: Mapped[bool]


class CertificationRow(EntityRow):
    __tablename__ = entity = "certification"

    contact_id: Mapped[str | None] = mapped_column(ID, index=True)
    learner_email: Mapped[str] = mapped_column(index=True)
    partner_id: Mapped[str | None] = mapped_column(ID, index=True)
    product_line: Mapped[str]
    name: Mapped[str]
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(ENUM)


class InvoiceRow(EntityRow):
    __tablename__ = entity = "invoice"

    number: Mapped[str] = mapped_column(REMOTE_ID, index=True)
    kind: Mapped[str] = mapped_column(ENUM, server_default=text("'invoice'"))
    opportunity_id: Mapped[str | None] = mapped_column(ID, index=True)
    end_customer_id: Mapped[str | None] = mapped_column(ID, index=True)
    amount: Mapped[Decimal]
    amount_paid: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(ENUM)
    issued_at: Mapped[date]


class PaymentRow(EntityRow):
    __tablename__ = entity = "payment"

    invoice_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(ENUM)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]


class PayoutRow(EntityRow):
    __tablename__ = entity = "payout"

    partner_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(ENUM, server_default=text("'bill'"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(ENUM)
    attribution_ids: Mapped[list[str]]
    clawback: Mapped[Decimal]


ENTITY_ROWS: dict[str, type[EntityRow]] = {
    cls.entity: cls
    for cls in (
        PartnerRow,
        PartnerContactRow,
        EndCustomerRow,
        DealRegistrationRow,
        OpportunityRow,
        ClosureRow,
        AttributionRow,
        CourseCompletionRow,
        CertificationRow,
        InvoiceRow,
        PaymentRow,
        PayoutRow,
    )
}

# after the entity tables, so ``Base.metadata`` lists every table in the order it always has
from prm_sync.store.orm_bookkeeping import (  # noqa: E402
    AuditLogRow,
    ConflictCheckRow,
    ConflictIndexBigBlockRow,
    ConflictIndexDirtyRow,
    ConflictIndexEntryRow,
    ConflictIndexKeyRow,
    ConflictIndexMetaRow,
    FailedRecordRow,
    InboxEventRow,
    PendingLinksRow,
    PushBatchRecordRow,
    PushBatchRow,
    RecordAliasRow,
    RecordExternalIdRow,
    ReviewItemRow,
    RunLockRow,
    SyncCursorRow,
    SyncRunRow,
    SyncStateRow,
    UnmatchedRecordRow,
    WriteLedgerRow,
)

__all__ = [
    "ENTITY_ROWS",
    "AttributionRow",
    "AuditLogRow",
    "Base",
    "CertificationRow",
    "ClosureRow",
    "ConflictCheckRow",
    "ConflictIndexBigBlockRow",
    "ConflictIndexDirtyRow",
    "ConflictIndexEntryRow",
    "ConflictIndexKeyRow",
    "ConflictIndexMetaRow",
    "CourseCompletionRow",
    "DealRegistrationRow",
    "EndCustomerRow",
    "EntityRow",
    "FailedRecordRow",
    "InboxEventRow",
    "InvoiceRow",
    "OpportunityRow",
    "PartnerContactRow",
    "PartnerRow",
    "PaymentRow",
    "PayoutRow",
    "PendingLinksRow",
    "PushBatchRecordRow",
    "PushBatchRow",
    "RecordAliasRow",
    "RecordExternalIdRow",
    "ReviewItemRow",
    "RunLockRow",
    "SyncCursorRow",
    "SyncRunRow",
    "SyncStateRow",
    "UnmatchedRecordRow",
    "WriteLedgerRow",
]
