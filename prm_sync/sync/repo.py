"""The engine's view of the store: the few reads and writes a sync needs.

Keeps the pull and push code in sync terms (link states, failures with a
reason, audit with provenance) while ``prm_sync.store`` stays a plain data
layer. Every function takes the caller's session, so a batch's records,
links, ledger, failures and cursor commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Cursor, WriteResult
from prm_sync.errors import RemoteError
from prm_sync.model import CanonicalRecord, utcnow
from prm_sync.store import audit as audit_store
from prm_sync.store import failures, locks, pending_links, push_batches, records, review, runs, state
from prm_sync.store.orm import ReviewItemRow
from prm_sync.sync.linkstate import LinkState, unpack_snapshot
from prm_sync.sync.stats import FailureSample, RunReport, SliceStats
from prm_sync.sync.values import content_hash, same_json

if TYPE_CHECKING:
    from prm_sync.sync.context import RunContext
    from prm_sync.sync.slice import Slice

MAX_FAILURE_SAMPLES = 50
# above this many ids, one scan of the entity beats chunks of ``IN (...)`` lookups
SCAN_ALL_ABOVE = 5_000

# -- records -------------------------------------------------------------------
get_record = records.get_record
save_record = records.save_record
delete_record = records.delete_record
field_changed_at = records.field_changed_at


def list_records(session: Session, entity: str, *, ids: list[str] | None = None) -> list[CanonicalRecord]:
    return records.list_records(session, entity, ids=ids)


def preload_records(session: Session, entity: str, ids: list[str]) -> list[Any]:
    """Load these rows into the session in one query per chunk; hold the result to keep them cached."""
    row_cls = records.row_class(entity)
    rows: list[Any] = []
    for part in records.chunks(list(dict.fromkeys(ids))):
        rows.extend(session.scalars(select(row_cls).where(row_cls.id.in_(part))))
    return rows


def existing_ids(session: Session, entity: str, ids: list[str]) -> set[str]:
    """Which of these records are in the store (a key-only query per chunk)."""
    return set(records.row_versions(session, entity, ids))


def set_external_ids(session: Session, entity: str, remote_ids: dict[str, str], system: str) -> None:
    """Record each pushed record's remote id in its ``external_ids`` (record id -> remote id)."""
    if remote_ids:
        records.add_external_ids(session, entity, system, remote_ids)


def find_by_fields(session: Session, entity: str, values: dict[str, Any]) -> str | None:
    """The PRM id of the record whose fields equal ``values`` (natural keys), if any."""
    row_cls = records.row_class(entity)
    query = select(row_cls.id)
    for name, value in values.items():
        query = query.where(getattr(row_cls, name) == value)
    return session.scalars(query.limit(1)).first()


# -- link states ---------------------------------------------------------------
def _to_link(s: state.SyncState) -> LinkState:
    remote_values, prm_values = unpack_snapshot(s.snapshot)  # compact (no "prm") or full
    return LinkState(
        entity=s.entity, record_id=s.record_id, system=s.system, remote_object=s.remote_object,
        remote_id=s.remote_id, remote_values=remote_values, prm_values=prm_values, content_hash=s.content_hash,
        remote_modstamp=s.remote_modstamp, remote_deleted=s.remote_deleted, last_synced_at=s.last_synced_at,
        direction=s.last_direction, record_version=s.record_version, push_fingerprint=s.push_fingerprint,
        links=(s.snapshot or {}).get("links"),
    )


def load_states(session: Session, entity: str, system: str) -> dict[str, LinkState]:
    return {rid: _to_link(s) for rid, s in state.all_states(session, entity, system).items()}


def linked_ids(session: Session, entity: str, system: str) -> dict[str, str]:
    """Record id -> remote id of every linked record of the entity in the system."""
    return state.linked_ids(session, entity, system)


def states_for(session: Session, entity: str, system: str, record_ids: list[str]) -> dict[str, LinkState]:
    """The link states of these records (all of the entity's when that is most of them)."""
    if len(record_ids) > SCAN_ALL_ABOVE:
        wanted = set(record_ids)
        return {rid: link for rid, link in load_states(session, entity, system).items() if rid in wanted}
    return {rid: _to_link(s) for rid, s in state.get_states(session, entity, system, record_ids).items()}


def push_candidates(session: Session, entity: str, system: str, fingerprint: str) -> dict[str, int]:
    """Record id -> row_version of the records a push to ``system`` has to look at (see ``plan_push``)."""
    return state.push_candidates(session, records.row_class(entity).__table__, entity, system, fingerprint)


def orphan_links(session: Session, entity: str, system: str) -> list[LinkState]:
    """Live links of this slice whose PRM record no longer exists (see ``state.orphan_links``)."""
    return [_to_link(s) for s in state.orphan_links(session, records.row_class(entity).__table__, entity, system)]


def mark_checked(session: Session, entity: str, system: str, versions: dict[str, int], fingerprint: str) -> None:
    """Remember that these records (id -> row_version) still agree with their link under this mapping."""
    state.mark_checked(session, entity, system, versions, fingerprint)


def mark_links_pending(session: Session, entity: str, system: str, record_ids: list[str], marker: str) -> None:
    """These records' associations did not go through: the next push writes (and links) them again."""
    state.mark_checked(session, entity, system, dict.fromkeys(record_ids), marker)


def journal_links(session: Session, ctx: RunContext, sl: Slice, record_ids: list[str]) -> int:
    """Journal a written batch whose links are about to be sent (see ``pending_links``)."""
    return pending_links.open_batch(
        session, entity=sl.entity, system=sl.system, record_ids=list(dict.fromkeys(record_ids)),
        run_id=ctx.run_id, at=ctx.clock(),
    )


def close_link_journal(session: Session, journal_id: int) -> None:
    pending_links.close_batch(session, journal_id)


def left_over_links(session: Session, entity: str, system: str, *, claim: bool, marker: str) -> set[str]:
    """Records of batches whose links a crash left unconfirmed (``pending_links`` rows of this slice).

    With ``claim`` (a real push) they are marked pending with ``marker`` and
    the journal rows dropped, in the caller's transaction; a preview only reads them.
    """
    left = pending_links.left_over(session, entity, system)
    ids = {record_id for batch in left.values() for record_id in batch}
    if left and claim:
        mark_links_pending(session, entity, system, sorted(ids), marker)
        pending_links.close_batches(session, list(left))
    return ids


def count_records(session: Session, entity: str) -> int:
    return records.count_records(session, entity)


def row_versions(session: Session, entity: str, ids: list[str] | None = None) -> dict[str, int]:
    return records.row_versions(session, entity, ids)


def put_state_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Link states as the push builds them: plain rows with every ``SyncState`` field as a key."""
    state.upsert_state_rows(session, rows)


def states_by_remote(session: Session, system: str, remote_object: str, remote_ids: list[str]) -> dict[str, LinkState]:
    return {rid: _to_link(s) for rid, s in state.get_states_by_remote(session, system, remote_object, remote_ids).items()}


def _to_state(link: LinkState) -> state.SyncState:
    return state.SyncState(
        entity=link.entity, record_id=link.record_id, system=link.system, remote_object=link.remote_object,
        remote_id=link.remote_id, content_hash=link.content_hash or content_hash(link.remote_values),
        remote_modstamp=link.remote_modstamp, last_synced_at=link.last_synced_at or utcnow(),
        last_direction=link.direction, snapshot=link.snapshot(), remote_deleted=link.remote_deleted,
        record_version=link.record_version, push_fingerprint=link.push_fingerprint,
    )


def put_state(session: Session, link: LinkState) -> None:
    state.set_state(session, _to_state(link))


# -- cursors -------------------------------------------------------------------
def get_cursor(session: Session, system: str, remote_object: str, entity: str) -> Cursor:
    return state.get_cursor(session, system, remote_object, entity)


def set_cursor(session: Session, system: str, remote_object: str, entity: str, cursor: Cursor, run_id: str) -> None:
    state.set_cursor(session, system, remote_object, entity, cursor, run_id=run_id)


def reset_cursors(session: Session, systems: list[str] | None, entities: list[str] | None) -> None:
    for system in systems or [None]:  # type: ignore[list-item]
        for entity in entities or [None]:  # type: ignore[list-item]
            state.reset_cursors(session, system=system, entity=entity)


# -- failures ------------------------------------------------------------------
def _error_code(exc: BaseException) -> tuple[str, str, list[str]]:
    if isinstance(exc, RemoteError):
        return exc.info.code, exc.info.message, list(exc.info.fields)
    field = getattr(exc, "field", None)
    code = getattr(exc, "code", None) or type(exc).__name__
    if type(exc).__name__ == "ValidationError":
        errors = exc.errors()  # type: ignore[attr-defined]
        fields = [".".join(str(p) for p in e["loc"]) for e in errors]
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return "INVALID_RECORD", text, fields
    return str(code), str(exc), [field] if field else []


def record_failure(
    session: Session, ctx: RunContext, sl: Slice, *, record_key: str, operation: str,
    payload: dict[str, Any] | None, exc: BaseException, stats: SliceStats,
) -> None:
    code, message, fields = _error_code(exc)
    _record(session, ctx, sl, record_key, operation, payload, code, message, fields, stats)


_REFUSED = {
    "upsert": ("WRITE_FAILED", "the remote refused the record"),
    "associate": ("ASSOCIATION_FAILED", "the remote refused the association"),
    "delete": ("DELETE_FAILED", "the remote refused to remove the record"),
}


def record_write_failure(
    session: Session, ctx: RunContext, sl: Slice, record_key: str, payload: dict[str, Any],
    result: WriteResult, stats: SliceStats, *, operation: str = "upsert",
) -> None:
    """A record the remote refused (``upsert``), or a written record whose associations it refused (``associate``)."""
    code, message = _REFUSED[operation]
    _record(
        session, ctx, sl, record_key, operation, payload, result.error_code or code,
        result.error_message or message, result.error_fields, stats,
    )


def _record(
    session: Session, ctx: RunContext, sl: Slice, record_key: str, operation: str, payload: dict[str, Any] | None,
    code: str, message: str, fields: list[str], stats: SliceStats,
) -> None:
    if not ctx.dry_run:  # a dry run still reports which records would fail, and why
        failures.record_failure(
            session, system=sl.system, remote_object=sl.remote_object, record_key=record_key, operation=operation,
            error_code=code, error_message=message, error_fields=fields, entity=sl.entity, payload=payload,
            run_id=ctx.run_id,
        )
    if len(stats.failures) < MAX_FAILURE_SAMPLES:
        stats.failures.append(
            FailureSample(system=sl.system, entity=sl.entity, record_key=record_key, operation=operation,
                          error_code=code, message=message, fields=list(fields))
        )


def resolve_failures_many(
    session: Session, system: str, remote_object: str, record_keys: list[str], operations: tuple[str, ...]
) -> None:
    """Close the open failures of a batch of records that went through (one query per operation)."""
    if not record_keys:
        return
    for operation in operations:
        failures.resolve_open_failures(
            session, system=system, remote_object=remote_object, record_keys=record_keys, operation=operation,
            resolution="synced",
        )


MOOT = "moot: "


def close_moot_failures(
    session: Session, ctx: RunContext, sl: Slice, record_keys: list[str], operations: tuple[str, ...], why: str,
) -> int:
    """Close open failures whose record needs nothing any more, each with an audit entry saying why.

    A failed write whose target came to agree without it (the value was put
    right at the source, or typed into the CRM by hand), or a failed read
    that now reads cleanly into what the PRM already holds, has nothing left
    to replay: left open it would wait in the queue for ever.
    """
    if not record_keys or ctx.dry_run:
        return 0
    closed = []
    for operation in operations:
        closed += failures.close_open_failures(
            session, system=sl.system, remote_object=sl.remote_object, record_keys=record_keys, operation=operation,
            resolution=MOOT + why, now=ctx.clock(),
        )
    audit_store.append_audit(session, [
        audit_store.AuditEntry(
            at=ctx.clock(), run_id=ctx.run_id, actor="prm-sync", action="failure.moot", system=f.system,
            remote_object=f.remote_object, entity=f.entity or sl.entity,
            # push failures are keyed by PRM id, read failures by remote id
            record_id=f.record_key if f.operation != "read" else None,
            remote_id=f.record_key if f.operation == "read" else None,
            reason=f"failed record {f.id} ({f.operation}, {f.error_code}) closed: {why}",
            fields_after={"failure_id": f.id, "attempts": f.attempts},
        )
        for f in closed
    ])
    return len(closed)


# -- ledger and audit ------------------------------------------------------------
def append_push_batch(session: Session, ctx: RunContext, sl: Slice, at: datetime,
                      provenance: dict[str, Any], entries: list[list[Any]]) -> None:
    """A written batch's ledger and audit: one ``push_batch`` row (see ``PushBatchRow``)."""
    push_batches.append_push_batch(
        session, run_id=ctx.run_id, at=at, system=sl.system, remote_object=sl.remote_object, entity=sl.entity,
        mapping_version=ctx.mappings.version, provenance=provenance, entries=entries,
    )


def audit(
    session: Session, ctx: RunContext, sl: Slice, *, action: str, record_id: str, remote_id: str | None,
    before: dict[str, Any], after: dict[str, Any], decisions: dict[str, str], reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Field-level provenance: which remote field came from which PRM field under which rule.

    As in a push's own rows (``push._commit_results``), ``remote_value`` is
    kept only when it differs from ``after[name]`` (``same_json``): smaller
    rows, and readers fall back to ``fields_after`` when it is absent.
    """
    if ctx.dry_run:
        return
    provenance: dict[str, Any] = {}
    for name in after:
        flow = sl.flow(name)
        if flow is not None:
            provenance[flow.remote] = {"prm_field": name, "rule": flow.rule, "decision": decisions.get(name)}
            if payload is not None and flow.remote in payload and not same_json(payload[flow.remote], after[name]):
                provenance[flow.remote]["remote_value"] = payload[flow.remote]  # the value as the remote got it
    entry = audit_store.AuditEntry(
        run_id=ctx.run_id, action=f"{'pull' if action in ('pull', 'remote_delete') else 'push'}.{action}",
        system=sl.system, remote_object=sl.remote_object, entity=sl.entity, record_id=record_id,
        remote_id=remote_id, mapping_version=ctx.mappings.version,
        rule=",".join(sorted({d for d in decisions.values() if d})) or None,
        fields_before=before, fields_after=after, provenance=provenance, reason=reason,
    )
    audit_store.append_audit(session, [entry])


# -- manual review ---------------------------------------------------------------
def open_review(session: Session, sl: Slice, record_id: str, field: str, prm_value: Any, remote_value: Any) -> None:
    review.add_review(
        session, entity=sl.entity, record_id=record_id, system=sl.system, field=field,
        prm_value=prm_value, remote_value=remote_value,
    )


def held_fields(session: Session, entity: str, system: str) -> dict[str, set[str]]:
    """Fields parked for manual review, per record: a push must not overwrite them meanwhile."""
    query = select(ReviewItemRow.record_id, ReviewItemRow.field).where(
        ReviewItemRow.entity == entity, ReviewItemRow.system == system, ReviewItemRow.status == "open"
    )
    held: dict[str, set[str]] = {}
    for record_id, field in session.execute(query):
        held.setdefault(record_id, set()).add(field)
    return held


# -- runs ----------------------------------------------------------------------------
def open_run(
    ctx: RunContext, report: RunReport, scopes: list[str], *, trigger: str, scope: dict[str, Any],
    before: Callable[[Session], None] | None = None,
) -> locks.LockSet:
    """Take the run's slice locks (``RunInProgress`` when a live run holds one), then write its run row.

    ``before`` runs in its own transaction first (a full run resets its
    cursors). The locks come first and the row second, and ``close_run``
    writes the row's end before it lets the locks go: a ``running`` row
    without a live lock therefore has no process behind it.
    """
    stale_after = timedelta(seconds=ctx.config.sync.lock_stale_after_seconds)
    held = locks.take_locks(ctx.store, scopes, report.run_id, stale_after)
    ctx.fence, ctx.guard = held.fence, held.check
    try:
        if before is not None:
            with ctx.store.session() as session:
                before(session)
        with ctx.store.session() as session:
            start_run(session, report, trigger=trigger, scope=scope)
    except BaseException:
        held.close()
        raise
    return held


def close_run(ctx: RunContext, report: RunReport, held: locks.LockSet | None) -> None:
    """Write the run's outcome, then release its locks (nothing for a dry run, which took none).

    A report still ``running`` never reached its end (something stopped it
    that its caller did not catch): it is written as ``failed``, never left
    ``running`` beside a released lock.
    """
    if held is None:
        return
    if report.status == "running":
        report.status = "failed"
        report.error = report.error or "the run stopped before its end"
    try:
        with ctx.store.session() as session:
            finish_run(session, report)
    finally:
        held.close()


def start_run(session: Session, report: RunReport, *, trigger: str, scope: dict[str, Any]) -> None:
    runs.start_run(
        session, trigger=trigger, scope=scope, mapping_version=report.mapping_version, run_id=report.run_id,
        now=report.started_at,
    )


def finish_run(session: Session, report: RunReport) -> None:
    runs.finish_run(
        session, report.run_id, status=report.status, error=report.error, now=report.finished_at,
        stats=report.model_dump(mode="json", include={"slices", "rule_decisions", "unmatched", "dry_run"}),
    )

