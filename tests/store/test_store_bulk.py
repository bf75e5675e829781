"""The driver-level executemany helpers the sync's commit path writes through, on both backends.

They bypass SQLAlchemy's per-row parameter handling, so these tests pin
down that what they write reads back through the ORM exactly as a Core
insert or update would have written it: time zones, JSON (including null),
booleans, and the upsert's last-row-wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from prm_sync.store import Store, get_state
from prm_sync.store.bulk import insert_rows, update_rows
from prm_sync.store.orm import AuditLogRow, SyncStateRow

T0 = datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)
KEY = ("entity", "record_id", "system")


def state_row(record_id: str, remote_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "entity": "partner", "record_id": record_id, "system": "hubspot", "remote_object": "companies",
        "remote_id": remote_id, "content_hash": "h", "remote_modstamp": None, "last_synced_at": T0,
        "last_direction": "push", "snapshot": {"remote": {"tier": "gold"}, "prm": {"tier": "gold"}},
        "remote_deleted": False,
    }
    row.update(changes)
    return row


def test_upsert_inserts_then_updates_in_place(store: Store) -> None:
    later = T0 + timedelta(hours=2)
    with store.session() as session:
        insert_rows(session, SyncStateRow.__table__, [state_row("p1", "1"), state_row("p2", "2")], conflict=KEY)
    with store.session() as session:
        insert_rows(
            session,
            SyncStateRow.__table__,
            [
                state_row("p1", "11", last_synced_at=later, snapshot=None, remote_deleted=True),
                state_row("p3", "3"),
                state_row("p3", "33"),  # the same key twice in one batch: the last one wins
            ],
            conflict=KEY,
        )
    with store.session(readonly=True) as session:
        count = len(session.scalars(select(SyncStateRow)).all())
        p1 = get_state(session, "partner", "p1", "hubspot")
        p2 = get_state(session, "partner", "p2", "hubspot")
        p3 = get_state(session, "partner", "p3", "hubspot")
    assert count == 3
    assert p1 is not None and (p1.remote_id, p1.snapshot, p1.remote_deleted) == ("11", None, True)
    assert p1.last_synced_at == later and p1.last_synced_at.tzinfo is not None
    assert p2 is not None and p2.snapshot == {"remote": {"tier": "gold"}, "prm": {"tier": "gold"}}
    assert p2.last_synced_at == T0  # microseconds and the time zone survive
    assert p3 is not None and p3.remote_id == "33"


def test_update_rows_changes_only_the_named_columns(store: Store) -> None:
    with store.session() as session:
        insert_rows(session, SyncStateRow.__table__, [state_row("p1", "1"), state_row("p2", "2")])
    with store.session() as session:
        update_rows(
            session,
            SyncStateRow.__table__,
            [{"entity": "partner", "record_id": "p2", "system": "hubspot", "remote_id": "22", "content_hash": "x"}],
            key=KEY,
        )
    with store.session(readonly=True) as session:
        p1 = get_state(session, "partner", "p1", "hubspot")
        p2 = get_state(session, "partner", "p2", "hubspot")
    assert p1 is not None and (p1.remote_id, p1.content_hash) == ("1", "h")
    assert p2 is not None and (p2.remote_id, p2.content_hash, p2.last_direction) == ("22", "x", "push")


def test_insert_rows_writes_json_and_timestamps_like_the_orm(store: Store) -> None:
    rows = [
        {
            "at": T0 + timedelta(seconds=i), "run_id": "run_1", "actor": "prm-sync", "action": "push.create",
            "system": "salesforce", "remote_object": "Account", "entity": "partner", "record_id": f"p{i}",
            "remote_id": None, "mapping_version": "v1", "rule": None, "fields_before": None,
            "fields_after": {"tier": "gold", "amount": "12.5", "lines": ["a", "b"]},
            "provenance": {"Tier__c": {"prm_field": "tier", "remote_value": "Gold"}}, "reason": None,
        }
        for i in range(3)
    ]
    with store.session() as session:
        insert_rows(session, AuditLogRow.__table__, rows)
    with store.session(readonly=True) as session:
        got = session.scalars(select(AuditLogRow).order_by(AuditLogRow.id)).all()
        assert [r.record_id for r in got] == ["p0", "p1", "p2"]
        assert [r.at for r in got] == [T0 + timedelta(seconds=i) for i in range(3)]
        assert got[0].fields_after == {"tier": "gold", "amount": "12.5", "lines": ["a", "b"]}
        assert got[0].provenance == {"Tier__c": {"prm_field": "tier", "remote_value": "Gold"}}
        assert got[0].fields_before is None and got[0].remote_id is None


def test_nothing_to_write_is_a_no_op(store: Store) -> None:
    with store.session() as session:
        insert_rows(session, SyncStateRow.__table__, [])
        update_rows(session, SyncStateRow.__table__, [], key=KEY)
        assert session.scalars(select(SyncStateRow)).all() == []
