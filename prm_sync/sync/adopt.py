"""Adopting an existing org: plan who each CRM record is before anything is written.

A vendor that starts with prm-sync already has hundreds of partner accounts.
``plan_adoption`` reads each CRM's records of a keyed slice (``read_all``
with the mapping's filter) and decides, with the sync's own resolver
(``prm_sync.sync.identity``), what each becomes: already linked, matched by
its PRM id, matched by its natural key, a new PRM record (``on_unmatched:
adopt``), or ambiguous / unmatched (reported, never guessed). Records the
plan creates count for the records after them, so two accounts for one new
partner are caught within the plan. The CLI prints the plan, then applies it
with a full sync of that entity: the pull makes the same decisions and the
push writes the PRM ids back (and the partners to the other CRM).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from prm_sync.errors import PrmSyncError
from prm_sync.model import ENTITIES
from prm_sync.store.db import Store
from prm_sync.sync import repo
from prm_sync.sync.identity import KeyIndex, resolve, summary_of
from prm_sync.sync.slice import Slice

ACTIONS = {"prm_id": "match by PRM id", "alias": "match (merged id)", "natural_key": "match by natural key",
           "new": "create PRM record", "linked": "already linked", "ambiguous": "ambiguous: for a person",
           "linked_elsewhere": "taken: for a person", "unknown_prm_id": "unknown PRM id: for a person",
           "unmatched": "unmatched: for a person", "invalid": "unreadable", "ignored": "ignored (policy)"}


class AdoptionRow(BaseModel):
    system: str
    entity: str
    remote_id: str
    summary: str
    action: str  # linked | prm_id | alias | natural_key | new | ambiguous | linked_elsewhere | unmatched | ...
    record_id: str | None = None
    detail: str = ""
    candidates: list[str] = Field(default_factory=list)


class AdoptionPlan(BaseModel):
    rows: list[AdoptionRow] = Field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for row in self.rows:
            bucket = out.setdefault(f"{row.system}/{row.entity}", {})
            bucket[row.action] = bucket.get(row.action, 0) + 1
        return out

    @property
    def for_review(self) -> list[AdoptionRow]:
        return [r for r in self.rows if r.action in ("ambiguous", "linked_elsewhere", "unknown_prm_id", "unmatched")]


def plan_adoption(store: Store, slices: list[Slice], connectors: dict[str, Any]) -> AdoptionPlan:
    """Every record of these slices, as the sync would take it; nothing is written."""
    plan = AdoptionPlan()
    index = KeyIndex()
    claimed: dict[tuple[str, str], set[str]] = {}
    with store.session(readonly=True) as session:
        for sl in slices:
            taken = claimed.setdefault((sl.system, sl.entity), set())
            remote = list(connectors[sl.system].read_all(sl.remote_object, sl.mapping.remote_fields_to_read(),
                                                          where=sl.filter))
            states = repo.states_by_remote(session, sl.system, sl.remote_object, [r.id for r in remote])
            for record in remote:
                try:
                    values = sl.mapping.from_remote(record.fields)
                except (PrmSyncError, ValueError, TypeError) as exc:
                    plan.rows.append(AdoptionRow(system=sl.system, entity=sl.entity, remote_id=record.id, summary="",
                                                 action="invalid", detail=str(exc)))
                    continue
                row = AdoptionRow(system=sl.system, entity=sl.entity, remote_id=record.id, summary=summary_of(values),
                                  action="linked")
                state = states.get(record.id)
                if state is not None and state.entity == sl.entity and not state.remote_deleted:
                    row.record_id = state.record_id
                    taken.add(state.record_id)
                    plan.rows.append(row)
                    continue
                who = resolve(session, entity=sl.entity, system=sl.system, remote_id=record.id,
                              key=record.fields.get(sl.key_field), values=values, spec=sl.mapping.spec, index=index,
                              claimed=taken)
                row.action, row.record_id, row.detail, row.candidates = who.how, who.record_id, who.detail, who.candidates
                if who.decided and who.record_id:
                    taken.add(who.record_id)
                    if who.how == "new":
                        try:
                            index.add(ENTITIES[sl.entity].model_validate(
                                {k: v for k, v in values.items() if v is not None} | {"id": who.record_id}))
                        except ValidationError as exc:
                            row.action, row.record_id = "invalid", None
                            row.detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                plan.rows.append(row)
    return plan
