"""Audit entries for rule decisions: who decided what, when, and why.

Every rule that changes a record writes one entry through here, with the
rule's name and a sentence a channel manager can read, so "why is this
registration expired?" is answered from the audit log alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from prm_sync.store.audit import AuditEntry, append_audit

RULES_ACTOR = "prm-sync.rules"


def record_decision(session: Session, **fields: Any) -> None:
    """Append one audit entry (the fields of ``decision_entry``); ``before``/``after`` hold only the
    fields the rule changed."""
    append_audit(session, [decision_entry(**fields)])


def decision_entry(
    *,
    action: str,
    entity: str,
    record_id: str,
    rule: str,
    reason: str,
    now: datetime,
    actor: str = RULES_ACTOR,
    run_id: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """The entry ``record_decision`` appends, for a rule that appends many at once."""
    return AuditEntry(
        at=now, run_id=run_id, actor=actor, action=action, entity=entity, record_id=record_id, rule=rule, reason=reason,
        fields_before=dict(before) if before is not None else None,
        fields_after=dict(after) if after is not None else None,
    )


def changed_fields(before: Any, after: Any, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The subset of ``names`` whose value differs between two records, as (before, after)."""
    old = {n: getattr(before, n) for n in names if getattr(before, n) != getattr(after, n)}
    new = {n: getattr(after, n) for n in old}
    return old, new
