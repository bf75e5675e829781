"""Read a system's changes into the PRM store.

Changes arrive ascending by (modstamp, id). Each page is applied and
committed together with the cursor that covers it, so a crash loses nothing
and re-reads at most one page. The read starts ``overlap_seconds`` before the
cursor because modstamps can commit late; re-read records compare equal to
their snapshot and cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import Any

from pydantic import ValidationError

from connectors.base import Cursor, RemoteRecord
from prm_sync.errors import PrmSyncError
from prm_sync.mapping.merge import resolve_rule
from prm_sync.mapping.values import is_blank
from prm_sync.model import ENTITIES, CanonicalRecord, new_id
from prm_sync.store import identity as identity_store
from prm_sync.store import records
from prm_sync.sync import merges, repo, retire
from prm_sync.sync.context import RunContext
from prm_sync.sync.identity import Identity, resolve, summary_of
from prm_sync.sync.linkstate import CLAIM_PENDING, LinkState
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import SliceStats, UnmatchedSample
from prm_sync.sync.values import content_hash, normalize, normalize_all

# what one remote record's content can raise while it is mapped and applied: it fails that record
# alone (ArithmeticError: decimal and date arithmetic on a value no system should hold)
_RECORD_ERRORS = (PrmSyncError, ValidationError, ValueError, TypeError, ArithmeticError)


def pull_slice(ctx: RunContext, sl: Slice, stats: SliceStats) -> None:
    connector = ctx.connectors[sl.system]
    with ctx.transaction() as session:
        cursor = repo.get_cursor(session, sl.system, sl.remote_object, sl.entity)
    since = cursor
    if cursor.modstamp is not None and ctx.config.sync.overlap_seconds:
        since = Cursor(modstamp=cursor.modstamp - timedelta(seconds=ctx.config.sync.overlap_seconds))
    sweep = getattr(connector, "read_deleted", None) if getattr(connector, "deletes_need_extra_call", False) else None
    fields = sl.mapping.remote_fields_to_read()
    if not ctx.full:  # read on demand in apply_page, for the records that are not echoes
        later = set(_on_demand(connector, fields))
        fields = [f for f in fields if f not in later]
    changes = connector.read_changes(sl.remote_object, fields, since, where=sl.filter, include_deleted=sweep is None)
    page_size = ctx.config.sync.page_size
    if sweep is not None:
        sweep_deletes(ctx, sl, stats, force=(sl.system, sl.remote_object) in ctx.sweep_now)
    while True:
        page = list(islice(changes, page_size))
        if not page:
            break
        with ctx.transaction() as session:
            apply_page(ctx, session, sl, page, stats)
            last = page[-1]
            newest = (
                cursor if _before_or_equal(last, cursor) else Cursor(modstamp=last.modstamp, last_id=last.id)
            )
            if not ctx.dry_run:
                repo.set_cursor(session, sl.system, sl.remote_object, sl.entity, newest, ctx.run_id)
            cursor = newest
        ctx.checkpoint("pull.after_commit")
        ctx.progress(stats.read)


def sweep_deletes(ctx: RunContext, sl: Slice, stats: SliceStats, *, force: bool = False) -> int:
    """Look for remote deletes when due, from a cursor of their own (``<object>#deletes``).

    For connectors whose change feed cannot include deletes cheaply (HubSpot).
    Due on the first run, after ``sync.delete_sweep_seconds``, after ``--full``
    (which clears every cursor), and always (``force``) before a push updates
    records we already hold links for, because an upsert by our key does not
    see an archived record and would silently re-create what a user deleted.
    A webhook announcing a delete makes it due at once (``ctx.sweep_now``): the
    sweep confirms the record really is archived before anything is done.
    Reconcile catches deletes too. Returns the deletes applied.
    """
    connector = ctx.connectors[sl.system]
    sweep = getattr(connector, "read_deleted", None)
    if sweep is None or not getattr(connector, "deletes_need_extra_call", False):
        return 0
    marker = f"{sl.remote_object}#deletes"
    now = ctx.clock()
    with ctx.transaction() as session:
        last = repo.get_cursor(session, sl.system, marker, sl.entity)
    interval = timedelta(seconds=ctx.config.sync.delete_sweep_seconds)
    if not force and last.modstamp is not None and now - last.modstamp < interval:
        return 0
    before = stats.deleted
    overlap = timedelta(seconds=ctx.config.sync.overlap_seconds)
    since = Cursor(modstamp=last.modstamp - overlap) if last.modstamp is not None else Cursor()
    deleted = list(sweep(sl.remote_object, sl.mapping.remote_fields_to_read(), since))
    for start in range(0, max(len(deleted), 1), ctx.config.sync.page_size):
        with ctx.transaction() as session:
            if deleted:
                apply_page(ctx, session, sl, deleted[start : start + ctx.config.sync.page_size], stats)
            if not ctx.dry_run and start + ctx.config.sync.page_size >= len(deleted):
                repo.set_cursor(session, sl.system, marker, sl.entity, Cursor(modstamp=now), ctx.run_id)
    return stats.deleted - before


def _on_demand(connector: Any, fields: list[str]) -> list[str]:
    """Remote fields the connector reads with a call of their own (HubSpot associations), if any."""
    pick = getattr(connector, "on_demand_fields", None)
    return list(pick(fields)) if pick is not None else []


def _fill_on_demand(ctx: RunContext, sl: Slice, page: list[RemoteRecord]) -> tuple[list[str], set[str]]:
    """The on-demand fields missing from this page, and the PRM fields that read them.

    An incremental pull leaves fields out that cost a call of their own (a
    HubSpot deal's company); the page is first compared without them, and only
    the records that are not echoes have them read, so that re-reading our own
    writes costs no extra call. A full sync reads them for every record, which
    is what picks up a change of a deal's company alone.
    """
    connector = ctx.connectors[sl.system]
    live = [r for r in page if not (r.deleted or r.merged_into)]
    missing = [f for f in _on_demand(connector, sl.mapping.remote_fields_to_read()) if any(f not in r.fields for r in live)]
    if not missing:
        return [], set()
    needs = set(missing)
    prm = {r.prm for r in sl.mapping.readers
           if r.prm and needs.intersection(r.from_inputs if r.from_inputs is not None else [r.remote])}
    return missing, prm


def _before_or_equal(record: RemoteRecord, cursor: Cursor) -> bool:
    if cursor.modstamp is None:
        return False
    return (record.modstamp, record.id) <= (cursor.modstamp, cursor.last_id or "")


def apply_page(
    ctx: RunContext, session: Any, sl: Slice, page: list[RemoteRecord], stats: SliceStats
) -> list[str]:
    """Apply one page of remote records; returns the PRM ids whose values changed."""
    ctx.push_records = None  # records may change: the push lists them again
    if sl.creates_remote and not ctx.dry_run:
        ctx.keys.catch_up(session, sl.entity)  # what a parallel run of another system created meanwhile
    # merges first: who a survivor is depends on the records it absorbed (see ``merges``)
    merged = merges.apply_merges(ctx, session, sl, page, stats) if sl.creates_remote else set()
    # one remote object can hold two entities (Account: partners and customers; account.move:
    # invoices and vendor bills); a link of the other entity means "not ours", not "ours"
    states = {
        rid: s
        for rid, s in repo.states_by_remote(session, sl.system, sl.remote_object, [r.id for r in page]).items()
    }
    foreign = {rid for rid, s in states.items() if s.entity != sl.entity}
    # map the page first: records that read back exactly as their link remembers them (echoes of
    # our own writes, overlap re-reads) need only to exist, not to be loaded
    present = repo.existing_ids(session, sl.entity, [s.record_id for s in states.values() if s.entity == sl.entity])
    later, unread = _fill_on_demand(ctx, sl, page)
    mapped: dict[str, Mapped | Exception] = {}
    echoes: set[str] = set()
    for remote in page:
        if remote.id in foreign or remote.deleted or remote.merged_into:
            continue
        try:
            mapped[remote.id] = found = _map(ctx, sl, remote)
        except _RECORD_ERRORS as exc:
            mapped[remote.id] = exc
            continue
        state = states.get(remote.id)
        if state is not None and state.record_id in present and _agrees(state, found.remote_norm, unread):
            echoes.add(remote.id)
    if later:
        rest = [r for r in page if r.id in mapped and r.id not in echoes]
        if rest:
            ctx.connectors[sl.system].fill_on_demand(sl.remote_object, later, rest)
            for remote in rest:
                try:
                    mapped[remote.id] = _map(ctx, sl, remote)
                except _RECORD_ERRORS as exc:
                    mapped[remote.id] = exc
    # one query puts the other linked records in the session: each get_record below is then an
    # identity-map hit, not a SELECT per record (kept referenced so the map keeps them)
    _preloaded = repo.preload_records(
        session, sl.entity, [s.record_id for rid, s in states.items() if s.entity == sl.entity and rid not in echoes]
    )
    changed: list[str] = []
    read_ok: list[str] = []  # remote ids that read cleanly: their read failures are settled
    agreeing: list[str] = []  # ... of which these changed nothing in the PRM
    for record in page:
        stats.read += 1
        if record.id in merged:
            continue
        if record.id in foreign:
            stats.skipped += 1
            continue
        if record.id in echoes:
            stats.unchanged += 1  # an echo of our own write, or an overlap re-read
            agreeing.append(record.id)
            continue
        skipped = stats.skipped
        try:
            # a mapping that resolves ids through the link index maps again: this page may have linked them
            reuse = None if sl.mapping.reads_links else mapped.get(record.id)
            record_id = _apply_one(ctx, session, sl, record, states.get(record.id), stats, reuse)
        except _RECORD_ERRORS as exc:
            stats.failed += 1
            repo.record_failure(
                session,
                ctx,
                sl,
                record_key=record.id,
                operation="read",
                payload=record.fields,
                exc=exc,
                stats=stats,
            )
            continue
        if record_id:
            changed.append(record_id)
            read_ok.append(record.id)
        elif not record.deleted and not record.merged_into and stats.skipped == skipped:
            agreeing.append(record.id)
    repo.resolve_failures_many(session, sl.system, sl.remote_object, read_ok, ("read",))
    repo.close_moot_failures(session, ctx, sl, agreeing, ("read",),
                             f"the {sl.system} {sl.remote_object} record now reads cleanly and agrees with the PRM")
    ctx.pulled.setdefault(sl.entity, set()).update(changed)
    return changed


@dataclass(slots=True)
class Mapped:
    """A remote record mapped to canonical values: all of them, the pulled ones, and those normalised."""

    values: dict[str, Any]
    pulled: dict[str, Any]
    remote_norm: dict[str, Any]


def _map(ctx: RunContext, sl: Slice, remote: RemoteRecord) -> Mapped:
    values = sl.mapping.from_remote(remote.fields, ctx.links)
    pulled = {f: values.get(f) for f in sl.pull_fields}
    return Mapped(values, pulled, normalize_all(pulled))


def _agrees(state: LinkState, remote_norm: dict[str, Any], unread: set[str] | frozenset[str] = frozenset()) -> bool:
    seen = state.remote_values
    return all(seen.get(f) == v for f, v in remote_norm.items() if f not in unread)


def _apply_one(
    ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, state: LinkState | None, stats: SliceStats,
    mapped: Mapped | Exception | None = None,
) -> str | None:
    if remote.deleted or remote.merged_into:
        return _apply_delete(ctx, session, sl, remote, state, stats)
    if isinstance(mapped, Exception):
        raise mapped
    found = mapped if mapped is not None else _map(ctx, sl, remote)
    values, pulled, remote_norm = found.values, found.pulled, found.remote_norm
    # a value the store cannot keep fails the record now, before it is adopted, merged or counted
    records.check_storable_values(sl.entity, values.get, session.get_bind().dialect.name)
    claim = False
    if state is not None:
        record_id = state.record_id
    elif sl.creates_remote:
        who = _identify(ctx, session, sl, remote, values, stats)
        if who is None:
            return None
        record_id, claim = who
    else:
        record_id, known = _match(ctx, session, sl, remote, values)
        # a record the match just minted has no link to compare with: a new remote record costs no query here
        if known and sl.match_kind == "natural_key" and _superseded(session, sl, record_id, remote):
            stats.unchanged += 1  # an older result for the same key, re-read in the overlap: the later one stands
            return None
    record = repo.get_record(session, sl.entity, record_id)
    if record is None and state is not None and sl.creates_remote:
        stats.skipped += 1  # deleted (or merged away) in the PRM: its copy is not read back to life
        return None
    if record is not None and state is not None and _agrees(state, remote_norm):
        stats.unchanged += 1  # an echo of our own write, or an overlap re-read
        return None

    entity_cls = ENTITIES[sl.entity]
    if record is None:
        data = {k: v for k, v in pulled.items() if v is not None}
        if sl.match_kind == "natural_key":
            data.update({k: v for k, v in values.items() if v is not None})
        data.update(id=record_id, external_ids={sl.system: remote.id})
        record = entity_cls.model_validate(data)
        before: dict[str, Any] = {}
        counter = "created"
        decisions = {f: "from_remote" for f in pulled}
    else:
        before = {f: normalize(getattr(record, f)) for f in pulled}
        updates, decisions = _merge(session, sl, record, remote, pulled, remote_norm, state, stats)
        external_ids = {**record.external_ids, sl.system: remote.id}
        if not updates and external_ids == record.external_ids:
            stats.unchanged += 1
            _link(ctx, sl, record, remote, remote_norm, state, claim=claim)
            return None
        merged = {**record.model_dump(), **updates, "external_ids": external_ids}
        if updates:
            merged["updated_at"] = ctx.clock()
        record = entity_cls.model_validate(merged)
        counter = "updated" if updates else "unchanged"
    # the pulled values changed in the remote system, at or before its modstamp: that is their time
    # (a value the store cannot keep raises here, before anything of this record is in the session)
    repo.save_record(session, record, changed_at=remote.modstamp)
    setattr(stats, counter, getattr(stats, counter) + 1)
    if claim:
        ctx.keys.add(record)
    _link(ctx, sl, record, remote, remote_norm, state, claim=claim)
    after = {f: normalize(getattr(record, f)) for f in pulled}
    diff = {f: after[f] for f in after if before.get(f) != after[f]}
    if diff and ctx.preview is not None:
        ctx.preview.pull(sl.system, sl.entity, record.id, remote.id, "update" if before else "create", before, diff)
    if diff:
        repo.audit(
            session, ctx, sl, action="pull", record_id=record.id, remote_id=remote.id,
            before={f: before.get(f) for f in diff}, after=diff, decisions=decisions,
        )
    return record.id if diff else None


def _merge(
    session: Any,
    sl: Slice,
    record: CanonicalRecord,
    remote: RemoteRecord,
    pulled: dict[str, Any],
    remote_norm: dict[str, Any],
    state: LinkState | None,
    stats: SliceStats,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Three-way merge per field against the last agreement (see LinkState)."""
    updates: dict[str, Any] = {}
    decisions: dict[str, str] = {}
    marked = _marked_fields(sl, record, remote)
    for name, remote_value in remote_norm.items():
        if state is not None and name in state.remote_values and state.remote_values[name] == remote_value:
            continue  # the remote did not change this field; a PRM change will be pushed
        if name in marked:
            decisions[name] = "on_delete_mark"  # our own mark on a retired copy, not an edit to read back
            continue
        prm_value = normalize(getattr(record, name))
        if prm_value == remote_value:
            continue
        flow = sl.flow(name)
        prm_changed = state is None or state.prm_values.get(name) != prm_value
        if flow is None or flow.direction == "from_remote" or not prm_changed:
            updates[name] = pulled[name]
            decisions[name] = "from_remote"
            continue
        if state is None and is_blank(prm_value) != is_blank(remote_value):
            # never agreed (a record adopted or linked by its natural key): a blank on one side is no
            # edit, so the value fills it, whatever the rule; a rep's bare new account must not wipe
            # the partner's phone, nor the PRM's blank the phone the rep typed
            if is_blank(prm_value):
                updates[name] = pulled[name]
            decisions[name] = f"fill_blank:{'remote' if is_blank(prm_value) else 'prm'}"
            continue
        stats.conflicts += 1
        prm_at = repo.field_changed_at(session, record, name) if flow.rule == "newest" else None
        winner = resolve_rule(flow.rule, prm_value, remote_value, prm_at, remote.modstamp)
        decisions[name] = f"{flow.rule}:{winner}"
        if winner == "remote":
            updates[name] = pulled[name]
        elif winner == "review":
            repo.open_review(session, sl, record.id, name, prm_value, remote_value)
    return updates, decisions


def _identify(
    ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, values: dict[str, Any], stats: SliceStats
) -> tuple[str, bool] | None:
    """Who a never-linked record of a slice keyed by our id is: (PRM id, our id still to be written back).

    None when it is not tied to a PRM record: reported as unmatched (or
    ignored, by the mapping's ``on_unmatched``), never silently skipped.
    """
    key = remote.fields.get(sl.key_field)
    who: Identity = resolve(
        session, entity=sl.entity, system=sl.system, remote_id=remote.id, key=key, values=values,
        spec=sl.mapping.spec, index=ctx.keys,
    )
    if who.decided and who.record_id:
        if who.how != "prm_id":
            stats.adopted += 1
        if not ctx.dry_run:  # whoever it turned out to be, it no longer waits for a person (a PRM id given by hand too)
            identity_store.settle_unmatched(session, sl.system, sl.remote_object, [remote.id], status="adopted",
                                            record_id=who.record_id, now=ctx.clock())
        return who.record_id, who.how != "prm_id"
    if who.how == "ignored":
        stats.skipped += 1
        return None
    reason = {"unmatched": "no_prm_id"}.get(who.how, who.how)
    summary = summary_of(values)
    stats.unmatched += 1
    if len(stats.unmatched_records) < repo.MAX_FAILURE_SAMPLES:
        stats.unmatched_records.append(UnmatchedSample(
            remote_id=remote.id, reason=reason, summary=summary, detail=who.detail, candidates=who.candidates))
    if not ctx.dry_run:
        identity_store.note_unmatched(
            session, system=sl.system, remote_object=sl.remote_object, entity=sl.entity, remote_id=remote.id,
            reason=reason, summary=summary, detail=who.detail, candidates=who.candidates,  # type: ignore[arg-type]
            values={k: v for k, v in values.items() if v is not None}, run_id=ctx.run_id, now=ctx.clock(),
        )
    return None


def _marked_fields(sl: Slice, record: CanonicalRecord, remote: RemoteRecord) -> set[str]:
    """PRM fields whose remote value is this inactive record's ``on_delete: mark``, as we wrote it.

    The mark (say ``partner_status: suspended`` on a HubSpot company whose
    partner the PRM terminated) is what this system shows for a retired copy;
    read back, it would overwrite the PRM's own status with it. Any other
    value is a user's edit and is read as usual.
    """
    mark = retire.mark_fields(sl) if record.inactive else {}
    return {f.prm for f in sl.flows
            if f.prm and f.remote in mark and str(remote.fields.get(f.remote)) == str(mark[f.remote])}


def _superseded(session: Any, sl: Slice, record_id: str, remote: RemoteRecord) -> bool:
    """Whether the record already holds a later remote record of its natural key.

    Several remote records can share one natural key (a learner's retake of a
    course is a new xAPI statement for the same completion); the link follows
    the one applied last. Without this, each overlap re-read would apply the
    other one again and the completion would flip between the two every run.
    Ties go by remote id, so the outcome does not depend on read order.
    """
    link = repo.states_for(session, sl.entity, sl.system, [record_id]).get(record_id)
    if link is None or link.remote_id == remote.id or link.remote_modstamp is None or remote.modstamp is None:
        return False
    return (link.remote_modstamp, link.remote_id) > (remote.modstamp, remote.id)


def _match(
    ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, values: dict[str, Any]
) -> tuple[str, bool]:
    """Find (or mint) the PRM id for a system-owned remote record we have never linked; and whether it was found."""
    if sl.match_kind == "natural_key":
        keys = sl.mapping.spec.match.natural_key or []
        found = repo.find_by_fields(session, sl.entity, {k: values.get(k) for k in keys})
    else:
        found = ctx.links.prm_id_for(sl.entity, sl.system, remote.id)
    return (found, True) if found else (new_id(ENTITIES[sl.entity].id_prefix), False)


def _link(
    ctx: RunContext, sl: Slice, record: CanonicalRecord, remote: RemoteRecord,
    remote_norm: dict[str, Any], state: LinkState | None, *, claim: bool = False,
) -> None:
    """Record the new agreement: fields where both sides now hold the same value.

    ``claim``: the remote record does not carry our id yet (adopted): the
    link is marked so that the next push writes it by its remote id.
    """
    prm_values = dict(state.prm_values) if state else {}
    for name, remote_value in remote_norm.items():
        current = normalize(getattr(record, name))
        if current == remote_value:
            prm_values[name] = current
    remote_values = {**(state.remote_values if state else {}), **remote_norm}
    new_state = LinkState(
        entity=sl.entity, record_id=record.id, system=sl.system, remote_object=sl.remote_object,
        remote_id=remote.id, remote_values=remote_values, prm_values=prm_values,
        content_hash=content_hash(remote_values), remote_modstamp=remote.modstamp, last_synced_at=ctx.clock(),
        # a record whose links (or our id) are still owed stays owed: only a push that writes it clears that
        push_fingerprint=CLAIM_PENDING if claim else (
            state.push_fingerprint if state is not None and (state.links_pending or state.claim_pending) else None),
        links=state.links if state is not None and state.remote_id == remote.id else None,  # still sent
    )
    repo.put_state(ctx.links.session, new_state)
    ctx.links.remember(new_state)


def _apply_delete(
    ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, state: LinkState | None, stats: SliceStats
) -> str | None:
    """A remote delete or merge.

    Records the CRM owns (keyed by its id) are deleted from the store; one the
    CRM merged into a record the PRM knows becomes part of that record
    (references move to it, its id stays as an alias), so a merged-away
    customer is no longer a customer anywhere, the conflict check included.
    Records the PRM owns (partners, registrations) are only unlinked and
    marked so the next push does not silently re-create what a user deleted
    (their merges are ``merges.apply_merges``'). Either way it is audited.
    """
    if state is None or state.remote_deleted:
        stats.unchanged += 1
        if state is None and sl.creates_remote and not ctx.dry_run:  # a record reported unmatched is gone: settled
            identity_store.settle_unmatched(session, sl.system, sl.remote_object, [remote.id],
                                            status="merged" if remote.merged_into else "deleted", now=ctx.clock())
        return None
    reason = f"merged into {remote.merged_into}" if remote.merged_into else "deleted remotely"
    if sl.match_kind == "remote_id":
        survivor = ctx.links.prm_id_for(sl.entity, sl.system, str(remote.merged_into)) if remote.merged_into else None
        if survivor and survivor != state.record_id:
            # the CRM owns these records: its merge is the truth, with the survivor's values as it holds them
            merges.merge_into(session, sl.entity, state.record_id, survivor, system=sl.system, run_id=ctx.run_id,
                              now=ctx.clock(), reason=f"merged in {sl.system} ({sl.remote_object} {remote.id})",
                              fill_blanks=False)
        else:
            repo.delete_record(session, sl.entity, state.record_id)
    elif sl.creates_remote and not remote.merged_into:
        _deactivate(ctx, session, sl, state.record_id, remote)
    updated = state.model_copy(  # no record_version: the push keeps seeing (and skipping) it
        update={"remote_deleted": True, "remote_modstamp": remote.modstamp, "last_synced_at": ctx.clock(),
                "record_version": None}
    )
    if remote.merged_into:
        survivor = ctx.links.prm_id_for(sl.entity, sl.system, remote.merged_into)
        reason += f" (PRM record {survivor})" if survivor else ""
    repo.put_state(session, updated)
    ctx.links.forget(sl.entity, sl.system, state.record_id)
    if ctx.preview is not None:
        ctx.preview.pull(sl.system, sl.entity, state.record_id, remote.id, "delete", {}, {})
    repo.audit(
        session,
        ctx,
        sl,
        action="remote_delete",
        record_id=state.record_id,
        remote_id=remote.id,
        before={},
        after={},
        decisions={},
        reason=reason,
    )
    stats.deleted += 1
    return state.record_id


def _deactivate(ctx: RunContext, session: Any, sl: Slice, record_id: str, remote: RemoteRecord) -> None:
    """A record of ours deleted in one system is marked in the PRM (a partner is terminated), never lost.

    The other systems then see a deactivated record and apply their own
    ``on_delete`` to their copies, so a Salesforce delete reaches HubSpot.
    Entities with no notion of inactive (``inactive_when``) stay as they are.
    """
    record = repo.get_record(session, sl.entity, record_id)
    if record is None or not record.inactive_when or record.inactive:
        return
    before = {name: normalize(getattr(record, name)) for name in record.inactive_when}
    marked = record.model_copy(update={**record.inactive_when, "updated_at": ctx.clock()})
    repo.save_record(session, type(record).model_validate(marked.model_dump()))
    repo.audit(session, ctx, sl, action="remote_delete", record_id=record_id, remote_id=remote.id, before=before,
               after=dict(record.inactive_when), decisions={name: "from_remote" for name in record.inactive_when},
               reason=f"deleted in {sl.system}: marked {', '.join(f'{k}={v}' for k, v in record.inactive_when.items())}")
