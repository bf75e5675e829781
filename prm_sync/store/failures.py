"""Dead-lettered records: what failed, how often, and what was done about it.

A record that fails again while its failure is still open does not add a
row: ``attempts`` goes up and the latest error replaces the old one, so the
queue shows one line per broken record however many runs retried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prm_sync.errors import UsageError
from prm_sync.model import utcnow
from prm_sync.store.orm import FailedRecordRow
from prm_sync.store.records import chunks
from prm_sync.store.types import jsonable


class Operation(StrEnum):
    upsert = "upsert"
    delete = "delete"
    read = "read"
    map = "map"
    rule = "rule"
    associate = "associate"  # a written record's associations were refused (HubSpot)


class FailureStatus(StrEnum):
    open = "open"
    resolved = "resolved"
    discarded = "discarded"


class FailedRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    id: int
    run_id: str | None
    system: str
    remote_object: str
    entity: str | None
    record_key: str
    operation: Operation
    payload: dict[str, Any] | None
    error_code: str
    error_message: str
    error_fields: list[str]
    attempts: int
    first_seen: datetime
    last_seen: datetime
    status: FailureStatus
    resolution: str | None
    resolved_at: datetime | None


def _open_row(
    session: Session, system: str, remote_object: str, record_key: str, operation: str
) -> FailedRecordRow | None:
    query = select(FailedRecordRow).where(
        FailedRecordRow.system == system,
        FailedRecordRow.remote_object == remote_object,
        FailedRecordRow.record_key == record_key,
        FailedRecordRow.operation == operation,
        FailedRecordRow.status == FailureStatus.open.value,
    )
    return session.scalars(query).first()


def record_failure(
    session: Session,
    *,
    system: str,
    remote_object: str,
    record_key: str,
    operation: Operation | str,
    error_code: str,
    error_message: str,
    error_fields: Sequence[str] = (),
    entity: str | None = None,
    payload: dict[str, Any] | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> FailedRecord:
    """Open a failure, or bump the open one for the same record and operation."""
    operation = Operation(operation).value
    now = now or utcnow()
    row = _open_row(session, system, remote_object, record_key, operation)
    if row is None:
        row = FailedRecordRow(
            system=system,
            remote_object=remote_object,
            record_key=record_key,
            operation=operation,
            attempts=0,
            first_seen=now,
            status=FailureStatus.open.value,
        )
        session.add(row)
    row.attempts += 1
    row.last_seen = now
    row.run_id = run_id
    row.entity = entity if entity is not None else row.entity
    row.payload = jsonable(payload) if payload is not None else row.payload
    row.error_code = error_code
    row.error_message = error_message
    row.error_fields = list(error_fields)
    session.flush()
    return FailedRecord.model_validate(row)


def get_failure(session: Session, failure_id: int) -> FailedRecord | None:
    row = session.get(FailedRecordRow, failure_id)
    return None if row is None else FailedRecord.model_validate(row)


def list_failures(
    session: Session,
    *,
    status: FailureStatus | str | None = FailureStatus.open,
    system: str | None = None,
    remote_object: str | None = None,
    error_code: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[FailedRecord]:
    """Failures newest first; ``since`` filters on ``last_seen``, ``status=None`` means all."""
    query = select(FailedRecordRow).order_by(FailedRecordRow.last_seen.desc(), FailedRecordRow.id.desc())
    if status is not None:
        query = query.where(FailedRecordRow.status == FailureStatus(status).value)
    if system is not None:
        query = query.where(FailedRecordRow.system == system)
    if remote_object is not None:
        query = query.where(FailedRecordRow.remote_object == remote_object)
    if error_code is not None:
        query = query.where(FailedRecordRow.error_code == error_code)
    if since is not None:
        query = query.where(FailedRecordRow.last_seen >= since)
    if limit is not None:
        query = query.limit(limit)
    return [FailedRecord.model_validate(row) for row in session.scalars(query)]


def _close(
    session: Session, failure_id: int, status: FailureStatus, resolution: str, now: datetime | None
) -> FailedRecord:
    row = session.get(FailedRecordRow, failure_id)
    if row is None:
        msg = f"no failed record with id {failure_id}"
        raise UsageError(msg)
    if row.status != FailureStatus.open.value:
        msg = f"failed record {failure_id} is already {row.status}"
        raise UsageError(msg)
    row.status = status.value
    row.resolution = resolution
    row.resolved_at = now or utcnow()
    session.flush()
    return FailedRecord.model_validate(row)


def resolve_failure(
    session: Session, failure_id: int, resolution: str, *, now: datetime | None = None
) -> FailedRecord:
    """Mark a failure fixed (a replay succeeded, or someone corrected the data)."""
    return _close(session, failure_id, FailureStatus.resolved, resolution, now)


def discard_failure(
    session: Session, failure_id: int, reason: str, *, now: datetime | None = None
) -> FailedRecord:
    """Give up on a failure on purpose; ``reason`` is kept for the audit trail."""
    return _close(session, failure_id, FailureStatus.discarded, reason, now)


def resolve_open_failures(
    session: Session,
    *,
    system: str,
    remote_object: str,
    record_keys: Sequence[str],
    operation: Operation | str,
    resolution: str,
    now: datetime | None = None,
) -> int:
    """Close the open failures of records that have now gone through; returns how many.

    Every written batch calls this, and almost always nothing is open: one
    probe of the open-failures index answers that before the keys are looked up.
    """
    return len(close_open_failures(session, system=system, remote_object=remote_object, record_keys=record_keys,
                                   operation=operation, resolution=resolution, now=now))


def close_open_failures(
    session: Session,
    *,
    system: str,
    remote_object: str,
    record_keys: Sequence[str],
    operation: Operation | str,
    resolution: str,
    now: datetime | None = None,
) -> list[FailedRecord]:
    """``resolve_open_failures``, returning the failures it closed (for an audit entry each)."""
    now = now or utcnow()
    closed: list[FailedRecord] = []
    open_here = (
        FailedRecordRow.system == system,
        FailedRecordRow.remote_object == remote_object,
        FailedRecordRow.operation == Operation(operation).value,
        FailedRecordRow.status == FailureStatus.open.value,
    )
    if not record_keys or session.scalar(select(FailedRecordRow.id).where(*open_here).limit(1)) is None:
        return closed
    for part in chunks(list(dict.fromkeys(record_keys))):
        query = select(FailedRecordRow).where(*open_here, FailedRecordRow.record_key.in_(part))
        for row in session.scalars(query):
            row.status = FailureStatus.resolved.value
            row.resolution = resolution
            row.resolved_at = now
            closed.append(FailedRecord.model_validate(row))
    session.flush()
    return closed


def count_open(session: Session, *, system: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(FailedRecordRow)
        .where(FailedRecordRow.status == FailureStatus.open.value)
    )
    if system is not None:
        query = query.where(FailedRecordRow.system == system)
    return session.scalar(query) or 0


def oldest_open_age(session: Session, *, now: datetime | None = None) -> timedelta | None:
    """How long the oldest open failure has been waiting; None when the queue is empty."""
    query = select(func.min(FailedRecordRow.first_seen)).where(
        FailedRecordRow.status == FailureStatus.open.value
    )
    oldest = session.scalar(query)
    return None if oldest is None else (now or utcnow()) - oldest
