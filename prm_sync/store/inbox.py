"""Webhook inbox: notifications are stored on receipt and drained by the next sync.

Senders deliver at least once (Salesforce outbound messages, HubSpot
webhooks), so a delivery is keyed by ``(source, delivery_id)`` and a
redelivery is acknowledged without being stored twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store.orm import InboxEventRow
from prm_sync.store.records import chunks
from prm_sync.store.types import jsonable


class InboxEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    delivery_id: str
    received_at: datetime
    payload: dict[str, Any]
    processed_at: datetime | None


def add_event(
    session: Session, source: str, delivery_id: str, payload: dict[str, Any], *, now: datetime | None = None
) -> bool:
    """Store a delivery; False if this (source, delivery_id) was already received.

    The insert runs in a savepoint so a concurrent duplicate (two webhook
    workers racing) is caught by the unique index without spoiling the
    caller's transaction.
    """
    existing = select(InboxEventRow.id).where(
        InboxEventRow.source == source, InboxEventRow.delivery_id == delivery_id
    )
    if session.scalar(existing) is not None:
        return False
    row = InboxEventRow(
        source=source, delivery_id=delivery_id, received_at=now or utcnow(), payload=jsonable(payload)
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def list_unprocessed(
    session: Session, *, source: str | None = None, limit: int | None = None
) -> list[InboxEvent]:
    """Pending deliveries in arrival order."""
    query = select(InboxEventRow).where(InboxEventRow.processed_at.is_(None)).order_by(InboxEventRow.id)
    if source is not None:
        query = query.where(InboxEventRow.source == source)
    if limit is not None:
        query = query.limit(limit)
    return [InboxEvent.model_validate(row) for row in session.scalars(query)]


def mark_processed(session: Session, event_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Mark deliveries drained, in the same transaction as the sync work they triggered."""
    now = now or utcnow()
    marked = 0
    for part in chunks(list(event_ids)):
        query = (
            update(InboxEventRow)
            .where(InboxEventRow.id.in_(part), InboxEventRow.processed_at.is_(None))
            .values(processed_at=now)
            .execution_options(synchronize_session=False)
        )
        marked += session.execute(query).rowcount or 0
    return marked
