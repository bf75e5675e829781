"""``--repair``: hand the differences to the sync engine, in the engine's own terms.

Reconcile never writes to a system itself. The engine decides what to write
from two things: the link state (the values both sides last agreed on) and
the cursor (where its next read starts). A repair only edits those two and
then runs the engine, so channel rules, the write ledger, audit, failures
and field rules apply exactly as in any sync:

- the PRM should win (a field we write, or a two-way field whose rule
  prefers the PRM): forget the agreed PRM value of that field, so the push
  sees a PRM change and writes it; the record is queued for the push;
- the system should win (a field we only read, or a two-way field changed
  only remotely, or whose rule prefers the remote): forget the agreed remote
  value and reset that object's cursor, so the next read is a full re-read
  that sees a remote change and takes it;
- both changed, or the rule is ``newest`` / ``review``: forget both, re-read
  and push; the engine's pull settles it by the field's rule (a review item
  for ``review``), the push writes the winner;
- a record of ours missing remotely: forget its agreed values and push (the
  upsert by our key re-creates it; a delete the engine has seen is kept);
  unlinked records are pushed (the upsert finds and links them);
- a system-owned record missing on either side: re-read the object;
- a linked record a user merged into another (``merged``): re-read the object
  from the start, deletes included, so the engine's merge handling follows it
  (one PRM record, or a review item) instead of re-creating the loser; that
  run covers every entity, since the loser's contacts and deals move too;
- orphans, duplicates and unkeyed records are left for a person.

Everything is one ``SyncEngine.run`` (``trigger="reconcile"``) over the
affected entities and every reconciled system. It is deliberately not a
``record_ids`` run: a value re-read from Salesforce must also reach HubSpot
in the same run, and the push writes only records that differ from their
agreed state anyway. Every state edit is audited as ``reconcile.reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from prm_sync.errors import RunInProgress
from prm_sync.mapping.apply import ObjectMapping
from prm_sync.model import CanonicalRecord
from prm_sync.reconcile.models import MANUAL_KINDS, Difference, RepairSummary
from prm_sync.reconcile.snapshot import encode, is_keyed
from prm_sync.store import audit as audit_store
from prm_sync.store import locks, records, state
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.linkstate import pack_snapshot, unpack_snapshot
from prm_sync.sync.values import normalize

ALL = "*"
REMOTE_RULES = ("prefer_remote", "prefer_remote_unless_blank")


@dataclass
class RepairPlan:
    push: dict[str, set[str]] = field(default_factory=dict)  # entity -> PRM ids to push
    reread: set[tuple[str, str, str]] = field(default_factory=set)  # (system, remote_object, entity)
    # (system, entity, record_id) -> (agreed PRM fields to forget, agreed remote fields to forget)
    forget: dict[tuple[str, str, str], tuple[set[str], set[str]]] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)  # "system/entity" -> count, for the report
    reasons: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    manual: int = 0
    merges: int = 0  # merges the PRM has not followed: the repair run covers every entity (contacts follow too)

    def queue_push(self, system: str, entity: str, record_id: str) -> None:
        ids = self.push.setdefault(entity, set())
        if record_id not in ids:
            ids.add(record_id)
        key = f"{system}/{entity}"
        self.pushed[key] = self.pushed.get(key, 0) + 1

    def forget_fields(self, system: str, entity: str, record_id: str, prm: set[str], remote: set[str]) -> None:
        have = self.forget.setdefault((system, entity, record_id), (set(), set()))
        have[0].update(prm)
        have[1].update(remote)

    @property
    def empty(self) -> bool:
        return not self.push and not self.reread


def _winner(
    mapping: ObjectMapping, diff: Difference, current: state.SyncState | None, record: CanonicalRecord | None
) -> str:
    """'prm', 'remote' or 'both' (let the engine's rule settle it) for one drifted field."""
    spec = next((f for f in mapping.fields if f.prm == diff.field), None)
    direction = spec.direction if spec else "both"
    if direction == "to_remote":
        return "prm"
    if direction == "from_remote":
        return "remote"
    agreed_remote, agreed_prm = unpack_snapshot(current.snapshot if current else None)  # compact or full
    remote_changed = encode(agreed_remote.get(diff.field)) != diff.remote_value
    prm_now = normalize(getattr(record, str(diff.field), None)) if record is not None else None
    prm_changed = agreed_prm.get(diff.field) != prm_now
    if remote_changed and prm_changed:
        return "both"
    if prm_changed:
        return "prm"
    if remote_changed:
        return "remote"
    # both sides claim the agreed value and still differ: the field's rule decides
    rule = spec.rule if spec else mapping.default_rule
    if rule in REMOTE_RULES:
        return "prm" if rule == "prefer_remote_unless_blank" and diff.remote_value is None else "remote"
    if rule in ("newest", "review"):
        return "both"
    return "prm"


def plan_repair(session: Session, diffs: list[Difference], mappings: dict[tuple[str, str], ObjectMapping]) -> RepairPlan:
    plan = RepairPlan()
    wanted: dict[tuple[str, str], set[str]] = {}
    for d in diffs:
        if d.kind == "field_drift" and d.record_id:
            wanted.setdefault((d.system, d.entity), set()).add(d.record_id)
    states: dict[tuple[str, str], dict[str, state.SyncState]] = {}
    recs: dict[tuple[str, str], dict[str, CanonicalRecord]] = {}
    for (system, entity), ids in wanted.items():
        states[(system, entity)] = state.get_states(session, entity, system, sorted(ids))
        recs[(system, entity)] = {r.id: r for r in records.list_records(session, entity, ids=sorted(ids))}
    for d in diffs:
        mapping = mappings.get((d.system, d.entity))
        if mapping is None or d.action == "none":
            continue
        if d.kind in MANUAL_KINDS:
            plan.manual += 1
            continue
        key = (d.system, d.entity, d.record_id or "")
        plan.reasons.setdefault(key, []).append(d.kind if d.field is None else f"{d.kind}:{d.field}")
        reread = (d.system, mapping.remote_object, d.entity)
        if d.kind == "field_drift" and d.record_id:
            current = states.get((d.system, d.entity), {}).get(d.record_id)
            record = recs.get((d.system, d.entity), {}).get(d.record_id)
            winner = _winner(mapping, d, current, record)
            field_name = str(d.field)
            plan.forget_fields(d.system, d.entity, d.record_id, {field_name} if winner != "remote" else set(),
                               {field_name} if winner != "prm" else set())
            if winner != "remote":
                plan.queue_push(d.system, d.entity, d.record_id)
            if winner != "prm":
                plan.reread.add(reread)
        elif d.kind in ("missing_remote", "unlinked") and is_keyed(mapping) and d.record_id:
            if d.kind == "missing_remote" and d.remote_id:
                plan.forget_fields(d.system, d.entity, d.record_id, {ALL}, set())
            plan.queue_push(d.system, d.entity, d.record_id)
        else:  # merged away, or system-owned records missing on either side: the engine reads it again
            plan.merges += d.kind == "merged"
            plan.reread.add(reread)
    return plan


def _forget(session: Session, plan: RepairPlan, run_id: str) -> int:
    """Clear the agreed values the plan names, audited; returns how many link states changed."""
    by_slice: dict[tuple[str, str], list[str]] = {}
    for system, entity, record_id in plan.forget:
        by_slice.setdefault((system, entity), []).append(record_id)
    changed: list[state.SyncState] = []
    entries: list[audit_store.AuditEntry] = []
    for (system, entity), ids in by_slice.items():
        for record_id, current in state.get_states(session, entity, system, ids).items():
            prm_fields, remote_fields = plan.forget[(system, entity, record_id)]
            agreed_remote, agreed_prm = unpack_snapshot(current.snapshot)  # compact (no "prm") or full
            prm = {} if ALL in prm_fields else {k: v for k, v in agreed_prm.items() if k not in prm_fields}
            remote = {k: v for k, v in agreed_remote.items() if k not in remote_fields}
            others = {k: v for k, v in (current.snapshot or {}).items() if k not in ("remote", "prm")}
            changed.append(current.model_copy(update={  # no record_version: the push looks at it again
                "snapshot": {**others, **pack_snapshot(remote, prm)}, "record_version": None}))
            entries.append(audit_store.AuditEntry(
                run_id=run_id, actor="prm-sync reconcile", action="reconcile.reset", system=system,
                remote_object=current.remote_object, entity=entity, record_id=record_id, remote_id=current.remote_id,
                reason="; ".join(sorted(set(plan.reasons.get((system, entity, record_id), [])))),
                fields_before={"forget_prm": sorted(prm_fields), "forget_remote": sorted(remote_fields)},
            ))
    if changed:
        state.set_states(session, changed)
        audit_store.append_audit(session, entries)
    return len(changed)


def apply_repair(runtime: Any, plan: RepairPlan, systems: list[str], run_id: str, stale_after_seconds: int) -> RepairSummary:
    """Edit link states and cursors, then run the engine once over exactly the affected records."""
    summary = RepairSummary(
        pushed=dict(sorted(plan.pushed.items())), reread=sorted("/".join(r) for r in plan.reread), manual=plan.manual
    )
    if plan.empty:
        return summary
    # a merge followed moves contacts, registrations and deals to the survivor: they go out in the same run
    entities = None if plan.merges else sorted(set(plan.push) | {entity for _, _, entity in plan.reread})
    engine = runtime.engine(systems)
    scopes = engine.lock_scopes(SyncScope(systems=systems, entities=entities))
    # the slices are the repair's while it edits their link states and cursors: a sync that started
    # after a mere check would write beside the edit (PostgreSQL does not serialise the two transactions)
    try:
        held = locks.take_locks(runtime.store, scopes, run_id, timedelta(seconds=stale_after_seconds),
                                heartbeat=False)
    except RunInProgress as exc:
        msg = f"a sync run is in progress ({exc}); repair once it has finished"
        raise RunInProgress(msg) from None
    try:
        with runtime.store.session() as session:
            held.fence(session)
            summary.states_reset = _forget(session, plan, run_id)
            for system, remote_object, entity in sorted(plan.reread):
                state.reset_cursors(session, system=system, remote_object=remote_object, entity=entity)
    finally:
        held.close()
    # a normal run over the affected entities, not a record_ids run: a value re-read from one
    # system must still reach the others, and the push only writes records that differ from
    # their agreed state (the ones reset above, plus anything else already pending)
    report = engine.run(SyncScope(systems=systems, entities=entities), trigger="reconcile")
    summary.run_id = report.run_id
    summary.status = report.status
    summary.totals = report.totals()
    return summary
