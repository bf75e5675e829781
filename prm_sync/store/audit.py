"""The audit log: every change prm-sync made, with the mapping and rule that made it.

Entries are append-only. ``provenance`` maps each remote field to the PRM
field and rule it came from, so "why does Salesforce say Gold?" has an answer
long after the run that wrote it.

A push's entries are kept per written batch (``push_batch``, see
``PushBatchRow``); everything else (pulls, deletes, rules, reviews) and the
pushes of stores older than migration 0009 are rows of ``audit_log``.
``query_audit`` reads both and answers in one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from prm_sync.model import utcnow
from prm_sync.store.orm import AuditLogRow
from prm_sync.store.push_batches import PushItem, push_items
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
    # remote field -> {"prm_field": ..., "rule": ..., "decision": ...}, plus "remote_value": what the remote
    # got (push entries of audit_log rows from before 0009 name it only where it differs from fields_after)
    provenance: dict[str, Any] | None = None
    reason: str | None = None
    batch_id: int | None = None  # a push entry read from ``push_batch`` (its ``id`` is None)


def _from_push(item: PushItem) -> AuditEntry:
    """A push's audit entry, rebuilt from its batch: the shared provenance plus the record's own values."""
    provenance: dict[str, Any] = {}
    for name in item.after:
        shared = item.provenance.get(name)
        if shared is None:
            continue
        remote_name, rule = shared
        entry: dict[str, Any] = {"prm_field": name, "rule": rule, "decision": "to_remote"}
        if remote_name in item.payload:
            entry["remote_value"] = item.payload[remote_name]
        provenance[remote_name] = entry
    return AuditEntry(
        at=item.at, run_id=item.run_id, action="push.create" if item.created else "push.update", system=item.system,
        remote_object=item.remote_object, entity=item.entity, record_id=item.record_id, remote_id=item.remote_id,
        mapping_version=item.mapping_version, rule="to_remote" if item.after else None, fields_before=item.before,
        fields_after=item.after, provenance=provenance, batch_id=item.batch_id,
    )


def append_audit(session: Session, entries: Sequence[AuditEntry]) -> None:
    rows = []
    for entry in entries:
        values = entry.model_dump(exclude={"id", "batch_id"})
        for name in ("fields_before", "fields_after", "provenance"):
            values[name] = jsonable(values[name])
        rows.append(values)
    if rows:  # one executemany: a sync batch writes hundreds of entries at once
        session.execute(insert(AuditLogRow.__table__), rows)  # Core: no ORM bulk bookkeeping per row


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
    """Matching entries, newest first: ``audit_log`` rows and the push entries of ``push_batch``."""
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
    entries = [AuditEntry.model_validate(row) for row in session.scalars(query)]
    pushes = push_items(session, record_ids=None if record_id is None else [record_id], remote_id=remote_id,
                        entity=entity, system=system, run_id=run_id, since=since, limit=limit)
    if not pushes:
        return entries
    entries.extend(_from_push(item) for item in pushes)
    entries.sort(key=lambda e: (e.at, e.id or 0, e.batch_id or 0), reverse=True)
    return entries if limit is None else entries[:limit]
