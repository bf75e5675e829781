"""The write ledger: what prm-sync itself wrote to each remote record.

Forensics: the payload each remote record got, by which run and when (echo
suppression reads the link state, not the ledger). A push keeps its ledger
in its batch row (``push_batch``, see ``PushBatchRow``); ``write_ledger``
rows are those of stores older than migration 0009 and of ``append_ledger``.
The reads here merge both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store.orm import PushBatchRow, WriteLedgerRow
from prm_sync.store.push_batches import PushItem, push_items
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
    for remote_id in dict.fromkeys(remote_ids):
        pushed = push_items(session, remote_id=remote_id, system=system, remote_object=remote_object, limit=1)
        if pushed and (remote_id not in found or found[remote_id].written_at <= pushed[0].at):
            found[remote_id] = _from_push(pushed[0])
    return found


def _from_push(item: PushItem) -> LedgerEntry:
    from prm_sync.sync.values import hash_normalized  # the hash the ledger always kept: the sync's own

    return LedgerEntry(run_id=item.run_id, system=item.system, remote_object=item.remote_object,
                       remote_id=item.remote_id, record_id=item.record_id, entity=item.entity,
                       payload_hash=hash_normalized(item.payload), payload=item.payload, written_at=item.at)


def count_writes(session: Session, run_id: str) -> int:
    """How many remote records a run wrote (its ledger entries, in batches and rows)."""
    rows = session.scalar(select(func.count()).select_from(WriteLedgerRow).where(WriteLedgerRow.run_id == run_id))
    batches = session.scalars(select(PushBatchRow.entries).where(PushBatchRow.run_id == run_id))
    return int(rows or 0) + sum(len(entries) for entries in batches)


def last_written(session: Session, system: str, remote_object: str, remote_id: str) -> LedgerEntry | None:
    return last_written_many(session, system, remote_object, [remote_id]).get(remote_id)


def prune_ledger(session: Session, older_than: datetime) -> int:
    """Drop entries written before ``older_than``; echoes arrive within minutes, not months."""
    result = session.execute(delete(WriteLedgerRow).where(WriteLedgerRow.written_at < older_than))
    return result.rowcount or 0
