"""Write PRM changes to a system: plan, upsert in batches, commit per batch.

The plan is computed by ``plan_push`` alone, which ``--dry-run`` and
``prm-sync mappings plan`` call too, so a preview and the run that follows
never disagree. Writes are upserts by our external id (never blind
creates): a lost confirmation followed by a retry or a re-run finds the
record it already made. Results are committed per batch with the link state
and the ledger; a crash between the remote write and the commit replays the
same idempotent upsert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.base import Association, UpsertRequest, WriteResult, page
from prm_sync.errors import PrmSyncError
from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.values import is_blank
from prm_sync.model import CanonicalRecord
from prm_sync.sync import repo
from prm_sync.sync.context import RunContext
from prm_sync.sync.linkstate import LinkState
from prm_sync.sync.pull import sweep_deletes
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import SliceStats
from prm_sync.sync.values import content_hash, normalize, normalize_all

Action = Literal["create", "update"]


@dataclass
class PlannedWrite:
    record: CanonicalRecord
    key: str
    action: Action
    payload: dict[str, Any]
    values: dict[str, Any]  # normalised canonical values being written
    changed: list[str]  # canonical fields that differ from the snapshot
    before: dict[str, Any] = field(default_factory=dict)  # snapshot values of the changed fields
    state: LinkState | None = None


@dataclass
class PushPlan:
    slice: Slice
    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0
    failures: list[tuple[str, dict[str, Any], Exception]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        creates = sum(1 for w in self.writes if w.action == "create")
        return {
            "create": creates,
            "update": len(self.writes) - creates,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "invalid": len(self.failures),
        }


def plan_push(ctx: RunContext, session: Any, sl: Slice, *, record_ids: set[str] | None = None) -> PushPlan:
    plan = PushPlan(sl)
    states = repo.load_states(session, sl.entity, sl.system)
    held = repo.held_fields(session, sl.entity, sl.system)
    records = repo.list_records(
        session, sl.entity, ids=sorted(record_ids) if record_ids is not None else None
    )
    fields = sl.push_fields
    for record in records:
        state = states.get(record.id)
        if state is not None and state.remote_deleted:
            plan.skipped += 1
            continue
        if not sl.creates_remote and (state is None or state.remote_id is None):
            plan.skipped += 1  # CRM-owned records are written back, never created by us
            continue
        values = normalize_all({f: getattr(record, f) for f in fields})
        agreed = state.prm_values if state else None
        changed = [f for f in fields if agreed is None or agreed.get(f) != values[f]]
        hold = held.get(record.id, set())
        changed = [f for f in changed if f not in hold]
        if state is not None and not changed:
            plan.unchanged += 1
            continue
        try:
            payload = sl.mapping.to_remote(record, ctx.links)
        except (PrmSyncError, ValueError, TypeError) as exc:
            plan.failures.append((record.id, record.model_dump(mode="json"), exc))
            continue
        for name in hold:
            for remote_name in sl.remote_names_for(name):
                payload.pop(remote_name, None)
        key = record.id if sl.creates_remote else str(state.remote_id)  # type: ignore[union-attr]
        plan.writes.append(
            PlannedWrite(
                record=record,
                key=key,
                action="update" if state and state.remote_id else "create",
                payload=payload,
                values=values,
                changed=changed,
                before={f: (state.remote_values if state else {}).get(f) for f in changed},
                state=state,
            )
        )
    return plan


def push_slice(
    ctx: RunContext, sl: Slice, stats: SliceStats, *, record_ids: set[str] | None = None
) -> PushPlan:
    connector = ctx.connectors[sl.system]
    with ctx.transaction() as session:
        plan = plan_push(ctx, session, sl, record_ids=record_ids)
        stats.unchanged += plan.unchanged
        stats.skipped += plan.skipped
        for record_id, payload, exc in plan.failures:
            stats.failed += 1
            repo.record_failure(
                session, ctx, sl, record_key=record_id, operation="map", payload=payload, exc=exc, stats=stats
            )
    if ctx.dry_run:
        for w in plan.writes:
            if w.action == "create":
                stats.created += 1
            else:
                stats.updated += 1
        return plan
    if any(w.state is not None and w.state.remote_id for w in plan.writes) and sweep_deletes(ctx, sl, stats, force=True):
        with ctx.transaction() as session:  # some linked records were deleted remotely: plan again
            plan = plan_push(ctx, session, sl, record_ids=record_ids)
    for batch in page(plan.writes, aligned_page_size(ctx.config.sync.page_size, connector.batch_size)):
        requests = [UpsertRequest(key=w.key, fields=w.payload) for w in batch]
        ctx.checkpoint("push.before_write")
        results = connector.upsert(sl.remote_object, sl.key_field, requests)
        ctx.checkpoint("push.after_remote_write")
        with ctx.transaction() as session:
            _commit_results(ctx, session, sl, batch, results, stats)
        ctx.checkpoint("push.after_commit")
        _associate(ctx, sl, batch, results)
    return plan


def aligned_page_size(page_size: int, batch_size: int) -> int:
    """The committed page rounded up to whole API batches.

    A page of 500 against Salesforce's 200-record calls would cost 3 calls
    (200 + 200 + 100) where 2.5 are needed: 6 per 1,000 records instead of 5.
    """
    if batch_size <= 1:
        return page_size
    return max(batch_size, -(-page_size // batch_size) * batch_size)


def _commit_results(
    ctx: RunContext,
    session: Any,
    sl: Slice,
    batch: list[PlannedWrite],
    results: list[WriteResult],
    stats: SliceStats,
) -> None:
    # the batch's states, id updates, failure closes and audit rows are written together at the
    # end: one query per kind per batch instead of several per record
    ledger: list[dict[str, Any]] = []
    states: list[LinkState] = []
    new_remote_ids: dict[str, str] = {}
    succeeded: list[str] = []
    audits: list[Any] = []
    for write, result in zip(batch, results, strict=True):
        if not result.ok:
            stats.failed += 1
            repo.record_write_failure(session, ctx, sl, write.record.id, write.payload, result, stats)
            continue
        remote_id = result.remote_id or (write.state.remote_id if write.state else None)
        if result.created or (write.state is None and result.created is None):
            stats.created += 1
        else:
            stats.updated += 1
        remote_values = {**(write.state.remote_values if write.state else {}), **_read_back(ctx, sl, write)}
        prm_values = {**(write.state.prm_values if write.state else {}), **write.values}
        state = LinkState(
            entity=sl.entity,
            record_id=write.record.id,
            system=sl.system,
            remote_object=sl.remote_object,
            remote_id=remote_id,
            remote_values=remote_values,
            prm_values=prm_values,
            content_hash=content_hash(remote_values),
            remote_modstamp=write.state.remote_modstamp if write.state else None,
            last_synced_at=ctx.clock(),
            direction="push",
        )
        states.append(state)
        ctx.links.remember(state)
        if remote_id and write.record.external_ids.get(sl.system) != remote_id:
            new_remote_ids[write.record.id] = remote_id
        ledger.append({"record_id": write.record.id, "remote_id": remote_id, "payload": write.payload})
        succeeded.append(write.record.id)
        repo.audit(
            session,
            ctx,
            sl,
            action="create" if result.created else "update",
            record_id=write.record.id,
            remote_id=remote_id,
            before=write.before,
            after={f: normalize(write.values.get(f)) for f in write.changed},
            decisions={f: "to_remote" for f in write.changed},
            payload=write.payload,
            sink=audits,
        )
    repo.put_states(session, states)
    repo.set_external_ids(session, sl.entity, new_remote_ids, sl.system)
    repo.resolve_failures_many(session, sl.system, sl.remote_object, succeeded, ("upsert", "map"))
    repo.flush_audit(session, audits)
    repo.append_ledger(session, ctx, sl, ledger)


def _read_back(ctx: RunContext, sl: Slice, write: PlannedWrite) -> dict[str, Any]:
    """What the next read of this record will map to: the snapshot an echo must equal.

    A one-way transform (``lower``, ``trim``, a value map with a default) reads
    back differently from what the PRM holds; recording the read-back value
    keeps our own write from looking like a remote edit. Each field is read
    back on its own: one whose payload key is not readable as written (a
    Salesforce ``__r`` reference) keeps the PRM value without affecting the rest.
    """
    values = dict(write.values)
    payload = write.payload
    tctx = TransformContext(sl.system, ctx.links)
    for reader in sl.mapping.readers:
        if reader.prm not in values:
            continue
        if reader.from_inputs is not None:
            if not all(name in payload for name in reader.from_inputs):
                continue
            raw = {n: payload[n] for n in reader.from_inputs}
        elif reader.remote in payload:
            raw = payload[reader.remote]
        else:
            continue
        try:
            value = reader.from_fn(raw, tctx) if reader.from_fn is not None else raw
        except (PrmSyncError, ValueError, TypeError):
            continue
        if is_blank(value) and not isinstance(value, list) and reader.has_default:
            value = reader.default
        values[reader.prm] = normalize(value)
    return values


def _associate(ctx: RunContext, sl: Slice, batch: list[PlannedWrite], results: list[WriteResult]) -> None:
    """Create the associations the mapping asks for (HubSpot v4); lookups come from the link index."""
    specs = sl.mapping.spec.associations
    connector = ctx.connectors[sl.system]
    associate = getattr(connector, "associate", None)
    if not specs or associate is None:
        return
    links: list[Association] = []
    with ctx.transaction():  # the link index reads states it has not loaded yet through this session
        for write, result in zip(batch, results, strict=True):
            if not result.ok or not result.remote_id:
                continue
            for spec in specs:
                other = getattr(write.record, spec.prm, None)
                if not other:
                    continue
                other_remote = ctx.links.remote_id_for(spec.entity, sl.system, str(other))
                if other_remote:
                    links.append(
                        Association(
                            from_object=sl.remote_object,
                            from_id=result.remote_id,
                            to_object=spec.to_object,
                            to_id=other_remote,
                            label=spec.label,
                        )
                    )
    if links:
        associate(links)
