"""The sync's own bookkeeping tables: external-id index, links and cursors, ledgers, runs, failures, reviews.

Why a module of its own: these tables record what the sync did and still
owes (which remote record is which PRM record, where each read stopped, what
a push sent, what failed and waits for a replay), not the PRM's data; they
change with the engine, the entity tables with the canonical model.
``prm_sync.store.orm`` re-exports every table here, so ``Base.metadata`` and
existing imports see them as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from prm_sync.store.orm_base import ENTITY, ENUM, ID, REMOTE_ID, REMOTE_OBJECT, SERIAL, SYSTEM, Base


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
