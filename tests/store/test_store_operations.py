"""Runs, audit log, review queue, webhook inbox and conflict checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prm_sync.errors import UsageError
from prm_sync.store import (
    AuditEntry,
    ConflictCheck,
    Store,
    add_event,
    add_review,
    append_audit,
    finish_run,
    get_review,
    get_run,
    latest_conflict_check,
    list_open_reviews,
    list_runs,
    list_unprocessed,
    mark_processed,
    query_audit,
    resolve_review,
    save_conflict_check,
    start_run,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def test_run_lifecycle(store: Store) -> None:
    with store.session() as session:
        run = start_run(
            session, trigger="cli", scope={"systems": ["salesforce"]}, mapping_version="m1", now=T0
        )
    assert run.id.startswith("run_")
    assert (run.status, run.finished_at) == ("running", None)
    with store.session() as session:
        finished = finish_run(
            session,
            run.id,
            status="partial",
            stats={"upserted": 10, "failed": 1},
            error=None,
            now=T0 + timedelta(minutes=3),
        )
    assert (finished.status, finished.stats) == ("partial", {"upserted": 10, "failed": 1})
    with store.session() as session:
        assert get_run(session, run.id) == finished
        assert get_run(session, "run_missing") is None
        with pytest.raises(UsageError, match="no sync run"):
            finish_run(session, "run_missing", status="failed")


def test_list_runs_newest_first_with_filters(store: Store) -> None:
    with store.session() as session:
        for i, trigger in enumerate(["cli", "dagster", "replay"]):
            start_run(session, trigger=trigger, run_id=f"run_{i}", now=T0 + timedelta(minutes=i))
        finish_run(session, "run_1", status="succeeded")
    with store.session() as session:
        assert [r.id for r in list_runs(session)] == ["run_2", "run_1", "run_0"]
        assert [r.id for r in list_runs(session, limit=1)] == ["run_2"]
        assert [r.id for r in list_runs(session, status="running")] == ["run_2", "run_0"]
        assert [r.id for r in list_runs(session, trigger="dagster")] == ["run_1"]
    with pytest.raises(ValueError, match="'nightly' is not a valid RunTrigger"), store.session() as session:
        start_run(session, trigger="nightly")


def test_audit_query_by_record_or_remote_id_newest_first(store: Store) -> None:
    entries = [
        AuditEntry(
            at=T0 + timedelta(seconds=i),
            run_id="run_1",
            action="push.upsert",
            system="salesforce",
            remote_object="Account",
            entity="partner",
            record_id=record_id,
            remote_id=remote_id,
            mapping_version="m1",
            rule="tier_from_certifications",
            fields_before={"Partner_Tier__c": "Silver"},
            fields_after={"Partner_Tier__c": "Gold", "Amount__c": Decimal("5.00")},
            provenance={"Partner_Tier__c": {"prm_field": "tier", "rule": "tier_from_certifications"}},
            reason="3 certified engineers",
        )
        for i, (record_id, remote_id) in enumerate([("ptn_1", "001A"), ("ptn_2", "001B"), ("ptn_1", "001A")])
    ]
    with store.session() as session:
        append_audit(session, entries)
    with store.session() as session:
        by_record = query_audit(session, record_id="ptn_1")
        assert [e.at for e in by_record] == [T0 + timedelta(seconds=2), T0]
        assert by_record[0].fields_after == {"Partner_Tier__c": "Gold", "Amount__c": "5.00"}
        assert by_record[0].provenance == {
            "Partner_Tier__c": {"prm_field": "tier", "rule": "tier_from_certifications"}
        }
        assert [e.record_id for e in query_audit(session, remote_id="001B", system="salesforce")] == ["ptn_2"]
        assert len(query_audit(session, run_id="run_1", limit=2)) == 2
        assert query_audit(session, record_id="ptn_1", since=T0 + timedelta(seconds=1))[
            0
        ].at == T0 + timedelta(seconds=2)


def test_review_queue_keeps_one_open_item_per_field(store: Store) -> None:
    with store.session() as session:
        first = add_review(
            session,
            entity="partner",
            record_id="ptn_1",
            system="salesforce",
            field="tier",
            prm_value="gold",
            remote_value="silver",
            now=T0,
        )
        again = add_review(
            session,
            entity="partner",
            record_id="ptn_1",
            system="salesforce",
            field="tier",
            prm_value="gold",
            remote_value="platinum",
            now=T0 + timedelta(hours=1),
        )
        other = add_review(
            session,
            entity="partner",
            record_id="ptn_1",
            system="salesforce",
            field="phone",
            prm_value=None,
            remote_value="+1 555",
            now=T0 + timedelta(hours=2),
        )
    assert again.id == first.id
    assert (again.remote_value, again.created_at) == ("platinum", T0)
    with store.session() as session:
        assert [i.field for i in list_open_reviews(session)] == ["tier", "phone"]
        resolved = resolve_review(
            session, first.id, resolution="remote", resolved_by="ops@example.com", now=T0 + timedelta(days=1)
        )
        assert (resolved.status, resolved.resolution, resolved.resolved_value) == (
            "resolved",
            "remote",
            "platinum",
        )
        typed = resolve_review(
            session, other.id, resolution="value", resolved_value="+1 555 0100", resolved_by="ops@example.com"
        )
        assert typed.resolved_value == "+1 555 0100"
        with pytest.raises(UsageError, match="already resolved"):
            resolve_review(session, first.id, resolution="prm", resolved_by="ops@example.com")
    with store.session() as session:
        assert list_open_reviews(session) == []
        assert get_review(session, first.id) == resolved


def test_inbox_deduplicates_redeliveries(store: Store) -> None:
    with store.session() as session:
        assert add_event(session, "hubspot", "evt-1", {"objectId": 1}, now=T0) is True
        assert add_event(session, "hubspot", "evt-1", {"objectId": 1}) is False
        assert add_event(session, "salesforce", "evt-1", {"Id": "001A"}) is True
    with store.session() as session:
        assert add_event(session, "hubspot", "evt-1", {"objectId": 1}) is False
        assert add_event(session, "hubspot", "evt-2", {"objectId": 2}) is True
    with store.session() as session:
        pending = list_unprocessed(session, source="hubspot")
        assert [(e.delivery_id, e.payload) for e in pending] == [
            ("evt-1", {"objectId": 1}),
            ("evt-2", {"objectId": 2}),
        ]
        assert pending[0].received_at == T0
        assert mark_processed(session, [pending[0].id]) == 1
        assert mark_processed(session, [pending[0].id]) == 0
    with store.session() as session:
        assert [e.delivery_id for e in list_unprocessed(session)] == ["evt-1", "evt-2"]
        assert [e.source for e in list_unprocessed(session)] == ["salesforce", "hubspot"]


def test_conflict_checks_latest_wins(store: Store) -> None:
    with store.session() as session:
        assert latest_conflict_check(session, "reg_1") is None
        save_conflict_check(
            session,
            ConflictCheck(
                registration_id="reg_1",
                checked_at=T0,
                decision="review",
                score=0.75,
                matches=[{"registration_id": "reg_0", "score": Decimal("0.75")}],
                reasons=["fuzzy name"],
            ),
        )
        later = save_conflict_check(
            session,
            ConflictCheck(registration_id="reg_1", checked_at=T0 + timedelta(days=1), decision="clear"),
        )
    with store.session() as session:
        latest = latest_conflict_check(session, "reg_1")
        assert latest == later
        assert latest is not None and latest.id is not None
        assert latest_conflict_check(session, "reg_2") is None


def test_audit_of_a_remote_id_merged_away_still_lists_the_pushes_written_to_it(store: Store) -> None:
    """After a CRM merge relinks a record from 001A to 001B, `prm-sync audit 001A` still shows what we wrote to 001A."""
    from prm_sync.audit_view import provenance
    from prm_sync.store import state
    from prm_sync.store.push_batches import append_push_batch

    with store.session() as session:
        append_push_batch(session, run_id="run_1", at=T0, system="salesforce", remote_object="Account",
                          entity="partner", mapping_version="m1", provenance={"tier": ["Partner_Tier__c", None]},
                          entries=[["ptn_1", "001A", True, {}, {"tier": "gold"}, {"Partner_Tier__c": "Gold"}],
                                   ["ptn_2", "001C", True, {}, {"tier": "silver"}, {"Partner_Tier__c": "Silver"}]])
        # what merges._relink leaves: the link now names the survivor, and an audit row of the move
        state.set_states(session, [state.SyncState(entity="partner", record_id="ptn_1", system="salesforce",
                                                   remote_object="Account", remote_id="001B", last_synced_at=T0,
                                                   last_direction="pull")])
        append_audit(session, [AuditEntry(at=T0 + timedelta(minutes=1), run_id="run_2", action="push.relink",
                                          system="salesforce", remote_object="Account", entity="partner",
                                          record_id="ptn_1", remote_id="001B", fields_before={"remote_id": "001A"},
                                          fields_after={"remote_id": "001B"}, reason="merged into 001B")])
    with store.session() as session:
        [pushed] = query_audit(session, remote_id="001A")
        assert (pushed.action, pushed.record_id, pushed.remote_id) == ("push.create", "ptn_1", "001A")
        assert [e.remote_id for e in query_audit(session, remote_id="001A", system="salesforce")] == ["001A"]
        assert provenance(session, "001A")[0].text.startswith("Salesforce Account.Partner_Tier__c was set to Gold")
        assert [e.action for e in query_audit(session, remote_id="001B")] == ["push.relink"]
