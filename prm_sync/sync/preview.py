"""What a dry run would change, record by record and field by field, in both directions and by the rules.

A dry run is the real run inside one transaction that is rolled back at the
end (``RunContext.transaction``): pulls apply the remotes' changes to the
store, the channel rules run over them, pushes plan their writes, and
nothing is committed, sent or moved (no cursor, no remote write). Along the
way the steps note their changes here: ``pull`` (remote -> PRM store),
``rule`` (what the channel rules decided: a tier, a conflict decision, a
registration status, the write-back onto an opportunity; read back from the
audit entries the rules wrote in that same transaction) and ``push``
(PRM -> remote, per remote field as the payload carries it). At most
``sample`` records per step are kept; the rest are counted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy.orm import Session

from prm_sync.rules.recording import RULES_ACTOR
from prm_sync.store.audit import query_audit
from prm_sync.store.types import jsonable

Direction = Literal["pull", "rule", "push"]
DEFAULT_SAMPLE = 50


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class RecordChange(BaseModel):
    direction: Direction
    system: str | None = None  # None for a rule
    entity: str
    record_id: str
    remote_id: str | None = None
    action: str  # create, update, delete, or the rule's action (partner.tier, registration.conflict...)
    changes: list[FieldChange] = Field(default_factory=list)
    rule: str | None = None
    reason: str | None = None


class Preview(BaseModel):
    sample: int = DEFAULT_SAMPLE
    changes: list[RecordChange] = Field(default_factory=list)
    omitted: dict[str, int] = Field(default_factory=dict)  # "push salesforce/partner" -> records not listed

    _kept: dict[str, int] = PrivateAttr(default_factory=dict)

    def _keep(self, change: RecordChange) -> None:
        key = f"{change.direction} {change.system or 'rules'}/{change.entity}"
        if self._kept.get(key, 0) < self.sample:
            self._kept[key] = self._kept.get(key, 0) + 1
            self.changes.append(change)
        else:
            self.omitted[key] = self.omitted.get(key, 0) + 1

    def pull(self, system: str, entity: str, record_id: str, remote_id: str, action: str,
             before: dict[str, Any], after: dict[str, Any]) -> None:
        fields = [FieldChange(field=f, before=jsonable(before.get(f)), after=jsonable(after.get(f))) for f in after]
        self._keep(RecordChange(direction="pull", system=system, entity=entity, record_id=record_id,
                                remote_id=remote_id, action=action, changes=fields))

    def push(self, system: str, entity: str, record_id: str, remote_id: str | None, action: str,
             changes: dict[str, tuple[Any, Any]]) -> None:
        fields = [FieldChange(field=f, before=jsonable(b), after=jsonable(a)) for f, (b, a) in changes.items()]
        self._keep(RecordChange(direction="push", system=system, entity=entity, record_id=record_id,
                                remote_id=remote_id, action=action, changes=fields))

    def rules(self, session: Session, run_id: str) -> None:
        """The rules' decisions in this (uncommitted) run, from the audit entries they wrote, oldest first."""
        entries = [e for e in query_audit(session, run_id=run_id, limit=None) if e.actor == RULES_ACTOR]
        for entry in reversed(entries):
            before, after = entry.fields_before or {}, entry.fields_after or {}
            fields = [FieldChange(field=f, before=before.get(f), after=after.get(f)) for f in dict.fromkeys([*before, *after])]
            self._keep(RecordChange(direction="rule", entity=entry.entity or "", record_id=entry.record_id or "",
                                    action=entry.action, changes=fields, rule=entry.rule, reason=entry.reason))

    def count(self, direction: Direction) -> int:
        listed = sum(1 for c in self.changes if c.direction == direction)
        return listed + sum(n for key, n in self.omitted.items() if key.startswith(direction + " "))
