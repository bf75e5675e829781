"""Fix a failed record and replay it in one step: ``prm-sync failures fix 42 --set tier=gold``.

Only records the PRM owns can be fixed here: a push failure is keyed by the
PRM id, so the fix is a change to the PRM record (validated by its model,
audited with the acting user) followed by the normal replay. A read failure
is about the remote record; it is fixed in the CRM and then replayed.

``dry_run`` applies the change in a transaction that is rolled back and plans
the push there, so the preview shows the payload the replay would send and
whether it differs from the one that failed.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from prm_sync.errors import UsageError
from prm_sync.model import ENTITIES, CanonicalRecord, new_id, utcnow
from prm_sync.replay import (
    PUSH_OPERATIONS,
    ReplayReport,
    ReplaySelection,
    payload_changes,
    replay_failures,
    slice_for,
)
from prm_sync.runtime import Runtime
from prm_sync.store import audit as audit_store
from prm_sync.store import failures as failure_store
from prm_sync.store import records as record_store
from prm_sync.store.failures import FailedRecord, FailureStatus
from prm_sync.sync.context import RunContext
from prm_sync.sync.push import plan_push
from prm_sync.sync.slice import Slice


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any


class FixReport(BaseModel):
    failure_id: int
    entity: str
    record_id: str
    system: str
    remote_object: str
    dry_run: bool
    changes: list[FieldChange]
    payload: dict[str, Any] | None = None  # what the replay sends (a preview only)
    payload_changes: dict[str, list[Any]] | None = None  # vs the payload that failed ([failed, now])
    invalid: str | None = None  # the mapping cannot map the fixed record (a preview only)
    replay: ReplayReport | None = None


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["tier=gold", "name=Acme GmbH"]`` -> a dict; a malformed item is a ``UsageError``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            msg = f"--set {item!r}: expected FIELD=VALUE, e.g. --set tier=gold"
            raise UsageError(msg)
        out[name.strip()] = value
    return out


def _fixable(runtime: Runtime, failure_id: int) -> tuple[FailedRecord, Slice]:
    with runtime.store.session(readonly=True) as session:
        failure = failure_store.get_failure(session, failure_id)
    if failure is None:
        msg = f"no failed record with id {failure_id} (see `prm-sync failures list --status all`)"
        raise UsageError(msg)
    if failure.status != FailureStatus.open.value:
        msg = f"failed record {failure_id} is already {failure.status}"
        raise UsageError(msg)
    if str(failure.operation) not in PUSH_OPERATIONS or not failure.entity:
        msg = (f"failed record {failure_id} was read from {failure.system} ({failure.remote_object} "
               f"{failure.record_key}): fix the record in {failure.system}, then `prm-sync failures replay {failure_id}`")
        raise UsageError(msg)
    sl = slice_for(runtime, failure.system, failure.remote_object, failure.entity)
    if sl is None:
        msg = f"failed record {failure_id}: no mapping for {failure.system} {failure.remote_object} any more"
        raise UsageError(msg)
    return failure, sl


def _check_fields(sl: Slice, entity: str, assignments: dict[str, str]) -> None:
    known = set(ENTITIES[entity].model_fields) - {"id", "external_ids", "created_at", "updated_at"}
    for name in assignments:
        if name in known:
            continue
        prm = next((f.prm for f in sl.flows if name in (f.remote, *sl.remote_names_for(f.prm))), None)
        if prm is not None:
            msg = f"--set {name}: that is the {sl.system} field; name the PRM field it comes from: --set {prm}=..."
        else:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            msg = f"--set {name}: {entity} has no such field" + (f" (did you mean {close[0]}?)" if close else "")
        raise UsageError(msg)


def _updated(record: CanonicalRecord, assignments: dict[str, str]) -> CanonicalRecord:
    try:
        return type(record).model_validate({**record.model_dump(), **assignments, "updated_at": utcnow()})
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        msg = f"--set: not a valid {record.entity}: {problem}"
        raise UsageError(msg) from None


def fix_failure(
    runtime: Runtime, failure_id: int, assignments: dict[str, str], *, dry_run: bool = False, replay: bool = True,
    actor: str = "cli",
) -> FixReport:
    """Change the failed record's PRM fields, then replay it (or, ``dry_run``, preview both)."""
    if not assignments:
        raise UsageError("name at least one change: --set FIELD=VALUE")
    failure, sl = _fixable(runtime, failure_id)
    entity = str(failure.entity)
    _check_fields(sl, entity, assignments)
    with runtime.store.session(readonly=True) as session:
        record = record_store.get_record(session, entity, failure.record_key)
    if record is None:
        msg = f"failed record {failure_id}: {entity} {failure.record_key} is no longer in the PRM store"
        raise UsageError(msg)
    updated = _updated(record, assignments)
    changes = [FieldChange(field=name, before=getattr(record, name), after=getattr(updated, name)) for name in assignments]
    report = FixReport(failure_id=failure_id, entity=entity, record_id=record.id, system=failure.system,
                       remote_object=failure.remote_object, dry_run=dry_run, changes=changes)
    if dry_run:
        return _preview(runtime, sl, failure, updated, report)
    with runtime.store.session() as session:
        record_store.save_record(session, updated)
        audit_store.append_audit(session, [audit_store.AuditEntry(
            actor=actor, action="failure.fix", system=failure.system, remote_object=failure.remote_object,
            entity=entity, record_id=record.id, fields_before={c.field: c.before for c in changes},
            fields_after={c.field: c.after for c in changes},
            reason=f"failed record {failure_id} fixed by hand before its replay",
        )])
    if replay:
        report.replay = replay_failures(runtime, ReplaySelection(ids=[failure_id]), actor=actor)
    return report


def _preview(runtime: Runtime, sl: Slice, failure: FailedRecord, updated: CanonicalRecord, report: FixReport) -> FixReport:
    """Apply the change in a rolled-back transaction and plan the push there: the payload a replay sends."""
    ctx = RunContext(store=runtime.store, config=runtime.config, mappings=runtime.mappings, connectors={},
                     run_id=new_id("plan"), dry_run=True)
    try:
        with ctx.transaction() as session:
            record_store.save_record(session, updated)
            plan = plan_push(ctx, session, sl, record_ids={updated.id})
    finally:
        ctx.close()
    write = next((w for w in plan.writes if w.record.id == updated.id), None)
    broken = next((exc for rid, _payload, exc in plan.failures if rid == updated.id), None)
    if write is not None:
        report.payload = write.payload
        report.payload_changes = payload_changes(failure.payload, write.payload)
    elif broken is not None:
        report.invalid = str(broken)
    return report
