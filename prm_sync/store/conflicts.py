"""Conflict-check results for deal registrations, kept as history.

Each check is a new row: the latest one drives the registration's decision,
the earlier ones explain how it got there (a conflicting deal that closed,
a customer renamed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from prm_sync.model import ConflictDecision, utcnow
from prm_sync.store.orm import ConflictCheckRow
from prm_sync.store.types import jsonable


class ConflictCheck(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    id: int | None = None  # assigned by the database
    registration_id: str
    checked_at: datetime = Field(default_factory=utcnow)
    decision: ConflictDecision
    score: float | None = None
    matches: list[Any] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


def save_conflict_check(session: Session, check: ConflictCheck) -> ConflictCheck:
    values = check.model_dump(exclude={"id"})
    values["matches"] = jsonable(values["matches"])
    row = ConflictCheckRow(**values)
    session.add(row)
    session.flush()
    return ConflictCheck.model_validate(row)


def save_conflict_checks(session: Session, checks: Sequence[ConflictCheck]) -> None:
    """Many checks in one executemany (a run checks what it pulled: thousands at a time)."""
    rows = []
    for check in checks:
        values = check.model_dump(exclude={"id"})
        values["matches"] = jsonable(values["matches"])
        rows.append(values)
    if rows:
        session.execute(insert(ConflictCheckRow.__table__), rows)


def conflict_checks(session: Session, registration_id: str, limit: int | None = None) -> list[ConflictCheck]:
    """A registration's checks, newest first."""
    query = (
        select(ConflictCheckRow)
        .where(ConflictCheckRow.registration_id == registration_id)
        .order_by(ConflictCheckRow.checked_at.desc(), ConflictCheckRow.id.desc())
        .limit(limit)
    )
    return [ConflictCheck.model_validate(row) for row in session.scalars(query)]


def latest_conflict_check(session: Session, registration_id: str) -> ConflictCheck | None:
    found = conflict_checks(session, registration_id, limit=1)
    return found[0] if found else None
