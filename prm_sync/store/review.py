"""The manual-review queue: field conflicts a person has to settle.

One open item per (record, system, field): a conflict seen again on the next
run refreshes the values of the item already waiting instead of queueing a
duplicate for the same decision.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.errors import UsageError
from prm_sync.model import utcnow
from prm_sync.store.orm import ReviewItemRow
from prm_sync.store.types import jsonable


class ReviewStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class ReviewResolution(StrEnum):
    prm = "prm"  # keep the PRM value
    remote = "remote"  # take the remote value
    value = "value"  # a person typed the right value


class ReviewItem(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    id: int
    entity: str
    record_id: str
    system: str
    field: str
    prm_value: Any
    remote_value: Any
    status: ReviewStatus
    created_at: datetime
    resolved_at: datetime | None
    resolution: ReviewResolution | None
    resolved_value: Any
    resolved_by: str | None


def add_review(
    session: Session,
    *,
    entity: str,
    record_id: str,
    system: str,
    field: str,
    prm_value: Any,
    remote_value: Any,
    now: datetime | None = None,
) -> ReviewItem:
    query = select(ReviewItemRow).where(
        ReviewItemRow.entity == entity,
        ReviewItemRow.record_id == record_id,
        ReviewItemRow.system == system,
        ReviewItemRow.field == field,
        ReviewItemRow.status == ReviewStatus.open.value,
    )
    row = session.scalars(query).first()
    if row is None:
        row = ReviewItemRow(
            entity=entity,
            record_id=record_id,
            system=system,
            field=field,
            status=ReviewStatus.open.value,
            created_at=now or utcnow(),
        )
        session.add(row)
    row.prm_value = jsonable(prm_value)
    row.remote_value = jsonable(remote_value)
    session.flush()
    return ReviewItem.model_validate(row)


def get_review(session: Session, item_id: int) -> ReviewItem | None:
    row = session.get(ReviewItemRow, item_id)
    return None if row is None else ReviewItem.model_validate(row)


def list_open_reviews(
    session: Session, *, entity: str | None = None, system: str | None = None, limit: int | None = None
) -> list[ReviewItem]:
    """Oldest first: the queue is worked in arrival order."""
    query = (
        select(ReviewItemRow)
        .where(ReviewItemRow.status == ReviewStatus.open.value)
        .order_by(ReviewItemRow.created_at, ReviewItemRow.id)
    )
    if entity is not None:
        query = query.where(ReviewItemRow.entity == entity)
    if system is not None:
        query = query.where(ReviewItemRow.system == system)
    if limit is not None:
        query = query.limit(limit)
    return [ReviewItem.model_validate(row) for row in session.scalars(query)]


def resolve_review(
    session: Session,
    item_id: int,
    *,
    resolution: ReviewResolution | str,
    resolved_by: str,
    resolved_value: Any = None,
    now: datetime | None = None,
) -> ReviewItem:
    """Settle an item; the value that wins is recorded so the sync can apply it."""
    row = session.get(ReviewItemRow, item_id)
    if row is None:
        msg = f"no review item with id {item_id}"
        raise UsageError(msg)
    if row.status != ReviewStatus.open.value:
        msg = f"review item {item_id} is already resolved"
        raise UsageError(msg)
    choice = ReviewResolution(resolution)
    winners = {ReviewResolution.prm: row.prm_value, ReviewResolution.remote: row.remote_value}
    row.status = ReviewStatus.resolved.value
    row.resolution = choice.value
    row.resolved_value = winners.get(choice, jsonable(resolved_value))
    row.resolved_by = resolved_by
    row.resolved_at = now or utcnow()
    session.flush()
    return ReviewItem.model_validate(row)
