"""Push batches: the write ledger and the push audit, one row per written batch (see ``PushBatchRow``).

The sync writes them (``append_push_batch``, one row plus one two-key index
row per record); ``prm_sync.store.audit`` and ``prm_sync.store.ledger`` read
them back per record as the ``AuditEntry`` and ``LedgerEntry`` they always
returned, merged with the per-record rows older stores still hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, select
from sqlalchemy.orm import Session

from prm_sync.store import bulk
from prm_sync.store.orm import (
    AuditLogRow,
    PushBatchRecordRow,
    PushBatchRow,
    RecordExternalIdRow,
    SyncStateRow,
)
from prm_sync.store.records import chunks

RELINK_ACTION = "push.relink"  # ``prm_sync.sync.merges``: a link moved to the record its remote was merged into

# ``PushBatchRow.entries`` items: positions of their fields
RECORD_ID, REMOTE_ID, CREATED, BEFORE, AFTER, PAYLOAD = range(6)


@dataclass(frozen=True)
class PushItem:
    """One record's write, read out of its batch."""

    batch_id: int
    position: int  # index in the batch's entries: with ``batch_id``, the write's identity and order
    run_id: str | None
    at: datetime
    system: str
    remote_object: str
    entity: str
    mapping_version: str | None
    provenance: dict[str, Any]  # the batch's: PRM field -> [remote field, rule]
    record_id: str
    remote_id: str | None
    created: bool
    before: dict[str, Any]
    after: dict[str, Any]
    payload: dict[str, Any]


def append_push_batch(
    session: Session,
    *,
    run_id: str | None,
    at: datetime,
    system: str,
    remote_object: str,
    entity: str,
    mapping_version: str | None,
    provenance: dict[str, Any],
    entries: list[list[Any]],
) -> int | None:
    """Store one written batch (``entries`` as ``PushBatchRow`` documents them); its id, None when empty."""
    if not entries:
        return None
    table = PushBatchRow.__table__
    batch_id = session.execute(
        insert(table).values(run_id=run_id, at=at, system=system, remote_object=remote_object, entity=entity,
                             mapping_version=mapping_version, provenance=provenance, entries=entries)
        .returning(table.c.id)
    ).scalar_one()
    keys = dict.fromkeys(entry[RECORD_ID] for entry in entries)
    bulk.insert_rows(session, PushBatchRecordRow.__table__, [{"record_id": r, "batch_id": batch_id} for r in keys])
    return int(batch_id)


def record_ids_for_remote(session: Session, remote_id: str, system: str | None = None) -> set[str]:
    """The PRM records a remote id belongs or belonged to.

    A push batch indexes its writes by record, not by remote id, so a
    remote id is first resolved to records: through the link states and the
    external-id mirror (what it belongs to now), and through the audit log
    (what it belonged to: the rows that name it, and a ``relink`` that moved
    a link away from it when the CRM merged it into another record). Without
    the last two, ``prm-sync audit`` of a merged-away remote id lost every
    push written to it, which the per-record rows before migration 0009 kept.
    """
    def lookup(table: Any, condition: ColumnElement[bool]) -> set[str]:
        query = select(table.c.record_id).where(condition, table.c.record_id.is_not(None))
        if system is not None:
            query = query.where(table.c.system == system)
        return set(session.scalars(query.distinct()))

    state, mirror, audit = SyncStateRow.__table__, RecordExternalIdRow.__table__, AuditLogRow.__table__
    found = lookup(state, state.c.remote_id == remote_id) | lookup(mirror, mirror.c.remote_id == remote_id)
    if found:  # linked now: a link moved away from a remote id (a merge) never comes back to it
        return found
    moved_from = audit.c.fields_before["remote_id"].as_string()
    return lookup(audit, audit.c.remote_id == remote_id) | lookup(
        audit, and_(audit.c.action == RELINK_ACTION, moved_from == remote_id))


def push_items(
    session: Session,
    *,
    record_ids: Sequence[str] | None = None,
    remote_id: str | None = None,
    entity: str | None = None,
    system: str | None = None,
    remote_object: str | None = None,
    run_id: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[PushItem]:
    """Matching writes, newest first (batch, then position in it, descending).

    ``record_ids`` are looked up in ``push_batch_record``; a ``remote_id`` is
    first resolved to the records it belongs to (a remote id is not indexed
    per write). Without either, batches are read newest first until ``limit``
    writes matched.
    """
    wanted: set[str] | None = None
    if remote_id is not None:
        wanted = record_ids_for_remote(session, remote_id, system)
        if record_ids is not None:
            wanted &= set(record_ids)
    elif record_ids is not None:
        wanted = set(record_ids)
    if wanted is not None and not wanted:
        return []
    table = PushBatchRow.__table__
    filters: list[ColumnElement[bool]] = []
    for column, value in ((table.c.entity, entity), (table.c.system, system),
                          (table.c.remote_object, remote_object), (table.c.run_id, run_id)):
        if value is not None:
            filters.append(column == value)
    if since is not None:
        filters.append(table.c.at >= since)
    out: list[PushItem] = []
    for batch in _batches(session, filters, wanted):
        for position in range(len(batch.entries) - 1, -1, -1):
            entry = batch.entries[position]
            if wanted is not None and entry[RECORD_ID] not in wanted:
                continue
            if remote_id is not None and entry[REMOTE_ID] != remote_id:
                continue
            out.append(PushItem(
                batch_id=batch.id, position=position, run_id=batch.run_id, at=batch.at, system=batch.system,
                remote_object=batch.remote_object, entity=batch.entity, mapping_version=batch.mapping_version,
                provenance=batch.provenance or {}, record_id=entry[RECORD_ID], remote_id=entry[REMOTE_ID],
                created=bool(entry[CREATED]), before=entry[BEFORE] or {}, after=entry[AFTER] or {},
                payload=entry[PAYLOAD] or {},
            ))
            if limit is not None and len(out) >= limit:
                return out
    return out


def _batches(session: Session, filters: list[ColumnElement[bool]], wanted: set[str] | None) -> Iterator[Any]:
    """Batch rows matching ``filters`` (and holding one of ``wanted``), newest first, a page at a time."""
    table = PushBatchRow.__table__
    if wanted is not None:
        ids: set[int] = set()
        member = PushBatchRecordRow.__table__
        for part in chunks(sorted(wanted)):
            ids.update(session.scalars(select(member.c.batch_id).where(member.c.record_id.in_(part))))
        ordered = sorted(ids, reverse=True)
        for part in chunks(ordered):
            query = select(table).where(table.c.id.in_(part), *filters).order_by(table.c.id.desc())
            yield from session.execute(query)
        return
    after: int | None = None
    while True:
        query = select(table).where(*filters)
        if after is not None:
            query = query.where(table.c.id < after)
        rows = list(session.execute(query.order_by(table.c.id.desc()).limit(50)))
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def delete_batches(session: Session, batch_ids: Sequence[int]) -> int:
    """Drop these batches and their record index (retention); the number of batches gone.

    The index rows are found through the batches' own entries, so each is
    deleted by its full key: no scan of the index by batch id.
    """
    table, member = PushBatchRow.__table__, PushBatchRecordRow.__table__
    gone = 0
    for part in chunks(list(batch_ids)):
        rows = session.execute(select(table.c.id, table.c.entries).where(table.c.id.in_(part)))
        keys = [{"b_record_id": record_id, "b_batch_id": batch_id} for batch_id, entries in rows
                for record_id in dict.fromkeys(e[RECORD_ID] for e in entries or [])]
        if keys:
            session.execute(member.delete().where(member.c.record_id == bindparam("b_record_id"),
                                                  member.c.batch_id == bindparam("b_batch_id")), keys)
        gone += session.execute(table.delete().where(table.c.id.in_(part))).rowcount or 0
    return gone
