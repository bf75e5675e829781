"""The audit log read as field-level provenance: who set which field, to what, from where, under which rule.

``prm-sync audit RECORD`` answers "why does Salesforce say Gold?" with one
sentence per field ("Salesforce Account.Partner_Tier__c was set to Gold by
run R at T from PRM field tier under rule prefer_prm"). The sentences are
built from what the engine stores per audit entry: ``provenance`` maps each
remote field to the PRM field and rule behind it (plus the value the remote
received, ``remote_value``), ``fields_after`` holds the canonical values.
A push's entries come from its batch (``push_batch``) and name
``remote_value`` for every field; rows of ``audit_log`` written between the
compact-rows change and migration 0009 name it only where it differs from
``fields_after[prm_field]``, so a missing one is read from ``fields_after``.
A ``push.create`` entry's ``fields_before`` has no null values, which read
as blank all the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from prm_sync.store.audit import AuditEntry, query_audit

SYSTEM_NAMES = {"salesforce": "Salesforce", "hubspot": "HubSpot", "lms": "LMS", "erp": "ERP"}


class ProvenanceLine(BaseModel):
    """One field change (or one non-field event) with its origin."""

    at: datetime
    run_id: str | None
    actor: str
    action: str
    system: str | None
    remote_object: str | None
    entity: str | None
    record_id: str | None
    remote_id: str | None
    remote_field: str | None = None
    prm_field: str | None = None
    value: Any = None
    rule: str | None = None
    decision: str | None = None
    text: str


def _system(name: str | None) -> str:
    return SYSTEM_NAMES.get(name or "", name or "prm-sync")


def _show(value: Any) -> str:
    return "(blank)" if value is None or value == "" else str(value)


def _when(entry: AuditEntry) -> str:
    run = f"run {entry.run_id}" if entry.run_id else entry.actor
    return f"by {run} at {entry.at.isoformat(timespec='seconds')}"


def _rule(info: dict[str, Any], entry: AuditEntry) -> str:
    rule = info.get("rule") or entry.rule
    decision = info.get("decision")
    text = f"rule {rule}" if rule else "no rule"
    if decision and decision not in ("to_remote", "from_remote"):
        text += f" ({decision})"
    return text


def field_lines(entry: AuditEntry) -> list[ProvenanceLine]:
    """Sentences for one audit entry: one per field it changed, else one for the event."""
    base = entry.model_dump(include={"at", "run_id", "actor", "action", "system", "remote_object", "entity",
                                     "record_id", "remote_id"})
    after = entry.fields_after or {}
    lines: list[ProvenanceLine] = []
    target = f"{_system(entry.system)} {entry.remote_object}"
    for remote_field, info in sorted((entry.provenance or {}).items()):
        if not isinstance(info, dict):
            continue
        prm_field = info.get("prm_field")
        if entry.action.startswith("push."):
            value = info.get("remote_value", after.get(prm_field))
            text = (f"{target}.{remote_field} was set to {_show(value)} {_when(entry)} "
                    f"from PRM field {prm_field} under {_rule(info, entry)}")
        else:
            value = after.get(prm_field)
            text = (f"PRM {entry.entity}.{prm_field} was set to {_show(value)} {_when(entry)} "
                    f"from {target}.{remote_field} under {_rule(info, entry)}")
        lines.append(ProvenanceLine(**base, remote_field=remote_field, prm_field=prm_field, value=value,
                                    rule=info.get("rule") or entry.rule, decision=info.get("decision"), text=text))
    if lines:
        return lines
    return [ProvenanceLine(**base, rule=entry.rule, text=_event_text(entry))]


def _event_text(entry: AuditEntry) -> str:
    """Entries without field provenance: deletes, replays, review decisions, rule actions."""
    who = _when(entry) if entry.run_id else f"by {entry.actor} at {entry.at.isoformat(timespec='seconds')}"
    changes = ", ".join(
        f"{name}: {_show((entry.fields_before or {}).get(name))} -> {_show(value)}"
        for name, value in sorted((entry.fields_after or {}).items())
    )
    subject = f"{_system(entry.system)} {entry.remote_object or entry.entity or ''}".strip()
    text = f"{entry.action} on {subject} {who}"
    if changes:
        text += f" ({changes})"
    if entry.reason:
        text += f": {entry.reason}"
    return text


def provenance(session: Session, record: str, *, limit: int = 200) -> list[ProvenanceLine]:
    """Every audited change of ``record`` (a PRM id or a remote id), newest first."""
    def key(e: AuditEntry) -> tuple[Any, ...]:  # a push entry of a batch has no id of its own
        return (e.id, e.batch_id, e.record_id, e.system, e.remote_id)

    entries = {key(e): e for e in query_audit(session, record_id=record, limit=limit)}
    entries.update({key(e): e for e in query_audit(session, remote_id=record, limit=limit)})
    ordered = sorted(entries.values(), key=lambda e: (e.at, e.id or 0, e.batch_id or 0), reverse=True)[:limit]
    return [line for entry in ordered for line in field_lines(entry)]
