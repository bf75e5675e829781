"""Per-record sync state and per-object cursors.

Sync state remembers, for each record and system, which remote record it is
and the hash of the mapped fields last exchanged, so an unchanged record is
skipped and a change on both sides is detectable. The cursor says where the
next incremental read starts. Both are written in the same session as the
records they describe, so a crash never leaves a cursor ahead of its data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.orm import Session

from connectors.base import Cursor
from prm_sync.model import utcnow
from prm_sync.store import bulk
from prm_sync.store.orm import SyncCursorRow, SyncStateRow
from prm_sync.store.records import chunks, expire_loaded


class Direction(StrEnum):
    push = "push"  # PRM -> remote
    pull = "pull"  # remote -> PRM


class SyncState(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    entity: str
    record_id: str
    system: str
    remote_object: str
    remote_id: str | None = None
    content_hash: str | None = None
    remote_modstamp: datetime | None = None
    last_synced_at: datetime
    last_direction: Direction
    # normalised canonical values: {"remote": what we believe the remote holds, "prm": what the PRM held at
    # the last agreement}; "prm" is left out when it equals "remote" (see ``prm_sync.sync.linkstate``)
    snapshot: dict[str, Any] | None = None
    remote_deleted: bool = False  # deleted (or merged away) remotely: never silently re-created
    record_version: int | None = None  # the record's row_version this link agrees with (None: check it)
    push_fingerprint: str | None = None  # the mapping the agreement was reached under


class CursorState(BaseModel):
    """A stored cursor with what it belongs to, for status pages and resets."""

    model_config = ConfigDict(from_attributes=True)

    system: str
    remote_object: str
    entity: str
    modstamp: datetime | None
    last_id: str | None
    updated_at: datetime
    run_id: str | None

    @property
    def cursor(self) -> Cursor:
        return Cursor(modstamp=self.modstamp, last_id=self.last_id)


def get_state(session: Session, entity: str, record_id: str, system: str) -> SyncState | None:
    row = session.get(SyncStateRow, (entity, record_id, system))
    return None if row is None else SyncState.model_validate(row)


def get_states(session: Session, entity: str, system: str, record_ids: Sequence[str]) -> dict[str, SyncState]:
    """State for many records at once, keyed by record id (missing ids are absent)."""
    found: dict[str, SyncState] = {}
    for part in chunks(list(dict.fromkeys(record_ids))):
        query = select(SyncStateRow).where(
            SyncStateRow.entity == entity, SyncStateRow.system == system, SyncStateRow.record_id.in_(part)
        )
        found.update((row.record_id, SyncState.model_validate(row)) for row in session.scalars(query))
    return found


def all_states(session: Session, entity: str, system: str) -> dict[str, SyncState]:
    """Every record's state for one entity in one system, keyed by record id."""
    query = select(SyncStateRow).where(SyncStateRow.entity == entity, SyncStateRow.system == system)
    return {row.record_id: SyncState.model_validate(row) for row in session.scalars(query)}


def linked_ids(session: Session, entity: str, system: str) -> dict[str, str]:
    """Record id -> remote id for one entity in one system (links with a remote id), read by key only."""
    table = SyncStateRow.__table__
    query = select(table.c.record_id, table.c.remote_id).where(
        table.c.entity == entity, table.c.system == system, table.c.remote_id.is_not(None)
    )
    session.flush()
    return dict(session.execute(query).tuples().all())


def get_states_by_remote(
    session: Session, system: str, remote_object: str, remote_ids: Sequence[str]
) -> dict[str, SyncState]:
    """State for records read from a remote, keyed by remote id: who is this record to us?"""
    found: dict[str, SyncState] = {}
    for part in chunks(list(dict.fromkeys(remote_ids))):
        query = select(SyncStateRow).where(
            SyncStateRow.system == system,
            SyncStateRow.remote_object == remote_object,
            SyncStateRow.remote_id.in_(part),
        )
        found.update(
            (row.remote_id, SyncState.model_validate(row)) for row in session.scalars(query) if row.remote_id
        )
    return found


def get_state_by_remote(
    session: Session, system: str, remote_object: str, remote_id: str
) -> SyncState | None:
    return get_states_by_remote(session, system, remote_object, [remote_id]).get(remote_id)


STATE_KEY = ("entity", "record_id", "system")


def set_states(session: Session, states: Sequence[SyncState]) -> None:
    """Insert or replace the state of each (entity, record_id, system); the last state of a key wins."""
    upsert_state_rows(session, [state.model_dump() for state in states])


def upsert_state_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """``set_states`` for plain rows (every ``SyncState`` field as a key): the sync's commit path.

    A push commits thousands of states per run: one ``INSERT ... ON CONFLICT
    DO UPDATE`` executemany (SQLite and PostgreSQL alike) instead of an
    existence check followed by an UPDATE and an INSERT.
    """
    if not rows:
        return
    session.flush()  # pending ORM changes of these rows must not be flushed over the upsert later
    bulk.insert_rows(session, SyncStateRow.__table__, rows, conflict=STATE_KEY)
    value_names = [name for name in rows[0] if name not in STATE_KEY]
    expire_loaded(session, SyncStateRow, {(r["entity"], r["record_id"], r["system"]) for r in rows}, value_names)


def push_candidates(session: Session, records: Table, entity: str, system: str, fingerprint: str) -> dict[str, int]:
    """Record id -> row_version for the records whose link to ``system`` may be out of date.

    Never linked, saved since the link last agreed, agreed under another
    mapping, or not known to agree at all (``record_version`` NULL).
    """
    table = SyncStateRow.__table__
    joined = records.outerjoin(
        table, and_(table.c.entity == entity, table.c.system == system, table.c.record_id == records.c.id)
    )
    query = (
        select(records.c.id, records.c.row_version)
        .select_from(joined)
        .where(
            or_(
                table.c.record_id.is_(None),
                table.c.record_version.is_(None),
                table.c.push_fingerprint.is_(None),
                table.c.push_fingerprint != fingerprint,
                records.c.row_version > table.c.record_version,
            )
        )
    )
    session.flush()
    return dict(session.execute(query).tuples().all())


def mark_checked(session: Session, entity: str, system: str, versions: dict[str, int | None], fingerprint: str) -> None:
    rows = [
        {"entity": entity, "record_id": record_id, "system": system, "record_version": version,
         "push_fingerprint": fingerprint}
        for record_id, version in versions.items()
    ]
    session.flush()
    bulk.update_rows(session, SyncStateRow.__table__, rows, key=STATE_KEY)
    expire_loaded(session, SyncStateRow, {(entity, r, system) for r in versions}, ["record_version", "push_fingerprint"])


def set_state(session: Session, state: SyncState) -> None:
    set_states(session, [state])


def delete_state(session: Session, entity: str, record_id: str, system: str) -> bool:
    result = session.execute(
        delete(SyncStateRow).where(
            SyncStateRow.entity == entity, SyncStateRow.record_id == record_id, SyncStateRow.system == system
        )
    )
    return bool(result.rowcount)


def get_cursor(session: Session, system: str, remote_object: str, entity: str) -> Cursor:
    """Where the next read of this object starts; an empty cursor means from the beginning."""
    row = session.get(SyncCursorRow, (system, remote_object, entity))
    return Cursor() if row is None else Cursor(modstamp=row.modstamp, last_id=row.last_id)


def set_cursor(
    session: Session,
    system: str,
    remote_object: str,
    entity: str,
    cursor: Cursor,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
) -> None:
    row = session.get(SyncCursorRow, (system, remote_object, entity))
    if row is None:
        row = SyncCursorRow(system=system, remote_object=remote_object, entity=entity)
        session.add(row)
    row.modstamp = cursor.modstamp
    row.last_id = cursor.last_id
    row.updated_at = now or utcnow()
    row.run_id = run_id
    session.flush()


def list_cursors(session: Session, *, system: str | None = None) -> list[CursorState]:
    query = select(SyncCursorRow).order_by(
        SyncCursorRow.system, SyncCursorRow.remote_object, SyncCursorRow.entity
    )
    if system is not None:
        query = query.where(SyncCursorRow.system == system)
    return [CursorState.model_validate(row) for row in session.scalars(query)]


def reset_cursors(
    session: Session,
    *,
    system: str | None = None,
    remote_object: str | None = None,
    entity: str | None = None,
) -> int:
    """Forget matching cursors so the next run reads from the beginning; returns how many."""
    query = delete(SyncCursorRow)
    if system is not None:
        query = query.where(SyncCursorRow.system == system)
    if remote_object is not None:
        query = query.where(SyncCursorRow.remote_object == remote_object)
    if entity is not None:
        query = query.where(SyncCursorRow.entity == entity)
    return session.execute(query).rowcount or 0


def orphan_links(session: Session, records: Table, entity: str, system: str) -> list[SyncState]:
    """Live links whose PRM record is gone (deleted, or merged away, in the PRM): their copies await ``on_delete``."""
    table = SyncStateRow.__table__
    joined = table.outerjoin(records, records.c.id == table.c.record_id)
    query = (
        select(SyncStateRow)
        .select_from(joined)
        .where(table.c.entity == entity, table.c.system == system, table.c.remote_id.is_not(None),
               table.c.remote_deleted.is_(False), records.c.id.is_(None))
    )
    session.flush()
    return [SyncState.model_validate(row) for row in session.scalars(query)]
