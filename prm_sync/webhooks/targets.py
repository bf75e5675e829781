"""Drain the inbox into targets for a targeted sync.

The receiver only records *which* remote records changed; the engine then
re-reads exactly those records instead of waiting for the next incremental
window. This module turns pending inbox rows into that work list: remote ids
per (system, remote object), the PRM entities they can be, and the PRM
record ids already linked to them through sync state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from prm_sync.store.inbox import InboxEvent, list_unprocessed, mark_processed
from prm_sync.store.state import get_states_by_remote
from prm_sync.webhooks.envelope import HUBSPOT, SALESFORCE, SOURCES, InboxPayload

# (system, remote object) -> PRM entities a record of it may be; accounts and companies are both
# partners and end customers, so both are candidates and sync state decides which one it is
ENTITY_CANDIDATES: dict[tuple[str, str], tuple[str, ...]] = {
    (HUBSPOT, "companies"): ("partner", "end_customer"),
    (HUBSPOT, "deals"): ("opportunity",),
    (HUBSPOT, "p_deal_registrations"): ("deal_registration",),
    (HUBSPOT, "contacts"): ("partner_contact",),
    (SALESFORCE, "Account"): ("partner", "end_customer"),
    (SALESFORCE, "Opportunity"): ("opportunity",),
    (SALESFORCE, "Deal_Registration__c"): ("deal_registration",),
    (SALESFORCE, "Contact"): ("partner_contact",),
}

RemoteKey = tuple[str, str]  # (system, remote object)


def entity_candidates(system: str, remote_object: str) -> tuple[str, ...]:
    """The PRM entities a remote object can map to; empty for objects prm-sync does not sync."""
    return ENTITY_CANDIDATES.get((system, remote_object), ())


@dataclass
class InboxBatch:
    """Pending webhook deliveries grouped for one targeted sync.

    ``record_ids`` holds PRM records already linked to a changed remote
    record; ``unlinked`` the remote ids with no sync state yet (new remotely,
    to be pulled); ``deleted_remote_ids`` those deleted or merged away.
    ``unmapped`` names remote objects no PRM entity syncs with: their events
    are still marked done, since no sync would ever consume them.
    """

    event_ids: list[int] = field(default_factory=list)
    record_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    remote_ids: dict[RemoteKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    unlinked: dict[RemoteKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    deleted_remote_ids: dict[RemoteKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    unmapped: set[RemoteKey] = field(default_factory=set)
    invalid_event_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.event_ids)

    def entities(self) -> set[str]:
        """Every entity with a target, linked or not: what the engine must run for."""
        found = set(self.record_ids)
        for key in self.remote_ids:
            found.update(entity_candidates(*key))
        return found

    def targets(self) -> dict[str, set[str]]:
        """What a targeted sync runs for: every entity with a target -> the PRM ids it pushes.

        The run pulls each of these entities (which picks up the new and the
        linked remote records alike) and pushes the named records, so an edit
        a webhook announced in one CRM reaches the other ones.
        """
        return {entity: set(self.record_ids.get(entity, set())) for entity in sorted(self.entities())}

    def deletes_announced(self) -> set[RemoteKey]:
        """The (system, remote object) pairs some event says a record of was deleted or merged away."""
        return {key for key, ids in self.deleted_remote_ids.items() if ids and entity_candidates(*key)}

    def mark_done(self, session: Session, *, now: datetime | None = None) -> int:
        """Mark every event of the batch processed; call in the session that commits the sync's writes."""
        return mark_processed(session, [*self.event_ids, *self.invalid_event_ids], now=now)


def _pending(session: Session, limit: int | None) -> list[InboxEvent]:
    # only our sources: other inbox users' rows are not ours to mark processed
    events = [e for source in SOURCES for e in list_unprocessed(session, source=source, limit=limit)]
    events.sort(key=lambda e: e.id)
    return events[:limit] if limit is not None else events


def pending_targets(session: Session, *, limit: int | None = 1000) -> InboxBatch:
    """Group up to ``limit`` unprocessed webhook events (oldest first) into sync targets.

    A row whose payload is not an ``InboxPayload`` (written by an older
    receiver, or by hand) is listed in ``invalid_event_ids`` and still marked
    done, so one bad row cannot block the queue; its raw payload stays in
    the inbox for inspection.
    """
    batch = InboxBatch()
    for event in _pending(session, limit):
        try:
            payload = InboxPayload.model_validate(event.payload)
        except ValidationError:
            batch.invalid_event_ids.append(event.id)
            continue
        batch.event_ids.append(event.id)
        key = (payload.system, payload.remote_object)
        batch.remote_ids[key].update(payload.remote_ids)
        if payload.deleted_ids:
            batch.deleted_remote_ids[key].update(payload.deleted_ids)
        if not entity_candidates(*key):
            batch.unmapped.add(key)
    for key, remote_ids in batch.remote_ids.items():
        candidates = entity_candidates(*key)
        if not candidates:
            continue
        states = get_states_by_remote(session, key[0], key[1], sorted(remote_ids))
        for remote_id in remote_ids:
            state = states.get(remote_id)
            if state is not None and state.entity in candidates:
                batch.record_ids[state.entity].add(state.record_id)
            else:
                batch.unlinked[key].add(remote_id)
    return batch
