"""The journal of associations in flight (``pending_links``): one row per written batch.

See ``PendingLinksRow`` and ``prm_sync.sync.push``: a batch's row is written
in the transaction that commits the batch and deleted in the one that
confirms its links, so only a crash in between leaves a row behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from prm_sync.store.orm import PendingLinksRow


def open_batch(
    session: Session, *, entity: str, system: str, record_ids: Sequence[str], run_id: str | None, at: datetime
) -> int:
    """Journal a written batch's records until their links are confirmed; returns the journal id."""
    table = PendingLinksRow.__table__
    statement = insert(table).values(
        entity=entity, system=system, record_ids=list(record_ids), run_id=run_id, created_at=at
    ).returning(table.c.id)
    return int(session.execute(statement).scalar_one())


def close_batch(session: Session, journal_id: int) -> None:
    session.execute(delete(PendingLinksRow.__table__).where(PendingLinksRow.__table__.c.id == journal_id))


def left_over(session: Session, entity: str, system: str) -> dict[int, list[str]]:
    """Journal id -> record ids, for the batches of this slice whose links were never confirmed."""
    table = PendingLinksRow.__table__
    query = select(table.c.id, table.c.record_ids).where(table.c.entity == entity, table.c.system == system)
    return {journal_id: list(ids or []) for journal_id, ids in session.execute(query)}


def close_batches(session: Session, journal_ids: Sequence[int]) -> None:
    if journal_ids:
        table = PendingLinksRow.__table__
        session.execute(delete(table).where(table.c.id.in_(list(journal_ids))))
