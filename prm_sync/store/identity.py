"""Identity bookkeeping: unmatched remote records and merged-away PRM ids.

``unmatched_*`` is the store-level view of what the sync saw but could not
tie to a PRM record (``prm-sync status`` and the health view read it with
``unmatched_counts`` / ``list_unmatched``). ``alias`` / ``survivor_of`` map a
PRM id merged into another to that survivor, so identity resolution follows
a merge instead of re-creating what a user merged away.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store.orm import RecordAliasRow, UnmatchedRecordRow
from prm_sync.store.records import chunks
from prm_sync.store.types import jsonable

Reason = Literal["no_prm_id", "ambiguous", "linked_elsewhere", "unknown_prm_id"]
OPEN = "open"


class UnmatchedRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    system: str
    remote_object: str
    entity: str
    remote_id: str
    reason: str
    summary: str | None
    detail: str | None
    candidates: list[str]
    values: dict[str, Any]
    status: str
    record_id: str | None
    first_seen: datetime
    last_seen: datetime
    run_id: str | None
    resolved_at: datetime | None


def note_unmatched(
    session: Session, *, system: str, remote_object: str, entity: str, remote_id: str, reason: Reason,
    summary: str | None, detail: str | None = None, candidates: Iterable[str] = (), values: dict[str, Any] | None = None,
    run_id: str | None = None, now: datetime | None = None,
) -> None:
    """Record (or refresh) one remote record the sync could not tie to a PRM record: it is open again."""
    now = now or utcnow()
    row = session.scalars(select(UnmatchedRecordRow).where(
        UnmatchedRecordRow.system == system, UnmatchedRecordRow.remote_object == remote_object,
        UnmatchedRecordRow.remote_id == remote_id)).first()
    if row is None:
        row = UnmatchedRecordRow(system=system, remote_object=remote_object, remote_id=remote_id, first_seen=now)
        session.add(row)
    row.entity, row.reason, row.status, row.record_id, row.resolved_at = entity, reason, OPEN, None, None
    row.summary = (summary or "")[:255] or None
    row.detail = detail
    row.candidates = sorted(set(candidates))
    row.values = jsonable(values or {})
    row.last_seen, row.run_id = now, run_id
    session.flush()


def settle_unmatched(
    session: Session, system: str, remote_object: str, remote_ids: Iterable[str], *, status: str,
    record_id: str | None = None, now: datetime | None = None,
) -> int:
    """Close the open rows of these remote records (``adopted``: now linked to ``record_id``; ``resolved``...)."""
    changed = 0
    for part in chunks(list(dict.fromkeys(remote_ids))):
        rows = session.scalars(select(UnmatchedRecordRow).where(
            UnmatchedRecordRow.system == system, UnmatchedRecordRow.remote_object == remote_object,
            UnmatchedRecordRow.remote_id.in_(part), UnmatchedRecordRow.status == OPEN))
        for row in rows:
            row.status, row.record_id, row.resolved_at = status, record_id, now or utcnow()
            changed += 1
    session.flush()
    return changed


def list_unmatched(
    session: Session, *, system: str | None = None, entity: str | None = None, status: str | None = OPEN,
    limit: int | None = None,
) -> list[UnmatchedRecord]:
    """Unmatched remote records, oldest first (``status=None``: every status)."""
    query = select(UnmatchedRecordRow).order_by(UnmatchedRecordRow.first_seen, UnmatchedRecordRow.id)
    if system is not None:
        query = query.where(UnmatchedRecordRow.system == system)
    if entity is not None:
        query = query.where(UnmatchedRecordRow.entity == entity)
    if status is not None:
        query = query.where(UnmatchedRecordRow.status == status)
    if limit is not None:
        query = query.limit(limit)
    return [UnmatchedRecord.model_validate(row) for row in session.scalars(query)]


def unmatched_counts(session: Session, *, status: str = OPEN) -> dict[tuple[str, str, str], int]:
    """(system, entity, reason) -> how many remote records are unmatched: what a health page shows."""
    query = (
        select(UnmatchedRecordRow.system, UnmatchedRecordRow.entity, UnmatchedRecordRow.reason, func.count())
        .where(UnmatchedRecordRow.status == status)
        .group_by(UnmatchedRecordRow.system, UnmatchedRecordRow.entity, UnmatchedRecordRow.reason)
    )
    return {(system, entity, reason): int(n) for system, entity, reason, n in session.execute(query)}


# -- merged-away ids -----------------------------------------------------------------------
def add_alias(
    session: Session, *, entity: str, record_id: str, survivor_id: str, system: str | None, reason: str,
    snapshot: dict[str, Any], run_id: str | None = None, now: datetime | None = None,
) -> None:
    """``record_id`` was merged into ``survivor_id``; earlier aliases of it now point at the survivor too."""
    for row in session.scalars(select(RecordAliasRow).where(
            RecordAliasRow.entity == entity, RecordAliasRow.survivor_id == record_id)):
        row.survivor_id = survivor_id
    row = session.get(RecordAliasRow, (entity, record_id))
    if row is None:
        row = RecordAliasRow(entity=entity, record_id=record_id)
        session.add(row)
    row.survivor_id, row.system, row.reason = survivor_id, system, reason
    row.snapshot, row.merged_at, row.run_id = jsonable(snapshot), now or utcnow(), run_id
    session.flush()


def survivor_of(session: Session, entity: str, record_id: str) -> str | None:
    """The PRM id ``record_id`` was merged into, if it was."""
    row = session.get(RecordAliasRow, (entity, record_id))
    return row.survivor_id if row is not None else None


def aliases_of(session: Session, entity: str, survivor_id: str) -> list[str]:
    query = select(RecordAliasRow.record_id).where(
        RecordAliasRow.entity == entity, RecordAliasRow.survivor_id == survivor_id)
    return list(session.scalars(query))
