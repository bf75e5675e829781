"""Draining the inbox: grouping pending events into targets for a targeted sync, then marking them done."""

from __future__ import annotations

from datetime import timedelta

import pytest

from prm_sync.store.inbox import add_event, list_unprocessed
from prm_sync.store.state import Direction, SyncState, set_states
from prm_sync.webhooks import ENTITY_CANDIDATES, handle_hubspot, handle_salesforce, pending_targets


def _link(kit, entity: str, record_id: str, system: str, remote_object: str, remote_id: str) -> SyncState:
    return SyncState(
        entity=entity,
        record_id=record_id,
        system=system,
        remote_object=remote_object,
        remote_id=remote_id,
        last_synced_at=kit.NOW - timedelta(days=1),
        last_direction=Direction.pull,
    )


@pytest.fixture
def filled(kit, webhook_store, settings, secret):
    """HubSpot: two company changes, a deal deletion, a custom registration; Salesforce: account + contact."""
    events = [
        kit.hubspot_event(1, objectId=101),
        kit.hubspot_event(2, objectId=102),
        kit.hubspot_event(3, "deal.deletion", objectId=201),
        kit.hubspot_event(4, "object.propertyChange", objectTypeId="2-7654321", objectId=301),
        kit.hubspot_event(5, "ticket.creation", objectId=401),
    ]
    handle_hubspot(
        webhook_store,
        kit.signed_hubspot_request(kit.hubspot_body(*events)),
        settings,
        kit.NOW,
        client_secret=secret,
    )
    message = kit.outbound_message(
        ("04l000000000001AAA", "Account", "001000000000001AAA", {}),
        ("04l000000000002AAA", "Contact", "003000000000001AAA", {}),
    )
    handle_salesforce(webhook_store, kit.salesforce_request(message), settings, kit.NOW)
    with webhook_store.session() as session:
        set_states(
            session,
            [
                _link(kit, "partner", "ptn_1", "hubspot", "companies", "101"),
                _link(kit, "end_customer", "cus_1", "hubspot", "companies", "102"),
                _link(kit, "opportunity", "opp_1", "hubspot", "deals", "201"),
                _link(kit, "partner", "ptn_1", "salesforce", "Account", "001000000000001AAA"),
            ],
        )
    return webhook_store


def test_grouping_by_system_object_and_entity(filled) -> None:
    with filled.session(readonly=True) as session:
        batch = pending_targets(session)
    assert len(batch.event_ids) == 7
    assert dict(batch.remote_ids) == {
        ("hubspot", "companies"): {"101", "102"},
        ("hubspot", "deals"): {"201"},
        ("hubspot", "p_deal_registrations"): {"301"},
        ("hubspot", "tickets"): {"401"},
        ("salesforce", "Account"): {"001000000000001AAA"},
        ("salesforce", "Contact"): {"003000000000001AAA"},
    }
    assert dict(batch.record_ids) == {
        "partner": {"ptn_1"},
        "end_customer": {"cus_1"},
        "opportunity": {"opp_1"},
    }
    assert dict(batch.unlinked) == {
        ("hubspot", "p_deal_registrations"): {"301"},
        ("salesforce", "Contact"): {"003000000000001AAA"},
    }
    assert dict(batch.deleted_remote_ids) == {("hubspot", "deals"): {"201"}}
    assert batch.unmapped == {("hubspot", "tickets")}
    assert batch.entities() == {
        "partner",
        "end_customer",
        "opportunity",
        "deal_registration",
        "partner_contact",
    }


def test_mark_done_drains_the_batch(kit, filled) -> None:
    with filled.session() as session:
        batch = pending_targets(session)
        assert batch.mark_done(session, now=kit.NOW) == 7
    with filled.session(readonly=True) as session:
        assert list_unprocessed(session) == []
        assert not pending_targets(session)


def test_limit_takes_the_oldest_first_and_leaves_the_rest(kit, filled) -> None:
    with filled.session() as session:
        first = pending_targets(session, limit=3)
        assert first.event_ids == sorted(first.event_ids) and len(first.event_ids) == 3
        first.mark_done(session, now=kit.NOW)
    with filled.session(readonly=True) as session:
        rest = pending_targets(session, limit=None)
    assert len(rest.event_ids) == 4 and set(rest.event_ids).isdisjoint(first.event_ids)


def test_other_sources_and_bad_rows(kit, webhook_store) -> None:
    with webhook_store.session() as session:
        add_event(session, "erp", "inv-1", {"anything": True}, now=kit.NOW)
        add_event(session, "hubspot", "garbage-1", {"not": "an InboxPayload"}, now=kit.NOW)
    with webhook_store.session() as session:
        batch = pending_targets(session)
        assert batch.event_ids == [] and len(batch.invalid_event_ids) == 1
        assert not batch  # nothing to sync ...
        assert batch.mark_done(session, now=kit.NOW) == 1  # ... but the bad row does not block the queue
    with webhook_store.session(readonly=True) as session:
        assert [e.source for e in list_unprocessed(session)] == ["erp"]  # not ours to drain


def test_the_entity_table_covers_both_systems() -> None:
    assert (
        ENTITY_CANDIDATES[("hubspot", "companies")]
        == ENTITY_CANDIDATES[("salesforce", "Account")]
        == (
            "partner",
            "end_customer",
        )
    )
    for system in ("hubspot", "salesforce"):
        entities = {e for (s, _), es in ENTITY_CANDIDATES.items() if s == system for e in es}
        assert entities == {"partner", "end_customer", "opportunity", "deal_registration", "partner_contact"}
