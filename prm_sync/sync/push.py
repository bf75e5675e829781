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

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from connectors.base import Association, UpsertRequest, WriteResult, page
from prm_sync.errors import PrmSyncError
from prm_sync.mapping.known_fields import REMOTE_ID_FIELD
from prm_sync.mapping.spec import AssociationSpec
from prm_sync.model import CanonicalRecord
from prm_sync.sync import repo, retire
from prm_sync.sync.context import PushRecord, RunContext
from prm_sync.sync.linkstate import LINKS_PENDING, LinkState, pack_snapshot
from prm_sync.sync.pull import sweep_deletes
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import SliceStats
from prm_sync.sync.values import hash_normalized, normalize

Action = Literal["create", "update"]
T = TypeVar("T")


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
    version: int | None = None  # the record's row_version planned; None keeps it in view for the next push
    by_remote_id: bool = False  # written by the remote record's own id, our id included (an adopted record)


@dataclass
class PushPlan:
    slice: Slice
    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0
    considered: int = 0  # records visited: the changed ones, not the whole entity (see ``plan_push``)
    failures: list[tuple[str, dict[str, Any], Exception]] = field(default_factory=list)
    retirements: list[retire.Retirement] = field(default_factory=list)  # copies whose PRM record went (on_delete)

    def counts(self) -> dict[str, int]:
        creates = sum(1 for w in self.writes if w.action == "create")
        counts = {
            "create": creates,
            "update": len(self.writes) - creates,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "invalid": len(self.failures),
        }
        removes = sum(1 for r in self.retirements if r.action != "detach")
        if removes:
            counts["remove"] = removes  # copies going by on_delete
        return counts


def plan_push(ctx: RunContext, session: Any, sl: Slice, *, record_ids: set[str] | None = None) -> PushPlan:
    """What a push of this slice would write, and why.

    Visits only the records that may need a write: never linked, saved since
    their link last agreed (``row_version`` past ``record_version``), or
    agreed under another mapping (``push_fingerprint``); ``--full`` and
    targeted runs (``record_ids``) visit every record they name. A visited
    record whose values turn out to equal the agreement is marked as checked,
    so the next run skips it.
    """
    plan = PushPlan(sl)
    fingerprint = sl.mapping.push_fingerprint
    # links a crashed run never confirmed (its ``pending_links`` rows): those records are written
    # and linked again; a real run turns the rows into pending marks, a preview only reads them
    journaled = repo.left_over_links(session, sl.entity, sl.system, claim=not ctx.dry_run,
                                     marker=LINKS_PENDING + fingerprint)
    if record_ids is not None:
        versions = repo.row_versions(session, sl.entity, sorted(record_ids))
    elif ctx.full:
        versions = repo.row_versions(session, sl.entity)
    else:
        versions = repo.push_candidates(session, sl.entity, sl.system, fingerprint)
        missing = [rid for rid in journaled if rid not in versions]
        if missing and ctx.dry_run:  # not marked in a preview, so not among the candidates yet
            versions.update(repo.row_versions(session, sl.entity, missing))
        # the records not visited agree with their link as of their current version: unchanged
        plan.unchanged = repo.count_records(session, sl.entity) - len(versions)
    plan.considered = len(versions)
    states = repo.states_for(session, sl.entity, sl.system, list(versions))
    held = repo.held_fields(session, sl.entity, sl.system)
    fields = sl.push_fields
    linked_fields = [spec.prm for spec in sl.mapping.spec.associations]
    checked: dict[str, int] = {}
    unlinked: list[str] = []
    agreeing: list[str] = []  # linked records with nothing to write: a failed write of theirs is moot
    for item in _records_to_plan(ctx, session, sl.entity, versions):
        record = item.record
        state = states.get(record.id)
        if state is not None and state.remote_deleted:
            plan.skipped += 1
            continue
        retirement = retire.for_inactive(sl, record, state)
        if retirement is not None:
            plan.retirements.append(retirement)  # deactivated: this system's copy goes by its on_delete
            continue
        if record.inactive and state is None and sl.creates_remote and retire.policy(sl) in ("archive", "delete"):
            plan.skipped += 1  # never written here: not created only to be removed
            continue
        if not sl.creates_remote and (state is None or state.remote_id is None):
            plan.skipped += 1  # CRM-owned records are written back, never created by us
            continue
        values = item.values(fields)
        agreed = state.prm_values if state else None
        changed = [f for f in fields if agreed is None or agreed.get(f) != values[f]]
        owes_links = state is not None and (state.links_pending or record.id in journaled)
        if state is not None and state.links is not None:
            # a link whose target moved (a contact whose partner was merged into another): written and relinked
            changed += [spec.prm for spec in sl.mapping.spec.associations
                        if spec.prm not in changed and _target_moved(ctx, sl, spec, record, state)]
        if owes_links:
            # written, but its associations were never confirmed: write it (and link it) again
            changed += [f for f in linked_fields if f not in changed and getattr(record, f, None)]
        hold = held.get(record.id, set())
        changed = [f for f in changed if f not in hold]
        claim = state is not None and state.claim_pending and bool(state.remote_id) and sl.creates_remote
        if state is not None and not changed and not claim:
            plan.unchanged += 1
            agreeing.append(record.id)
            if owes_links and not any(getattr(record, f, None) for f in linked_fields):
                unlinked.append(record.id)  # nothing left to link: its association failure is moot
            if not hold and (state.record_version != versions[record.id] or state.push_fingerprint != fingerprint):
                checked[record.id] = versions[record.id]
            continue
        try:
            payload = sl.mapping.to_remote(record, ctx.links)
        except (PrmSyncError, ValueError, TypeError, ArithmeticError) as exc:  # this record's values alone
            plan.failures.append((record.id, record.model_dump(mode="json"), exc))
            continue
        for name in hold:
            for remote_name in sl.remote_names_for(name):
                payload.pop(remote_name, None)
        if record.inactive:
            payload.update(retire.mark_fields(sl))  # on_delete: mark
        key = record.id if sl.creates_remote and not claim else str(state.remote_id)  # type: ignore[union-attr]
        if claim:
            payload[sl.key_field] = record.id  # our id, written onto the record born in the CRM
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
                version=None if hold else versions[record.id],  # a held field keeps the record in view
                by_remote_id=claim,
            )
        )
    if record_ids is None:
        plan.retirements.extend(retire.for_orphans(ctx, session, sl))
    if checked and not ctx.dry_run:
        repo.mark_checked(session, sl.entity, sl.system, checked, fingerprint)
    if unlinked and not ctx.dry_run:
        repo.resolve_failures_many(session, sl.system, sl.remote_object, unlinked, ("associate",))
    repo.close_moot_failures(session, ctx, sl, agreeing, ("upsert", "map"),
                             f"{sl.system} {sl.remote_object} already holds what the PRM holds (fixed at the source "
                             "or by hand); nothing left to write")
    return plan


def _target_moved(ctx: RunContext, sl: Slice, spec: AssociationSpec, record: CanonicalRecord, state: LinkState) -> bool:
    other = getattr(record, spec.prm, None)
    target = ctx.links.remote_id_for(spec.entity, sl.system, str(other)) if other else None
    return target is not None and (state.links or {}).get(_link_key(spec)) not in (None, target)


def _records_to_plan(ctx: RunContext, session: Any, entity: str, versions: dict[str, int]) -> list[PushRecord]:
    """The records to plan (ordered by ``updated_at``, id), shared with the entity's other slices."""
    if ctx.push_records is None or ctx.push_records[0] != entity:
        ctx.push_records = (entity, {})
    cached = ctx.push_records[1]
    # an entry saved since another slice cached it (a review resolved meanwhile) is read again
    missing = [rid for rid, version in versions.items() if rid not in cached or cached[rid].version != version]
    if len(missing) > repo.SCAN_ALL_ABOVE:
        wanted = set(missing)
        cached.update(
            (r.id, PushRecord(r, versions[r.id])) for r in repo.list_records(session, entity) if r.id in wanted
        )
    elif missing:
        cached.update((r.id, PushRecord(r, versions[r.id])) for r in repo.list_records(session, entity, ids=missing))
    found = [cached[record_id] for record_id in versions if record_id in cached]
    found.sort(key=lambda item: (item.record.updated_at, item.record.id))
    return found


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
    retire.retire(ctx, sl, stats, plan.retirements)
    if ctx.dry_run:
        for w in plan.writes:
            if w.action == "create":
                stats.created += 1
            else:
                stats.updated += 1
            if ctx.preview is not None:
                ctx.preview.push(sl.system, sl.entity, w.record.id, w.state.remote_id if w.state else None, w.action,
                                 {f: (w.before.get(f), normalize(w.values.get(f))) for f in w.changed})
        return plan
    if any(w.state is not None and w.state.remote_id for w in plan.writes) and sweep_deletes(ctx, sl, stats, force=True):
        with ctx.transaction() as session:  # some linked records were deleted remotely: plan again
            plan = plan_push(ctx, session, sl, record_ids=record_ids)
    size = aligned_page_size(ctx.config.sync.page_size, connector.batch_size)
    # records adopted from the CRM are written by their own id (carrying ours from then on), the rest by our key
    batches = [*page([w for w in plan.writes if w.by_remote_id], size),
               *page([w for w in plan.writes if not w.by_remote_id], size)]
    written = 0
    ctx.progress(written, len(plan.writes))
    pipelined = ctx.config.sync.pipeline_writes and len(batches) > 1
    with RemoteCalls(pipelined=pipelined) as remote:

        def send(batch: list[PlannedWrite]) -> Future[list[WriteResult]]:
            ctx.checkpoint("push.before_write")
            ctx.before_remote_write()  # pipelined, this batch goes out before the previous one's fenced commit
            requests = [UpsertRequest(key=w.key, fields=w.payload) for w in batch]
            key_field = REMOTE_ID_FIELD[sl.system] if batch[0].by_remote_id else sl.key_field
            return remote.submit(connector.upsert, sl.remote_object, key_field, requests)

        in_flight = send(batches[0]) if batches else None
        linking: deque[LinkCall] = deque()  # association calls sent, oldest first, not yet settled
        try:
            for index, batch in enumerate(batches):
                results = in_flight.result()  # type: ignore[union-attr]
                ctx.checkpoint("push.after_remote_write")
                following = batches[index + 1] if index + 1 < len(batches) else None
                if pipelined and following is not None:
                    # the next batch goes out while this one commits: its upsert is idempotent, so a
                    # crash before this commit only means the next run writes both batches again
                    in_flight = send(following)
                failed_call: BaseException | None = None
                with ctx.transaction() as session:
                    links = _association_links(ctx, sl, batch, results)
                    # earlier batches' links, settled in this commit: those already answered, and the
                    # oldest once two are outstanding (so the engine rarely waits for one)
                    while linking and (linking[0].call.done() or len(linking) > 1):  # type: ignore[union-attr]
                        failed_call = _settle_links(ctx, session, sl, linking.popleft(), stats) or failed_call
                    _commit_results(ctx, session, sl, batch, results, stats, links.sent)
                    _note_links(ctx, session, sl, links)
                ctx.checkpoint("push.after_commit")
                written += len(batch)
                ctx.progress(written, len(plan.writes))
                if failed_call is not None:
                    raise failed_call  # this batch's links wait, journaled, for the next run
                if links.links:
                    links.call = remote.submit(_send_links, connector, links.links, links.removes, side=True)
                    linking.append(links)
                if not pipelined and following is not None:
                    in_flight = send(following)
        except BaseException:
            # their batches are committed: settle what became of their links if possible; if not,
            # their journal rows bring them back on the next run, and the original error goes up
            with suppress(Exception):
                _settle_all(ctx, sl, linking, stats)
            raise
        failed_call = _settle_all(ctx, sl, linking, stats)
        if failed_call is not None:
            raise failed_call
    return plan


def _settle_all(ctx: RunContext, sl: Slice, linking: deque[LinkCall], stats: SliceStats) -> BaseException | None:
    """Settle every outstanding link call, waiting for their answers before taking the write lock."""
    if not linking:
        return None
    wait([call.call for call in linking if call.call is not None])
    failed_call: BaseException | None = None
    with ctx.transaction() as session:
        while linking:
            failed_call = _settle_links(ctx, session, sl, linking.popleft(), stats) or failed_call
    return failed_call


def _note_links(ctx: RunContext, session: Any, sl: Slice, links: LinkCall) -> None:
    """In a written batch's commit: journal the links about to go out, mark the records still owed one.

    A record whose link target has no remote id yet (see ``_association_links``)
    is marked pending, so it is written, and linked, once the target exists.
    Records written with no link owed close any old ``associate`` failure.
    """
    if links.links:
        links.journal = repo.journal_links(session, ctx, sl, links.owners)
    if links.owed:
        repo.mark_links_pending(session, sl.entity, sl.system, links.owed, LINKS_PENDING + sl.mapping.push_fingerprint)
    repo.resolve_failures_many(session, sl.system, sl.remote_object, links.done, ("associate",))


def _pushed_here(ctx: RunContext, system: str, entity: str) -> bool:
    mapping = ctx.mappings.for_entity(system, entity)
    return mapping is not None and Slice.of(mapping).creates_remote


@dataclass
class LinkCall:
    """The associations of one written batch and whose they are, with the call sending them."""

    links: list[Association] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)  # per link: the PRM record id
    owed: list[str] = field(default_factory=list)  # records with a link whose target has no remote id yet
    done: list[str] = field(default_factory=list)  # records written with no link to send or owe
    sent: dict[str, dict[str, str]] = field(default_factory=dict)  # record -> link field -> target remote id
    removes: list[bool] = field(default_factory=list)  # per link: True to remove it (a target that changed)
    call: Future[list[WriteResult]] | None = None
    journal: int | None = None  # its ``pending_links`` row, deleted once the links are settled


def _settle_links(ctx: RunContext, session: Any, sl: Slice, linking: LinkCall, stats: SliceStats) -> BaseException | None:
    """Close a batch's link journal: refused links go to the failed-records store, their records pending.

    A pending record (``LINKS_PENDING``) is written again, and linked again,
    by the next run or a replay; so is every record of a journal row that a
    crash left behind (``plan_push``). Returns the error of a call that
    failed as a whole, for the caller to raise once this is committed (a
    spent quota ends the run as partial).
    """
    assert linking.call is not None
    error: BaseException | None = None
    try:
        results = linking.call.result()
    except Exception as exc:  # the whole call failed: every link in it did
        error = exc
        info = getattr(exc, "info", None)
        results = [
            WriteResult(key=f"{a.from_id}->{a.to_id}", ok=False, error_code=getattr(info, "code", None) or type(exc).__name__,
                        error_message=getattr(info, "message", None) or str(exc))
            for a in linking.links
        ]
    refused: dict[str, list[tuple[Association, WriteResult, bool]]] = {}
    removes = linking.removes or [False] * len(linking.links)
    for record_id, link, result, remove in zip(linking.owners, linking.links, results, removes, strict=True):
        if not result.ok:
            refused.setdefault(record_id, []).append((link, result, remove))
    linked = list(dict.fromkeys(record_id for record_id in linking.owners if record_id not in refused))
    repo.resolve_failures_many(session, sl.system, sl.remote_object, linked, ("associate",))
    if refused:
        repo.mark_links_pending(session, sl.entity, sl.system, list(refused), LINKS_PENDING + sl.mapping.push_fingerprint)
    for record_id, failed in refused.items():
        stats.failed += 1
        _, result, _ = failed[0]
        payload = {"links": [{"to_object": a.to_object, "to_id": a.to_id, "label": a.label,
                              "error": r.error_message, **({"remove": True} if remove else {})}
                             for a, r, remove in failed]}
        repo.record_write_failure(session, ctx, sl, record_id, payload, result, stats, operation="associate")
    if linking.journal is not None:
        repo.close_link_journal(session, linking.journal)
    return error


class RemoteCalls:
    """Where a slice's write calls run: on worker threads (pipelined) or inline.

    Pipelined, upserts run in order on one thread while the engine commits
    the previous batch, and association calls (``side=True``) run in order
    on a second one: a batch's links need only its own upserts, which are
    committed by then, and the next batch's upsert need not queue behind
    them. Leaving the block waits for every call already queued, and
    cancels none: an association call still runs after a later upsert
    failed, because its batch is committed and the next run would not send
    it again.
    """

    def __init__(self, *, pipelined: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prm-sync-write") if pipelined else None
        self._side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prm-sync-link") if pipelined else None

    def __enter__(self) -> RemoteCalls:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pool in (self._pool, self._side):
            if pool is not None:
                pool.shutdown(wait=True)

    def submit(self, fn: Callable[..., T], *args: Any, side: bool = False) -> Future[T]:
        pool = self._side if side else self._pool
        if pool is not None:
            return pool.submit(fn, *args)
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # re-raised by .result() where the pipelined path would raise it
            done.set_exception(exc)
        return done


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
    links_sent: dict[str, dict[str, str]] | None = None,
) -> None:
    """Link states, external ids, failure closes, and the ledger and audit of one written batch.

    Built as plain rows and written with one statement per kind per batch:
    this runs for every record a sync writes, so it avoids a model object or
    a query per record.

    For the same reason the rows are kept few and small, since the store's
    insert cost and growth follow the rows and the bytes: the ledger and the
    audit of the whole batch are one ``push_batch`` row (each record one
    item: its payload, the canonical values of the fields that changed and
    their values before; the provenance every record shares is stored once,
    and the value a remote field got is read from the payload), plus one
    two-key ``push_batch_record`` row per record that finds it again. The
    link's snapshot leaves out its PRM side when it equals the remote side
    (``pack_snapshot``), and a ``push.create`` item's before-values keep
    only the non-null ones (a created record had no before; readers
    ``.get`` a field, so a missing one reads as blank).
    """
    now = ctx.clock()
    state_rows: list[dict[str, Any]] = []
    entries: list[list[Any]] = []  # the batch's ledger and audit, one item per record (``PushBatchRow``)
    new_remote_ids: dict[str, str] = {}
    succeeded: list[str] = []
    for write, result in zip(batch, results, strict=True):
        record_id = write.record.id
        if not result.ok:
            stats.failed += 1
            repo.record_write_failure(session, ctx, sl, record_id, write.payload, result, stats)
            continue
        prior = write.state
        remote_id = result.remote_id or (prior.remote_id if prior else None)
        created = bool(result.created or (prior is None and result.created is None))
        if created:
            stats.created += 1
        else:
            stats.updated += 1
        read_back = _read_back(ctx, sl, write)
        remote_values = {**prior.remote_values, **read_back} if prior else read_back
        prm_values = {**prior.prm_values, **write.values} if prior else dict(write.values)
        state_rows.append(
            {
                "entity": sl.entity, "record_id": record_id, "system": sl.system, "remote_object": sl.remote_object,
                "remote_id": remote_id, "content_hash": hash_normalized(remote_values),
                "remote_modstamp": prior.remote_modstamp if prior else None, "last_synced_at": now,
                "last_direction": "push", "snapshot": _with_links(pack_snapshot(remote_values, prm_values),
                                                                 links_sent, record_id),
                "remote_deleted": False, "record_version": write.version,
                "push_fingerprint": sl.mapping.push_fingerprint,
            }
        )
        ctx.links.remember_id(sl.entity, sl.system, record_id, remote_id)
        if remote_id and write.record.external_ids.get(sl.system) != remote_id:
            new_remote_ids[record_id] = remote_id
            write.record.external_ids[sl.system] = remote_id  # keep the planned record (and its cache) current
        succeeded.append(record_id)
        values = write.values
        before = {f: v for f, v in write.before.items() if v is not None} if result.created else write.before
        entries.append([record_id, remote_id, bool(result.created), before,
                        {f: values.get(f) for f in write.changed}, write.payload])
    repo.put_state_rows(session, state_rows)
    repo.set_external_ids(session, sl.entity, new_remote_ids, sl.system)
    repo.resolve_failures_many(session, sl.system, sl.remote_object, succeeded, ("upsert", "map"))
    repo.append_push_batch(session, ctx, sl, now, _provenance_template(sl), entries)


def _with_links(snapshot: dict[str, Any], links_sent: dict[str, dict[str, str]] | None, record_id: str) -> dict[str, Any]:
    """The snapshot, plus the association targets this write sent (``LinkState.links``)."""
    if links_sent is not None and record_id in links_sent:
        snapshot["links"] = links_sent[record_id]
    return snapshot


def _provenance_template(sl: Slice) -> dict[str, list[str | None]]:
    """PRM field -> [remote field, rule]: the audit provenance a push of this slice shares by all its records."""
    out: dict[str, list[str | None]] = {}
    for flow in sl.flows:
        if flow.prm not in out:  # the first flow of a field is the one the audit names (``Slice.flow``)
            out[flow.prm] = [flow.remote, flow.rule]
    return out


def _read_back(ctx: RunContext, sl: Slice, write: PlannedWrite) -> dict[str, Any]:
    """What the next read of this record will map to: the snapshot an echo must equal.

    A one-way transform (``lower``, ``trim``, a value map with a default) reads
    back differently from what the PRM holds; recording the read-back value
    keeps our own write from looking like a remote edit. Each field is read
    back on its own: one whose payload key is not readable as written (a
    Salesforce ``__r`` reference) keeps the PRM value without affecting the rest.
    Plain fields (no transform, no default) read back as the PRM value itself
    and are not run through the mapping again.
    """
    values = dict(write.values)
    if not sl.mapping.transforming_readers:
        return values
    return sl.mapping.read_back(values, write.payload, ctx.links, normalize)  # generated per mapping (``compiled``)


def _association_links(ctx: RunContext, sl: Slice, batch: list[PlannedWrite], results: list[WriteResult]) -> LinkCall:
    """The associations the mapping asks for (HubSpot v4), and the records still owed one.

    Lookups come from the link index, inside the batch's transaction (it
    reads the states it has not loaded yet through that session). A link
    whose target the push itself creates in this system (a partner's
    company) but which has no remote id yet (its write was refused, say) is
    owed; a missing target the system owns (a customer company) is not. An
    update sends only the links whose target changed since its last write
    (``_links_in_place``).
    """
    out = LinkCall()
    specs = sl.mapping.spec.associations
    if not specs or getattr(ctx.connectors[sl.system], "associate", None) is None:
        return out
    ours = {spec.entity: _pushed_here(ctx, sl.system, spec.entity) for spec in specs}
    for write, result in zip(batch, results, strict=True):
        if not result.ok or not result.remote_id:
            continue
        record_id = write.record.id
        linked = owed = False
        sent = out.sent[record_id] = {}
        already = _links_in_place(ctx, write.state, result.remote_id)
        targets: dict[str, str | None] = {}
        for spec in specs:
            other = getattr(write.record, spec.prm, None)
            other_remote = ctx.links.remote_id_for(spec.entity, sl.system, str(other)) if other else None
            targets[spec.prm] = other_remote
            if not other:
                continue
            if not other_remote:
                owed = owed or ours[spec.entity]
                continue
            sent[_link_key(spec)] = other_remote
            if already.get(_link_key(spec)) == other_remote:
                continue  # went out with an earlier write and was not refused since: not again
            out.links.append(
                Association(
                    from_object=sl.remote_object,
                    from_id=result.remote_id,
                    to_object=spec.to_object,
                    to_id=other_remote,
                    label=spec.label,
                )
            )
            out.owners.append(record_id)
            out.removes.append(False)
            linked = True
        for spec, stale in _stale_links(write.state, result.remote_id, specs, targets):
            sent[STALE + _link_key(spec)] = stale  # kept until a write finds it removed (not pending)
            out.links.append(Association(from_object=sl.remote_object, from_id=result.remote_id,
                                         to_object=spec.to_object, to_id=stale, label=spec.label))
            out.owners.append(record_id)
            out.removes.append(True)
            linked = True
        if owed:
            out.owed.append(record_id)
        elif not linked:
            out.done.append(record_id)
    return out


def _links_in_place(ctx: RunContext, prior: LinkState | None, remote_id: str) -> dict[str, str]:
    """The association targets an update need not send again: those its last write sent.

    A HubSpot association call per written batch was most of what an update
    of a registration cost (5 of the 21 calls of a 1 % run). A target counts
    as in place when the record's last write sent the same one to the same
    remote record and nothing since marked its links pending (a refused link
    or a crash does). A full sync (``--full``) sends every link of the records
    it writes again, which restores one removed in the CRM meanwhile.
    """
    if ctx.full or prior is None or prior.links is None or prior.links_pending or prior.remote_id != remote_id:
        return {}
    return prior.links


STALE = "~"  # ``LinkState.links`` key prefix of a target whose link is being removed


def _link_key(spec: AssociationSpec) -> str:
    """A link's key in ``LinkState.links``: a mapping that changes its object or label sends it again."""
    return f"{spec.prm}>{spec.to_object}:{spec.label or ''}"


def _stale_links(prior: LinkState | None, remote_id: str, specs: list[AssociationSpec],
                 targets: dict[str, str | None]) -> list[tuple[AssociationSpec, str]]:
    """Links the last write sent whose target has changed since: they are removed, not left beside the new one.

    A registration moved to another partner was otherwise associated with
    both partners' companies. A removal refused last time (the record is
    pending) is tried again. A target still linked through another field (the
    same company as partner and customer) stays, and so does everything when
    the remote record is not the one the links were sent to.
    """
    if prior is None or not prior.links or prior.remote_id != remote_id:
        return []
    keep = {(spec.to_object, targets.get(spec.prm)) for spec in specs}
    out = []
    for spec in specs:
        stale = {prior.links.get(_link_key(spec))}
        if prior.links_pending:
            stale.add(prior.links.get(STALE + _link_key(spec)))
        out.extend((spec, old) for old in sorted(s for s in stale if s) if (spec.to_object, old) not in keep)
    return out


def _send_links(connector: Any, links: list[Association], removes: list[bool]) -> list[WriteResult]:
    """One batch's association calls: links to create, then links to remove; results in ``links`` order."""
    create = [i for i, remove in enumerate(removes) if not remove]
    remove = [i for i, remove in enumerate(removes) if remove]
    results: dict[int, WriteResult] = {}
    if create:
        results.update(zip(create, connector.associate([links[i] for i in create]), strict=True))
    if remove:
        results.update(zip(remove, connector.disassociate([links[i] for i in remove]), strict=True))
    return [results[i] for i in range(len(links))]
