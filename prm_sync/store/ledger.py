"""The write ledger: what prm-sync itself wrote to each remote record.

When a record we just wrote comes back on the next incremental read, its
fields hash the same as the ledger's payload: that is our own echo, and the
engine drops it instead of syncing it back and forth forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store import bulk
from prm_sync.store.orm import WriteLedgerRow
from prm_sync.store.records import chunks
from prm_sync.store.types import jsonable


class LedgerEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = None  # assigned by the database
    run_id: str | None = None
    system: str
    remote_object: str
    remote_id: str | None = None
    record_id: str | None = None
    entity: str | None = None
    payload_hash: str
    payload: dict[str, Any] = Field(default_factory=dict)
    written_at: datetime = Field(default_factory=utcnow)


def append_ledger(session: Session, entries: Sequence[LedgerEntry]) -> None:
    rows = []
    for entry in entries:
        values = entry.model_dump(exclude={"id"})
        values["payload"] = jsonable(values["payload"])
        rows.append(values)
    if rows:  # one executemany: a sync batch writes hundreds of entries at once
        session.execute(insert(WriteLedgerRow.__table__), rows)  # Core: no ORM bulk bookkeeping per row


def append_ledger_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """``append_ledger`` for plain rows (every ``LedgerEntry`` field but ``id``), the sync's commit path."""
    bulk.insert_rows(session, WriteLedgerRow.__table__, rows)


def last_written_many(
    session: Session, system: str, remote_object: str, remote_ids: Sequence[str]
) -> dict[str, LedgerEntry]:
    """The newest ledger entry per remote id, for checking a whole page of reads at once."""
    found: dict[str, LedgerEntry] = {}
    for part in chunks(list(dict.fromkeys(remote_ids))):
        newest = (
            select(WriteLedgerRow.remote_id, func.max(WriteLedgerRow.id).label("id"))
            .where(
                WriteLedgerRow.system == system,
                WriteLedgerRow.remote_object == remote_object,
                WriteLedgerRow.remote_id.in_(part),
            )
            .group_by(WriteLedgerRow.remote_id)
            .subquery()
        )
        rows = session.scalars(select(WriteLedgerRow).join(newest, newest.c.id == WriteLedgerRow.id))
        found.update((row.remote_id, LedgerEntry.model_validate(row)) for row in rows if row.remote_id)
    return found


def last_written(session: Session, system: str, remote_object: str, remote_id: str) -> LedgerEntry | None:
    return last_written_many(session, system, remote_object, [remote_id]).get(remote_id)


def prune_ledger(session: Session, older_than: datetime) -> int:
    """Drop entries written before ``older_than``; echoes arrive within minutes, not months."""
    result = session.execute(delete(WriteLedgerRow).where(WriteLedgerRow.written_at < older_than))
    return result.rowcount or 0
