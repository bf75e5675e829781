"""Replay dead-lettered records through the normal sync path, after someone fixed the cause.

A replay never re-sends the stored payload: that is the state of the record
when it failed, and the fix may have been to the data or to the mapping. It
re-reads current state instead:

* push failures (``upsert``/``map``/``associate``, keyed by the PRM id): the engine runs
  for that system and entity with ``record_ids``, so the PRM record as it is
  now is mapped with the current mapping and upserted by external id. A push
  failure never records agreement, so the record is always planned again.
* read failures (``read``, keyed by the remote id): the remote record is
  read again by id through the connector and applied by the engine's own
  ``apply_page`` under the run lock, recorded as a run with trigger
  ``replay``.

Replaying a resolved failure is a no-op (``skipped``); a record that fails
again bumps ``attempts`` and carries the new error; every replay that is not
a dry run is audited with its actor, failure id and outcome. A failure whose
target already agrees (fixed at the source or by hand in the CRM) has nothing
left to write: the replay, like any run, closes it as moot (its resolution
starts with ``moot:``, and a ``failure.moot`` audit entry says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from connectors.base import Connector, RemoteRecord
from prm_sync.errors import UsageError
from prm_sync.model import new_id
from prm_sync.runtime import Runtime
from prm_sync.store import audit as audit_store
from prm_sync.store import failures as failure_store
from prm_sync.store import locks
from prm_sync.store import records as record_store
from prm_sync.store.failures import FailedRecord, FailureStatus
from prm_sync.store.types import jsonable
from prm_sync.sync import repo
from prm_sync.sync.context import RunContext
from prm_sync.sync.engine import ENTITY_ORDER, SyncScope
from prm_sync.sync.progress import ProgressCallback, ProgressEvent
from prm_sync.sync.pull import apply_page
from prm_sync.sync.push import plan_push
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import RunReport, SliceStats

Outcome = Literal["synced", "failed_again", "skipped", "would_sync"]
PUSH_OPERATIONS = ("upsert", "map", "associate")  # an associate failure is replayed by writing the record again
READ_OPERATIONS = ("read",)


class ReplaySelection(BaseModel):
    """Which failures to replay: explicit ids, or every open one matching the filters."""

    ids: list[int] = Field(default_factory=list)
    system: str | None = None
    remote_object: str | None = None
    error_code: str | None = None
    all: bool = False

    def is_empty(self) -> bool:
        return not self.ids and not self.all and not (self.system or self.remote_object or self.error_code)


class ReplayItem(BaseModel):
    id: int
    system: str
    remote_object: str
    entity: str | None
    record: str  # the failed record's key: PRM id for pushes, remote id for reads
    operation: str
    outcome: Outcome
    attempts: int
    error_code: str | None = None  # the new error when it failed again
    error: str | None = None
    reason: str | None = None  # why it was skipped
    run_id: str | None = None  # the run that replayed it
    # a preview only: fields whose value differs from the payload that failed ([failed, now]); an
    # unchanged payload will fail again unless the cause was fixed on the remote side
    payload_changes: dict[str, list[Any]] | None = None

    @property
    def payload_unchanged(self) -> bool:
        return self.payload_changes is not None and not self.payload_changes


class ReplayReport(BaseModel):
    dry_run: bool = False
    actor: str
    items: list[ReplayItem] = Field(default_factory=list)
    run_ids: list[str] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"synced": 0, "failed_again": 0, "skipped": 0, "would_sync": 0}
        for item in self.items:
            out[item.outcome] += 1
        return out

    def status(self) -> str:
        """As a run's status: a replay whose records fail again did not succeed."""
        counts = self.counts()
        if not counts["failed_again"]:
            return "succeeded"
        return "succeeded_with_failures" if counts["synced"] or counts["would_sync"] else "failed"


def select_failures(runtime: Runtime, selection: ReplaySelection) -> tuple[list[FailedRecord], list[FailedRecord]]:
    """(open failures to replay, closed ones named by id); an unknown id is a ``UsageError``."""
    if selection.is_empty():
        msg = "name failure ids, a filter (--system/--object/--error-code) or --all"
        raise UsageError(msg)
    with runtime.store.session(readonly=True) as session:
        if selection.ids:
            found = {i: failure_store.get_failure(session, i) for i in dict.fromkeys(selection.ids)}
            missing = [str(i) for i, f in found.items() if f is None]
            if missing:
                msg = f"no failed record with id {', '.join(missing)}"
                raise UsageError(msg)
            chosen = [f for f in found.values() if f is not None and _matches(f, selection)]
        else:
            chosen = failure_store.list_failures(
                session, status=FailureStatus.open, system=selection.system,
                remote_object=selection.remote_object, error_code=selection.error_code,
            )
    return [f for f in chosen if f.status == FailureStatus.open.value], [
        f for f in chosen if f.status != FailureStatus.open.value
    ]


def _matches(failure: FailedRecord, selection: ReplaySelection) -> bool:
    wanted = {"system": selection.system, "remote_object": selection.remote_object, "error_code": selection.error_code}
    return all(value is None or getattr(failure, name) == value for name, value in wanted.items())


def replay_failures(
    runtime: Runtime, selection: ReplaySelection, *, dry_run: bool = False, actor: str = "cli",
    progress: ProgressCallback | None = None,
) -> ReplayReport:
    """Replay the selected failures; returns one item per failure with its outcome.

    ``progress`` hears one step per group of failures (a slice's pushes or
    reads), with the records of the group counted as the engine writes them.
    """
    open_failures, closed = select_failures(runtime, selection)
    report = ReplayReport(dry_run=dry_run, actor=actor)
    for failure in closed:
        report.items.append(_item(failure, "skipped", reason=f"already {failure.status}"))
    groups: dict[tuple[str, str, str | None, str], list[FailedRecord]] = {}
    for failure in open_failures:
        kind = "push" if failure.operation in PUSH_OPERATIONS else "read" if failure.operation in READ_OPERATIONS else "other"
        groups.setdefault((failure.system, failure.remote_object, failure.entity, kind), []).append(failure)
    # parents first: a contact or registration that failed because its partner did needs the partner there
    rank = {entity: i for i, entity in enumerate(ENTITY_ORDER)}
    ordered = sorted(groups.items(), key=lambda kv: (rank.get(kv[0][2] or "", len(rank)), kv[0][3] != "read"))
    for step, ((system, remote_object, entity, kind), group) in enumerate(ordered, start=1):
        if progress is not None:
            progress(ProgressEvent(phase=f"replay {kind}", system=system, entity=entity or remote_object, step=step,
                                   steps=len(ordered), total=len(group)))
        sl = slice_for(runtime, system, remote_object, entity)
        if kind == "other" or sl is None:
            why = (f"{group[0].operation} failures are not replayable" if kind == "other"
                   else f"no mapping for {system} {remote_object} ({entity}) any more")
            report.items.extend(_item(f, "skipped", reason=why) for f in group)
            continue
        if kind == "push":
            items, run_id = _replay_push(runtime, sl, group, dry_run=dry_run, progress=_within(progress, step, len(ordered)))
        else:
            items, run_id = _replay_reads(runtime, sl, group, dry_run=dry_run)
        report.items.extend(items)
        if run_id:
            report.run_ids.append(run_id)
    report.items.sort(key=lambda i: i.id)
    if not dry_run:
        _audit(runtime, report)
    return report


# -- helpers -------------------------------------------------------------------------------
def payload_changes(failed: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, list[Any]] | None:
    """Fields that differ between the payload that failed and the one a replay would send now.

    None when the failure kept no payload to compare with. Values are compared
    as JSON, so a datetime and its ISO text are the same value.
    """
    if failed is None:
        return None
    before, after = jsonable(failed), jsonable(now)
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def _item(failure: FailedRecord, outcome: Outcome, **extra: Any) -> ReplayItem:
    return ReplayItem(
        id=failure.id, system=failure.system, remote_object=failure.remote_object, entity=failure.entity,
        record=failure.record_key, operation=str(failure.operation), outcome=outcome,
        attempts=extra.pop("attempts", failure.attempts), **extra,
    )


def slice_for(runtime: Runtime, system: str, remote_object: str, entity: str | None) -> Slice | None:
    """The current mapping for the failed record's object (a failure may outlive its mapping)."""
    for mapping in runtime.mappings:
        spec = mapping.spec
        if mapping.system == system and spec.remote_object == remote_object and entity in (None, spec.entity):
            return Slice.of(mapping)
    return None


def _after(runtime: Runtime, group: list[FailedRecord]) -> dict[int, FailedRecord]:
    with runtime.store.session(readonly=True) as session:
        return {f.id: f for f in (failure_store.get_failure(session, g.id) for g in group) if f is not None}


def _judge(before: FailedRecord, after: FailedRecord | None, stopped: str | None) -> ReplayItem:
    """What happened to one failure, from its row before and after the replay."""
    if after is None or after.status == FailureStatus.resolved.value:
        moot = after is not None and (after.resolution or "").startswith(repo.MOOT)
        return _item(before, "synced", attempts=after.attempts if after else before.attempts,
                     reason=after.resolution if moot and after else None)
    if after.attempts > before.attempts:
        return _item(before, "failed_again", attempts=after.attempts, error_code=after.error_code,
                     error=after.error_message)
    if stopped:
        return _item(before, "failed_again", error_code="STOPPED", error=stopped)
    return _item(before, "skipped", reason="nothing to write: the record is unchanged, deleted remotely or gone")


def _within(progress: ProgressCallback | None, step: int, steps: int) -> ProgressCallback | None:
    """The engine's events of one group's run, told as that group's step of the whole replay."""
    if progress is None:
        return None

    def told(event: ProgressEvent) -> None:
        if event.phase == "push":  # the group's records: its pulls and rules carry no count of them
            progress(replace(event, phase="replay push", step=step, steps=steps))

    return told


def _replay_push(
    runtime: Runtime, sl: Slice, group: list[FailedRecord], *, dry_run: bool, progress: ProgressCallback | None = None
) -> tuple[list[ReplayItem], str | None]:
    ids = {f.record_key for f in group}
    with runtime.store.session(readonly=True) as session:
        present = {r.id for r in record_store.list_records(session, sl.entity, ids=sorted(ids))}
    items = [_item(f, "skipped", reason="the record is no longer in the PRM store") for f in group if f.record_key not in present]
    live = [f for f in group if f.record_key in present]
    if not live:
        return items, None
    if dry_run:
        return items + _preview_push(runtime, sl, live), None
    engine = runtime.engine([sl.system])
    report = engine.run(
        SyncScope(systems=[sl.system], entities=[sl.entity], record_ids={sl.entity: {f.record_key for f in live}}),
        trigger="replay", progress=progress,
    )
    stats = report.slice(sl.system, sl.entity)
    after = _after(runtime, live)
    items.extend(_judge(f, after.get(f.id), stats.stopped_reason).model_copy(update={"run_id": report.run_id})
                 for f in live)
    return items, report.run_id


def _preview_push(runtime: Runtime, sl: Slice, group: list[FailedRecord]) -> list[ReplayItem]:
    """The same plan a real replay would execute (``plan_push``), nothing written."""
    ctx = _context(runtime, sl, new_id("run"), dry_run=True)
    try:
        with ctx.transaction() as session:
            plan = plan_push(ctx, session, sl, record_ids={f.record_key for f in group})
    finally:
        ctx.close()
    writes = {w.record.id for w in plan.writes}
    broken = {record_id: exc for record_id, _payload, exc in plan.failures}
    items: list[ReplayItem] = []
    payloads = {w.record.id: w.payload for w in plan.writes}
    for failure in group:
        if failure.record_key in writes:
            items.append(_item(failure, "would_sync",
                               payload_changes=payload_changes(failure.payload, payloads[failure.record_key])))
        elif failure.record_key in broken:
            exc = broken[failure.record_key]
            items.append(_item(failure, "failed_again", error_code=type(exc).__name__, error=str(exc)))
        else:
            items.append(_item(failure, "skipped", reason="nothing to write: the target already agrees (a replay "
                                                          "closes it as moot) or the record was deleted remotely"))
    return items


def _context(runtime: Runtime, sl: Slice, run_id: str, *, dry_run: bool) -> RunContext:
    return RunContext(
        store=runtime.store, config=runtime.config, mappings=runtime.mappings,
        connectors=runtime.connectors([sl.system]), run_id=run_id, dry_run=dry_run,
        clock=lambda: datetime.now(UTC),
    )


def _replay_reads(
    runtime: Runtime, sl: Slice, group: list[FailedRecord], *, dry_run: bool
) -> tuple[list[ReplayItem], str | None]:
    connector = runtime.connectors([sl.system])[sl.system]
    run_id = new_id("run")
    ctx = _context(runtime, sl, run_id, dry_run=dry_run)
    report = RunReport(run_id=run_id, status="running", dry_run=dry_run, started_at=ctx.clock(),
                       mapping_version=runtime.mappings.version)
    stats = SliceStats(system=sl.system, entity=sl.entity, remote_object=sl.remote_object)
    report.slices.append(stats)
    held = None
    if not dry_run:  # the slice's lock: a replay never overlaps a run of the same slice
        held = repo.open_run(ctx, report, [locks.slice_scope(sl.system, sl.entity)], trigger="replay",
                             scope={"systems": [sl.system], "entities": [sl.entity], "replay": [f.id for f in group]})
    calls = connector.api_calls
    items: list[ReplayItem] = []
    try:
        found = {r.id: r for r in read_by_ids(connector, sl, [f.record_key for f in group])}
        stats.read = len(found)
        gone = [f for f in group if f.record_key not in found]
        present = [f for f in group if f.record_key in found]
        if present:
            with ctx.transaction() as session:
                apply_page(ctx, session, sl, [found[f.record_key] for f in present], stats)
        items.extend(_close_gone(runtime, gone, dry_run=dry_run))
        if dry_run:
            failed = {s.record_key: s for s in stats.failures}
            for f in present:
                sample = failed.get(f.record_key)
                changes = payload_changes(f.payload, found[f.record_key].fields)
                items.append(_item(f, "failed_again", error_code=sample.error_code, error=sample.message,
                                   payload_changes=changes) if sample
                             else _item(f, "would_sync", payload_changes=changes))
        else:
            after = _after(runtime, present)
            judged = [_judge(f, after.get(f.id), None) for f in present]
            _resolve_read(runtime, [i for i in judged if i.outcome == "skipped"], run_id)
            items.extend(
                i.model_copy(update={"run_id": run_id, **({"outcome": "synced", "reason": None} if i.outcome == "skipped" else {})})
                for i in judged
            )
        report.settle()
    except BaseException as exc:  # any error or an interrupt: the run row must not stay running
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        stats.api_calls += connector.api_calls - calls
        report.finished_at = ctx.clock()
        ctx.close()
        repo.close_run(ctx, report, held)
    return items, None if dry_run else run_id


def _close_gone(runtime: Runtime, gone: list[FailedRecord], *, dry_run: bool) -> list[ReplayItem]:
    """A record the remote no longer has (deleted, merged, filtered out) has nothing left to sync."""
    reason = "the remote record no longer exists"
    if not dry_run and gone:
        with runtime.store.session() as session:
            for f in gone:
                failure_store.resolve_failure(session, f.id, f"gone: {reason}")
    return [_item(f, "skipped", reason=reason) for f in gone]


def _resolve_read(runtime: Runtime, items: list[ReplayItem], run_id: str) -> None:
    """A re-read that applied cleanly but changed nothing still settles the failure."""
    if not items:
        return
    with runtime.store.session() as session:
        for item in items:
            failure_store.resolve_failure(session, item.id, f"replayed in {run_id}")


def read_by_ids(connector: Connector, sl: Slice, remote_ids: Iterable[str]) -> Iterator[RemoteRecord]:
    """Current state of the given remote records (live ones only), through the connector's own reads."""
    wanted = list(dict.fromkeys(str(i) for i in remote_ids))
    if not wanted:
        return iter(())
    fields = sl.mapping.remote_fields_to_read()
    if connector.system == "salesforce":
        from connectors.salesforce_soql import soql_literal

        where = f"Id IN {soql_literal(wanted)}" + (f" AND ({sl.filter})" if sl.filter else "")
        return iter(connector.read_all(sl.remote_object, fields, where=where))
    if connector.system == "hubspot" and all(i.isdigit() for i in wanted) and not isinstance(sl.filter, str):
        filters: list[dict[str, Any]] = [*(sl.filter or []), {"propertyName": "hs_object_id", "operator": "IN", "values": wanted}]
        return iter(connector.read_all(sl.remote_object, fields, where=filters))  # type: ignore[arg-type]
    keep = set(wanted)
    return (r for r in connector.read_all(sl.remote_object, fields, where=sl.filter) if r.id in keep)


def _audit(runtime: Runtime, report: ReplayReport) -> None:
    entries = [
        audit_store.AuditEntry(
            run_id=item.run_id, actor=report.actor, action=f"replay.{item.outcome}",
            system=item.system, remote_object=item.remote_object, entity=item.entity,
            record_id=item.record if item.operation in PUSH_OPERATIONS else None,
            remote_id=item.record if item.operation in READ_OPERATIONS else None,
            reason=f"failed record {item.id}: " + (item.error or item.reason or item.outcome),
            fields_after={"failure_id": item.id, "attempts": item.attempts},
        )
        for item in report.items
    ]
    if entries:
        with runtime.store.session() as session:
            audit_store.append_audit(session, entries)
