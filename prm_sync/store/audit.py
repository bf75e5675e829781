"""The audit log: every change prm-sync made, with the mapping and rule that made it.

Entries are append-only. ``provenance`` maps each remote field to the PRM
field and rule it came from, so "why does Salesforce say Gold?" has an answer
long after the run that wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store import bulk
from prm_sync.store.orm import AuditLogRow
from prm_sync.store.types import jsonable


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = None  # assigned by the database
    at: datetime = Field(default_factory=utcnow)
    run_id: str | None = None
    actor: str = "prm-sync"
    action: str  # e.g. push.upsert, pull.update, review.resolve
    system: str | None = None
    remote_object: str | None = None
    entity: str | None = None
    record_id: str | None = None
    remote_id: str | None = None
    mapping_version: str | None = None
    rule: str | None = None
    fields_before: dict[str, Any] | None = None
    fields_after: dict[str, Any] | None = None
    # remote field -> {"prm_field": ..., "rule": ..., "decision": ...}, plus "remote_value" when the remote
    # got something other than fields_after[prm_field] (older push entries name it for every field)
    provenance: dict[str, Any] | None = None
    reason: str | None = None


def append_audit(session: Session, entries: Sequence[AuditEntry]) -> None:
    rows = []
    for entry in entries:
        values = entry.model_dump(exclude={"id"})
        for name in ("fields_before", "fields_after", "provenance"):
            values[name] = jsonable(values[name])
        rows.append(values)
    if rows:  # one executemany: a sync batch writes hundreds of entries at once
        session.execute(insert(AuditLogRow.__table__), rows)  # Core: no ORM bulk bookkeeping per row


def append_audit_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """``append_audit`` for plain rows (every ``AuditEntry`` field but ``id``), the sync's commit path."""
    bulk.insert_rows(session, AuditLogRow.__table__, rows)


def query_audit(
    session: Session,
    *,
    record_id: str | None = None,
    remote_id: str | None = None,
    entity: str | None = None,
    system: str | None = None,
    run_id: str | None = None,
    since: datetime | None = None,
    limit: int | None = 100,
) -> list[AuditEntry]:
    """Matching entries, newest first."""
    query = select(AuditLogRow).order_by(AuditLogRow.at.desc(), AuditLogRow.id.desc())
    filters = {
        AuditLogRow.record_id: record_id,
        AuditLogRow.remote_id: remote_id,
        AuditLogRow.entity: entity,
        AuditLogRow.system: system,
        AuditLogRow.run_id: run_id,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditLogRow.at >= since)
    if limit is not None:
        query = query.limit(limit)
    return [AuditEntry.model_validate(row) for row in session.scalars(query)]
