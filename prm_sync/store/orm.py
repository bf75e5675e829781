"""The PRM store's tables: one per canonical entity, plus the sync's own bookkeeping.

Entity tables mirror the pydantic models in ``prm_sync.model`` column for
column (``tests/store/test_orm.py`` checks it), so conversion is by name and a
new model field fails a test until it gets a column and a migration.

There are deliberately no foreign keys between entity tables: records arrive
from five systems in whatever order their cursors allow (a contact before its
partner, a payment before its invoice), and a constraint would turn that
ordinary lag into a failed batch. References are indexed instead.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Date, Double, Index, Integer, MetaData, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from prm_sync.store.types import Money, UTCDateTime

# explicit names so the hand-written migration and the metadata agree on every backend
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)  # our own ids: ``ptn_…``, ``run_…``
REMOTE_ID = String(255)
SYSTEM = String(32)
REMOTE_OBJECT = String(128)
ENTITY = String(32)
ENUM = String(32)
# sqlite only autoincrements an INTEGER PRIMARY KEY
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        date: Date(),
        float: Double(),
        str: String(),
        dict[str, Any]: JSON(),
        dict[str, str]: JSON(),
        list[Any]: JSON(),
        list[str]: JSON(),
    }


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


class RecordExternalIdRow(Base):
    """``external_ids`` unpacked, so finding a record by its remote id is an index lookup."""

    __tablename__ = "record_external_id"
    __table_args__ = (Index("ix_record_external_id_record", "entity", "record_id"),)

    entity: Mapped[str] = mapped_column(ENTITY, primary_key=True)
    system: Mapped[str] = mapped_column(SYSTEM, primary_key=True)
    remote_id: Mapped[str] = mapped_column(REMOTE_ID, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)


class SyncStateRow(Base):
    __tablename__ = "sync_state"
    __table_args__ = (Index("uq_sync_state_remote", "system", "remote_object", "remote_id", unique=True),)

    entity: Mapped[str] = mapped_column(ENTITY, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    system: Mapped[str] = mapped_column(SYSTEM, primary_key=True)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT)
    remote_id: Mapped[str | None] = mapped_column(REMOTE_ID)
    content_hash: Mapped[str | None] = mapped_column(String(128))
    remote_modstamp: Mapped[datetime | None]
    last_synced_at: Mapped[datetime]
    last_direction: Mapped[str] = mapped_column(ENUM)
    # what we believe the remote holds, as normalised canonical values: the base of the 3-way merge
    # ({"remote": ..., "prm": ...}, "prm" left out when equal: see ``prm_sync.sync.linkstate.pack_snapshot``)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    remote_deleted: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    record_version: Mapped[int | None] = mapped_column(BigInteger)  # the record's row_version this link agrees with
    push_fingerprint: Mapped[str | None] = mapped_column(String(64))  # the mapping that agreement was reached under


class SyncCursorRow(Base):
    __tablename__ = "sync_cursor"

    system: Mapped[str] = mapped_column(SYSTEM, primary_key=True)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT, primary_key=True)
    entity: Mapped[str] = mapped_column(ENTITY, primary_key=True)
    modstamp: Mapped[datetime | None]
    last_id: Mapped[str | None] = mapped_column(REMOTE_ID)
    updated_at: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ID)


class WriteLedgerRow(Base):
    __tablename__ = "write_ledger"
    __table_args__ = (Index("ix_write_ledger_remote", "system", "remote_object", "remote_id", "written_at"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ID, index=True)
    system: Mapped[str] = mapped_column(SYSTEM)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT)
    remote_id: Mapped[str | None] = mapped_column(REMOTE_ID)
    record_id: Mapped[str | None] = mapped_column(ID)
    entity: Mapped[str | None] = mapped_column(ENTITY)
    payload_hash: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    written_at: Mapped[datetime] = mapped_column(index=True)


class PushBatchRow(Base):
    """One written batch of a push: the write ledger and the audit entries of all its records in one row.

    A push wrote a ledger row and an audit row per record and system, each
    with four indexes, and most of their bytes repeated the batch (run, time,
    system, object, mapping version, the static part of every field's
    provenance). Here the batch's shared part is stored once and each record
    is one compact item of ``entries``::

        [record_id, remote_id, created, fields_before, fields_after, payload]

    ``payload`` is what the remote got (the ledger); ``fields_after`` the
    canonical values of the fields that changed. The audit entry of a record
    is rebuilt from both and ``provenance`` (PRM field -> [remote field,
    rule]): the value a remote field received is ``payload[remote field]``
    (``prm_sync.store.audit``). ``push_batch_record`` finds the batches of a
    record. Rows written before migration 0009 stay in ``write_ledger`` and
    ``audit_log`` and read the same.
    """

    __tablename__ = "push_batch"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ID, index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    system: Mapped[str] = mapped_column(SYSTEM)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT)
    entity: Mapped[str] = mapped_column(ENTITY)
    mapping_version: Mapped[str | None] = mapped_column(String(64))
    provenance: Mapped[dict[str, Any]]
    entries: Mapped[list[Any]]


class PushBatchRecordRow(Base):
    """Which batches wrote a record: the per-record index of ``push_batch`` (two keys, nothing else).

    The key starts with the record id so that ``prm-sync audit RECORD`` is an
    index range; ids made by ``new_id`` grow with time, so a sync's inserts
    land at the end of the tree. No row id on SQLite: the key is the row.
    """

    __tablename__ = "push_batch_record"
    __table_args__ = ({"sqlite_with_rowid": False},)

    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class PendingLinksRow(Base):
    """Records a push wrote whose associations are still on their way: one row per written batch.

    Written with the batch, deleted with the commit that confirms its links.
    A row found at the start of a push outlived its run (a crash): its
    records are written and linked again.
    """

    __tablename__ = "pending_links"
    __table_args__ = (Index("ix_pending_links_slice", "entity", "system"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ID)
    entity: Mapped[str] = mapped_column(ENTITY)
    system: Mapped[str] = mapped_column(SYSTEM)
    record_ids: Mapped[list[str]]
    created_at: Mapped[datetime]


class FailedRecordRow(Base):
    __tablename__ = "failed_record"
    __table_args__ = (
        # at most one open failure per record and operation; resolved ones pile up as history
        Index(
            "uq_failed_record_open",
            "system",
            "remote_object",
            "record_key",
            "operation",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_failed_record_status_last_seen", "status", "last_seen"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ID)
    system: Mapped[str] = mapped_column(SYSTEM)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT)
    entity: Mapped[str | None] = mapped_column(ENTITY)
    record_key: Mapped[str] = mapped_column(REMOTE_ID)
    operation: Mapped[str] = mapped_column(ENUM)
    payload: Mapped[dict[str, Any] | None]
    error_code: Mapped[str] = mapped_column(String(128), index=True)
    error_message: Mapped[str] = mapped_column(Text)
    error_fields: Mapped[list[str]]
    attempts: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    status: Mapped[str] = mapped_column(ENUM)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]


class SyncRunRow(Base):
    __tablename__ = "sync_run"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    trigger: Mapped[str] = mapped_column(ENUM)
    scope: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(ENUM, index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    stats: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    mapping_version: Mapped[str | None] = mapped_column(String(64))


class AuditLogRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_record", "entity", "record_id", "at"),
        Index("ix_audit_log_remote", "system", "remote_id", "at"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ID, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(SYSTEM)
    remote_object: Mapped[str | None] = mapped_column(REMOTE_OBJECT)
    entity: Mapped[str | None] = mapped_column(ENTITY)
    record_id: Mapped[str | None] = mapped_column(ID)
    remote_id: Mapped[str | None] = mapped_column(REMOTE_ID)
    mapping_version: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(128))
    fields_before: Mapped[dict[str, Any] | None]
    fields_after: Mapped[dict[str, Any] | None]
    provenance: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)


class ReviewItemRow(Base):
    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_item_field", "entity", "record_id", "system", "field", "status"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(ENTITY)
    record_id: Mapped[str] = mapped_column(ID)
    system: Mapped[str] = mapped_column(SYSTEM)
    field: Mapped[str] = mapped_column(String(128))
    prm_value: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    remote_value: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(ENUM, index=True)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(ENUM)
    resolved_value: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class InboxEventRow(Base):
    __tablename__ = "inbox_event"
    __table_args__ = (Index("uq_inbox_event_delivery", "source", "delivery_id", unique=True),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(REMOTE_ID)
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)


class ConflictCheckRow(Base):
    __tablename__ = "conflict_check"
    __table_args__ = (Index("ix_conflict_check_registration", "registration_id", "checked_at"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(ID)
    checked_at: Mapped[datetime]
    decision: Mapped[str] = mapped_column(ENUM)
    score: Mapped[float | None]
    matches: Mapped[list[Any]]
    reasons: Mapped[list[str]]


class RunLockRow(Base):
    __tablename__ = "run_lock"

    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[str] = mapped_column(ID)
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    host: Mapped[str | None] = mapped_column(String(255))  # where the holder runs: a gone pid there is a dead holder
    pid: Mapped[int | None]


class ConflictIndexEntryRow(Base):
    """One conflict candidate (an active registration, an open direct deal, a customer), profiled.

    Derived from the entity tables and kept between runs, so a check reads a
    handful of candidates by key instead of profiling every account again.
    ``source_hash`` covers the source fields the entry was made from: an
    unchanged record is not profiled again.
    """

    __tablename__ = "conflict_index_entry"
    __table_args__ = (Index("uq_conflict_index_entry_record", "kind", "record_id", unique=True),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(ENUM)
    record_id: Mapped[str] = mapped_column(ID)
    source_hash: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[str | None] = mapped_column(ID)
    product_lines: Mapped[list[str]]
    submitted_at: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(ENUM)
    expires_at: Mapped[datetime | None]
    label: Mapped[str] = mapped_column(Text)
    profile: Mapped[list[Any]]


class ConflictIndexKeyRow(Base):
    """Blocking keys (hashed to 64 bits) of each entry: a check looks up its own keys here."""

    __tablename__ = "conflict_index_key"
    __table_args__ = {"sqlite_with_rowid": False}

    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ConflictIndexBigBlockRow(Base):
    """Name keys shared by too many entries to say anything ("global", "first"): skipped by checks."""

    __tablename__ = "conflict_index_big_block"

    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ConflictIndexDirtyRow(Base):
    """Registrations, opportunities and customers saved since the index last caught up with them."""

    __tablename__ = "conflict_index_dirty"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(ENTITY)
    record_id: Mapped[str] = mapped_column(ID)


class ConflictIndexMetaRow(Base):
    """``fingerprint``: the index format and the settings its profiles depend on; another one rebuilds it."""

    __tablename__ = "conflict_index_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class UnmatchedRecordRow(Base):
    """A remote record in one of our slices that the sync could not tie to a PRM record.

    Born in the CRM without our id (``on_unmatched: report``), or matching
    several PRM records (or a PRM record already linked to another remote
    record) by its natural key: never guessed, kept here for a person, one
    row per remote record, refreshed when it is seen again.
    """

    __tablename__ = "unmatched_record"
    __table_args__ = (
        Index("uq_unmatched_record_remote", "system", "remote_object", "remote_id", unique=True),
        Index("ix_unmatched_record_status", "status", "entity"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(SYSTEM)
    remote_object: Mapped[str] = mapped_column(REMOTE_OBJECT)
    entity: Mapped[str] = mapped_column(ENTITY)
    remote_id: Mapped[str] = mapped_column(REMOTE_ID)
    reason: Mapped[str] = mapped_column(ENUM)  # no_prm_id | ambiguous | linked_elsewhere | unknown_prm_id
    summary: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    candidates: Mapped[list[str]]  # PRM ids it could be
    values: Mapped[dict[str, Any]]  # the mapped canonical values it was read with
    status: Mapped[str] = mapped_column(ENUM)  # open | adopted | resolved | ignored
    record_id: Mapped[str | None] = mapped_column(ID)  # the PRM record it became, once adopted
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ID)
    resolved_at: Mapped[datetime | None]


class RecordAliasRow(Base):
    """A PRM id that no longer exists on its own: merged into ``survivor_id``.

    Remote records and other records may still name the old id (a CRM field
    written before the merge, a CSV); identity resolution follows the alias
    instead of re-creating the record. ``snapshot`` keeps the merged record's
    last values.
    """

    __tablename__ = "record_alias"

    entity: Mapped[str] = mapped_column(ENTITY, primary_key=True)
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    survivor_id: Mapped[str] = mapped_column(ID, index=True)
    system: Mapped[str | None] = mapped_column(SYSTEM)  # where the merge was made (None: in the PRM)
    reason: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]]
    merged_at: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ID)
