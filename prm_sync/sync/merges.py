"""Merges made in a CRM, as events: the PRM follows the survivor instead of re-creating the loser.

Salesforce reports a merge on the loser (deleted, ``MasterRecordId`` = the
survivor); HubSpot on a new record whose ``hs_merged_object_ids`` lists the
originals (both now answer with it). Either way, before a page is applied:

- the PRM record linked to a merged-away remote record follows the survivor
  (its link now points at it; if the survivor does not carry our id yet, the
  next push writes it there);
- when the survivor is itself linked to another PRM record, two PRM records
  were merged by a user: if their data agree they become one (``merge_into``:
  the survivor fills its blanks from the loser, every record pointing at the
  loser - contacts, registrations, opportunities, completions - points at the
  survivor, the loser's id becomes an alias of it, and its copies in the
  other systems go by their ``on_delete``); if not, a review item (field
  ``merged_into``) asks a person, and meanwhile the loser's copy is never
  re-created.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import RemoteRecord
from prm_sync.model import CanonicalRecord
from prm_sync.store import audit as audit_store
from prm_sync.store import identity as identity_store
from prm_sync.store import records
from prm_sync.sync import repo
from prm_sync.sync.context import RunContext
from prm_sync.sync.identity import key_value
from prm_sync.sync.linkstate import CLAIM_PENDING, LinkState
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import SliceStats
from prm_sync.sync.values import normalize

MERGE_FIELD = "merged_into"  # the review item of a merge that needs a person: remote_value = the survivor's PRM id
# who points at a record of each entity: relinked to the survivor when two records become one
REFERENCES: dict[str, list[tuple[str, str]]] = {
    "partner": [("partner_contact", "partner_id"), ("deal_registration", "partner_id"),
                ("opportunity", "registered_partner_id"), ("course_completion", "partner_id"),
                ("certification", "partner_id")],
    "end_customer": [("deal_registration", "end_customer_id"), ("opportunity", "end_customer_id"),
                     ("invoice", "end_customer_id")],
    "partner_contact": [("course_completion", "contact_id"), ("certification", "contact_id")],
}


def apply_merges(ctx: RunContext, session: Any, sl: Slice, page: list[RemoteRecord], stats: SliceStats) -> set[str]:
    """Handle the merge events of a page before the page itself; returns the remote ids fully handled here."""
    handled: set[str] = set()
    for remote in page:
        if remote.merged_into and not remote.deleted:
            continue
        if remote.merged_into:
            _loser(ctx, session, sl, remote, stats)
            handled.add(remote.id)
        elif remote.merged_ids:
            _survivor(ctx, session, sl, remote, stats)
    return handled


def _states(session: Any, sl: Slice, remote_ids: list[str]) -> dict[str, LinkState]:
    found = repo.states_by_remote(session, sl.system, sl.remote_object, remote_ids)
    return {rid: s for rid, s in found.items() if s.entity == sl.entity and not s.remote_deleted}


def _loser(ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, stats: SliceStats) -> None:
    """Salesforce: ``remote`` was merged into ``remote.merged_into``."""
    survivor_remote = str(remote.merged_into)
    mine = _states(session, sl, [remote.id]).get(remote.id)
    if mine is None:
        stats.unchanged += 1  # not ours, or seen before
        return
    stats.merged += 1
    theirs = _states(session, sl, [survivor_remote]).get(survivor_remote)
    if theirs is None:  # merged into a record of no PRM record's: ours follows it, and claims it
        _relink(ctx, session, sl, mine, survivor_remote, claim=True, reason=f"merged into {survivor_remote}")
        return
    _retire_link(ctx, session, sl, mine, remote, f"merged into {survivor_remote} (PRM record {theirs.record_id})")
    stats.deleted += 1
    join(ctx, session, sl, mine.record_id, theirs.record_id, survivor_remote)


def _survivor(ctx: RunContext, session: Any, sl: Slice, remote: RemoteRecord, stats: SliceStats) -> None:
    """HubSpot: ``remote`` is the record the ids in ``merged_ids`` were merged into."""
    originals = _states(session, sl, list(remote.merged_ids))
    if not originals:
        return
    stats.merged += 1
    own = _states(session, sl, [remote.id]).get(remote.id)
    key = remote.fields.get(sl.key_field)
    linked = [originals[i] for i in remote.merged_ids if i in originals]
    ids = [s.record_id for s in linked]
    survivor_id = own.record_id if own else (str(key) if key in ids else ids[0])
    for state in linked:
        if state.record_id == survivor_id and own is None:
            _relink(ctx, session, sl, state, remote.id, claim=str(key or "") != survivor_id,
                    reason=f"merged into {remote.id}")
            own = state
            continue
        if state.record_id == survivor_id:
            continue
        _retire_link(ctx, session, sl, state, remote, f"merged into {remote.id} (PRM record {survivor_id})")
        stats.deleted += 1
        join(ctx, session, sl, state.record_id, survivor_id, remote.id)


def _relink(ctx: RunContext, session: Any, sl: Slice, state: LinkState, remote_id: str, *, claim: bool, reason: str) -> None:
    moved = state.model_copy(update={
        "remote_id": remote_id, "remote_deleted": False, "record_version": None, "last_synced_at": ctx.clock(),
        "push_fingerprint": CLAIM_PENDING if claim else None, "links": None})
    repo.put_state(session, moved)
    ctx.links.forget(sl.entity, sl.system, state.record_id)
    ctx.links.remember(moved)
    repo.audit(session, ctx, sl, action="relink", record_id=state.record_id, remote_id=remote_id,
               before={"remote_id": state.remote_id}, after={"remote_id": remote_id}, decisions={}, reason=reason)


def _retire_link(ctx: RunContext, session: Any, sl: Slice, state: LinkState, remote: RemoteRecord, reason: str) -> None:
    repo.put_state(session, state.model_copy(update={
        "remote_deleted": True, "record_version": None, "last_synced_at": ctx.clock(), "remote_modstamp": remote.modstamp}))
    ctx.links.forget(sl.entity, sl.system, state.record_id)
    repo.audit(session, ctx, sl, action="remote_delete", record_id=state.record_id, remote_id=state.remote_id,
               before={}, after={}, decisions={}, reason=reason)


def differences(loser: CanonicalRecord, survivor: CanonicalRecord, fields: list[str]) -> dict[str, list[Any]]:
    """Fields both records hold with different values (blanks never differ); names compared normalised."""
    out: dict[str, list[Any]] = {}
    for name in fields:
        a, b = getattr(loser, name, None), getattr(survivor, name, None)
        ka, kb = key_value(name, a), key_value(name, b)
        if ka is not None and kb is not None and ka != kb:
            out[name] = [normalize(a), normalize(b)]
    return out


def join(ctx: RunContext, session: Any, sl: Slice, loser_id: str, survivor_id: str, remote_id: str) -> str:
    """Two PRM records a user merged in ``sl.system``: one record if they agree, else a review item."""
    loser = repo.get_record(session, sl.entity, loser_id)
    survivor = repo.get_record(session, sl.entity, survivor_id)
    if loser is None or survivor is None or loser_id == survivor_id:
        return "none"
    compared = [f for f in sl.mapping.mapped if f in type(loser).model_fields and f != "id"]
    differ = differences(loser, survivor, compared)
    if differ:
        repo.open_review(session, sl, loser_id, MERGE_FIELD, {"differs": differ}, survivor_id)
        repo.audit(session, ctx, sl, action="merge_review", record_id=loser_id, remote_id=remote_id, before={},
                   after={}, decisions={}, reason=f"merged into {survivor_id} in {sl.system}, but their data differ "
                   f"({', '.join(sorted(differ))}): left for review")
        return "review"
    merge_into(session, sl.entity, loser_id, survivor_id, system=sl.system, run_id=ctx.run_id, now=ctx.clock(),
               reason=f"merged in {sl.system} ({sl.remote_object} {remote_id})")
    ctx.keys.drop(sl.entity, loser_id)
    ctx.push_records = None
    return "merged"


def merge_into(
    session: Session, entity: str, loser_id: str, survivor_id: str, *, system: str | None, run_id: str | None,
    now: datetime, reason: str, fill_blanks: bool = True,
) -> list[tuple[str, str]]:
    """Make ``loser_id`` part of ``survivor_id`` in the PRM store; returns the (entity, id) records relinked.

    The survivor keeps its values and takes the loser's where it has none
    (``fill_blanks``; off for records a CRM owns, whose survivor reads as the CRM holds it);
    records pointing at the loser point at the survivor; the loser's row goes
    and its id becomes an alias of the survivor (``record_alias``). Its links
    stay, so each system's copy of it is retired by that system's ``on_delete``.
    """
    loser = records.get_record(session, entity, loser_id)
    survivor = records.get_record(session, entity, survivor_id)
    if loser is None or survivor is None:
        return []
    skip = {"id", "external_ids", "created_at", "updated_at"}
    fill = {name: getattr(loser, name) for name in type(loser).model_fields
            if name not in skip and getattr(survivor, name) in (None, "", []) and getattr(loser, name) not in (None, "", [])}
    if not fill_blanks:
        fill = {}
    if fill:
        records.save_record(session, survivor.model_copy(update={**fill, "updated_at": now}))
    relinked: list[tuple[str, str]] = []
    for other, field_name in REFERENCES.get(entity, []):
        table = records.row_class(other).__table__
        ids = list(session.scalars(select(table.c.id).where(table.c[field_name] == loser_id)))
        if ids:
            moved = [r.model_copy(update={field_name: survivor_id, "updated_at": now})
                     for r in records.list_records(session, other, ids=ids)]
            records.save_records(session, moved)
            relinked.extend((other, r.id) for r in moved)
    identity_store.add_alias(session, entity=entity, record_id=loser_id, survivor_id=survivor_id, system=system,
                             reason=reason, snapshot=loser.model_dump(mode="json"), run_id=run_id, now=now)
    records.delete_record(session, entity, loser_id)
    audit_store.append_audit(session, [audit_store.AuditEntry(
        run_id=run_id, actor="prm-sync", action="record.merge", system=system, entity=entity, record_id=loser_id,
        reason=f"{reason}: merged into {survivor_id}; {len(relinked)} records relinked",
        fields_before=loser.model_dump(mode="json"), fields_after={"survivor": survivor_id, "filled": sorted(fill)},
    )])
    return relinked
