"""Sync state, cursors and the write ledger: what the engine commits with every batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from connectors.base import Cursor
from prm_sync.store import (
    Direction,
    LedgerEntry,
    Store,
    SyncState,
    append_ledger,
    delete_state,
    get_cursor,
    get_state,
    get_state_by_remote,
    get_states,
    get_states_by_remote,
    last_written,
    last_written_many,
    list_cursors,
    prune_ledger,
    reset_cursors,
    set_cursor,
    set_state,
    set_states,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def state(record_id: str, remote_id: str | None, content_hash: str = "h1") -> SyncState:
    return SyncState(
        entity="partner",
        record_id=record_id,
        system="salesforce",
        remote_object="Account",
        remote_id=remote_id,
        content_hash=content_hash,
        remote_modstamp=T0,
        last_synced_at=T0 + timedelta(seconds=5),
        last_direction=Direction.push,
    )


def test_state_round_trip_and_update(store: Store) -> None:
    with store.session() as session:
        set_state(session, state("ptn_1", "001A"))
    with store.session() as session:
        assert get_state(session, "partner", "ptn_1", "salesforce") == state("ptn_1", "001A")
        assert get_state(session, "partner", "ptn_1", "hubspot") is None
        set_state(session, state("ptn_1", "001A", content_hash="h2"))
    with store.session() as session:
        loaded = get_state(session, "partner", "ptn_1", "salesforce")
        assert loaded is not None
        assert loaded.content_hash == "h2"
        assert loaded.last_direction == "push"


def test_bulk_state_lookups(store: Store) -> None:
    with store.session() as session:
        set_states(session, [state(f"ptn_{i}", f"001{i}") for i in range(3)] + [state("ptn_x", None)])
    with store.session() as session:
        by_record = get_states(session, "partner", "salesforce", ["ptn_0", "ptn_2", "ptn_missing", "ptn_0"])
        assert sorted(by_record) == ["ptn_0", "ptn_2"]
        assert by_record["ptn_2"].remote_id == "0012"
        by_remote = get_states_by_remote(session, "salesforce", "Account", ["0011", "0019"])
        assert {k: v.record_id for k, v in by_remote.items()} == {"0011": "ptn_1"}
        found = get_state_by_remote(session, "salesforce", "Account", "0010")
        assert found is not None
        assert found.record_id == "ptn_0"
        assert get_state_by_remote(session, "salesforce", "Contact", "0010") is None


def test_two_records_cannot_claim_one_remote_record(store: Store) -> None:
    with pytest.raises(IntegrityError), store.session() as session:
        set_states(session, [state("ptn_1", "001A"), state("ptn_2", "001A")])


def test_delete_state(store: Store) -> None:
    with store.session() as session:
        set_state(session, state("ptn_1", "001A"))
    with store.session() as session:
        assert delete_state(session, "partner", "ptn_1", "salesforce") is True
        assert delete_state(session, "partner", "ptn_1", "salesforce") is False
        assert get_state(session, "partner", "ptn_1", "salesforce") is None


def test_cursor_round_trip(store: Store) -> None:
    with store.session() as session:
        assert get_cursor(session, "salesforce", "Account", "partner") == Cursor()
        set_cursor(
            session, "salesforce", "Account", "partner", Cursor(modstamp=T0, last_id="001A"), run_id="run_1"
        )
    with store.session() as session:
        assert get_cursor(session, "salesforce", "Account", "partner") == Cursor(modstamp=T0, last_id="001A")
        later = Cursor(modstamp=T0 + timedelta(minutes=1), last_id="001B")
        set_cursor(session, "salesforce", "Account", "partner", later, run_id="run_2", now=T0)
    with store.session() as session:
        [stored] = list_cursors(session, system="salesforce")
        assert stored.cursor == later
        assert (stored.run_id, stored.updated_at) == ("run_2", T0)
        assert stored.cursor.modstamp is not None and stored.cursor.modstamp.tzinfo is not None


def test_cursor_rolls_back_with_its_batch(store: Store) -> None:
    class BatchFailed(Exception):
        pass

    with pytest.raises(BatchFailed), store.session() as session:
        set_state(session, state("ptn_1", "001A"))
        set_cursor(session, "salesforce", "Account", "partner", Cursor(modstamp=T0, last_id="001A"))
        raise BatchFailed
    with store.session() as session:
        assert get_cursor(session, "salesforce", "Account", "partner") == Cursor()
        assert get_state(session, "partner", "ptn_1", "salesforce") is None


def test_reset_cursors(store: Store) -> None:
    with store.session() as session:
        for system, obj in [("salesforce", "Account"), ("salesforce", "Contact"), ("hubspot", "companies")]:
            set_cursor(session, system, obj, "partner", Cursor(modstamp=T0))
    with store.session() as session:
        assert reset_cursors(session, system="salesforce") == 2
        assert [c.system for c in list_cursors(session)] == ["hubspot"]


def test_last_written_returns_the_newest_entry(store: Store) -> None:
    entries = [
        LedgerEntry(
            run_id="run_1",
            system="salesforce",
            remote_object="Account",
            remote_id=remote_id,
            record_id="ptn_1",
            entity="partner",
            payload_hash=payload_hash,
            payload={"Name": "Acme", "Amount__c": amount},
            written_at=T0 + timedelta(minutes=minute),
        )
        for remote_id, payload_hash, amount, minute in [
            ("001A", "old", 1, 0),
            ("001A", "new", 2, 5),
            ("001B", "b", 3, 1),
        ]
    ]
    with store.session() as session:
        append_ledger(session, entries)
    with store.session() as session:
        newest = last_written(session, "salesforce", "Account", "001A")
        assert newest is not None
        assert (newest.payload_hash, newest.payload, newest.written_at) == (
            "new",
            {"Name": "Acme", "Amount__c": 2},
            T0 + timedelta(minutes=5),
        )
        assert last_written(session, "hubspot", "Account", "001A") is None
        many = last_written_many(session, "salesforce", "Account", ["001A", "001B", "001C"])
        assert {k: v.payload_hash for k, v in many.items()} == {"001A": "new", "001B": "b"}
        assert prune_ledger(session, older_than=T0 + timedelta(minutes=2)) == 2
        assert last_written(session, "salesforce", "Account", "001B") is None


def test_push_candidates_follow_versions_and_mapping(store: Store) -> None:
    from prm_sync.model import Partner
    from prm_sync.store import records
    from prm_sync.store.state import mark_checked, push_candidates

    table = records.row_class("partner").__table__
    partners = [Partner(id=f"ptn_{i}", name=f"P{i}", tier="gold", partner_type="reseller", status="active")
                for i in range(4)]
    with store.session() as session:
        records.save_records(session, partners)
        set_states(session, [state("ptn_0", "001A"), state("ptn_1", "001B"), state("ptn_2", "001C")])
        # no link agrees with a version yet: every record is a candidate
        assert push_candidates(session, table, "partner", "salesforce", "fp1") == {f"ptn_{i}": 1 for i in range(4)}
        mark_checked(session, "partner", "salesforce", {"ptn_0": 1, "ptn_1": 1, "ptn_2": 1}, "fp1")
        assert push_candidates(session, table, "partner", "salesforce", "fp1") == {"ptn_3": 1}  # never linked
        records.save_record(session, partners[1].model_copy(update={"tier": "platinum"}))
        assert push_candidates(session, table, "partner", "salesforce", "fp1") == {"ptn_1": 2, "ptn_3": 1}
        assert push_candidates(session, table, "partner", "hubspot", "fp1") == {f"ptn_{i}": v for i, v in
                                                                               enumerate([1, 2, 1, 1])}
        # another mapping: every link is checked again
        assert set(push_candidates(session, table, "partner", "salesforce", "fp2")) == {f"ptn_{i}" for i in range(4)}
        loaded = get_state(session, "partner", "ptn_0", "salesforce")
        assert loaded is not None and (loaded.record_version, loaded.push_fingerprint) == (1, "fp1")
