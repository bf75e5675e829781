"""Retention on both backends: old history goes, live state and the newest of each kind stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from prm_sync.config.settings import RetentionConfig
from prm_sync.rules.lifecycle import EXTEND_ACTION, extensions_used
from prm_sync.store import Store
from prm_sync.store.audit import AuditEntry, append_audit, query_audit
from prm_sync.store.conflicts import ConflictCheck, latest_conflict_check, save_conflict_check
from prm_sync.store.failures import discard_failure, record_failure, resolve_failure
from prm_sync.store.inbox import add_event, list_unprocessed, mark_processed
from prm_sync.store.ledger import LedgerEntry, append_ledger
from prm_sync.store.orm import (
    AuditLogRow,
    ConflictCheckRow,
    FailedRecordRow,
    InboxEventRow,
    PushBatchRecordRow,
    PushBatchRow,
    ReviewItemRow,
    SyncRunRow,
    WriteLedgerRow,
)
from prm_sync.store.push_batches import append_push_batch
from prm_sync.store.retention import PRUNE_ACTION, prune_history
from prm_sync.store.review import add_review, resolve_review
from prm_sync.store.runs import RunStatus, finish_run, start_run

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)  # past every default window
RECENT = NOW - timedelta(days=2)  # inside every default window


def _fill(store: Store) -> None:
    """Two of each kind of history: one old, one recent; plus old rows that must stay."""
    with store.session() as session:
        for at, tag in ((OLD, "old"), (RECENT, "new")):
            append_ledger(session, [LedgerEntry(system="salesforce", remote_object="Account", remote_id=f"001{tag}",
                                                payload_hash="h", payload={"Name": tag}, written_at=at)])
            append_audit(session, [AuditEntry(at=at, action="push.update", entity="partner", record_id=f"ptn_{tag}")])
            append_push_batch(session, run_id=f"run_{tag}", at=at, system="hubspot", remote_object="p_deal_registrations",
                              entity="deal_registration", mapping_version="m1", provenance={"amount": ["amount", None]},
                              entries=[[f"reg_{tag}", f"9{tag}", False, {"amount": 1}, {"amount": 2}, {"amount": "2"}]])
            start_run(session, trigger="cli", run_id=f"run_{tag}", now=at)
            finish_run(session, f"run_{tag}", status=RunStatus.succeeded, now=at)
            add_event(session, "hubspot", f"delivery_{tag}", {"n": 1}, now=at)
            failure = record_failure(session, system="hubspot", remote_object="companies", record_key=f"ptn_{tag}",
                                     operation="upsert", error_code="E", error_message="refused", now=at)
            resolve_failure(session, failure.id, "replayed", now=at)
            item = add_review(session, entity="partner", record_id=f"ptn_{tag}", system="hubspot", field="tier",
                              prm_value="gold", remote_value="silver", now=at)
            resolve_review(session, item.id, resolution="prm", resolved_by="test", now=at)
            save_conflict_check(session, ConflictCheck(registration_id="reg_1", checked_at=at, decision="clear"))
        # old, but still needed: a running run, an open failure, an unprocessed delivery, an open review,
        # a discarded failure (history like a resolved one), and the only check of another registration
        # the rules count extensions in the audit log: that entry stays, however old
        append_audit(session, [AuditEntry(at=OLD, action=EXTEND_ACTION, entity="deal_registration",
                                          record_id="reg_1")])
        start_run(session, trigger="cli", run_id="run_running", now=OLD)
        record_failure(session, system="hubspot", remote_object="companies", record_key="ptn_open",
                       operation="upsert", error_code="E", error_message="refused", now=OLD)
        discarded = record_failure(session, system="hubspot", remote_object="companies", record_key="ptn_gone",
                                   operation="upsert", error_code="E", error_message="refused", now=OLD)
        discard_failure(session, discarded.id, "not ours", now=OLD)
        add_event(session, "hubspot", "delivery_pending", {"n": 2}, now=OLD)
        add_review(session, entity="partner", record_id="ptn_open", system="hubspot", field="tier",
                   prm_value="gold", remote_value="silver", now=OLD)
        save_conflict_check(session, ConflictCheck(registration_id="reg_2", checked_at=OLD, decision="review"))
    with store.session() as session:  # processed "now"-ish: old events are processed at their own time
        old_events = [e.id for e in list_unprocessed(session) if e.delivery_id == "delivery_old"]
        new_events = [e.id for e in list_unprocessed(session) if e.delivery_id == "delivery_new"]
        mark_processed(session, old_events, now=OLD)
        mark_processed(session, new_events, now=RECENT)


def _counts(store: Store) -> dict[str, int]:
    tables = (WriteLedgerRow, AuditLogRow, PushBatchRow, PushBatchRecordRow, SyncRunRow, InboxEventRow,
              FailedRecordRow, ReviewItemRow, ConflictCheckRow)
    with store.session(readonly=True) as session:
        return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in tables}


def test_prune_removes_only_history_past_its_window_and_audits_itself(store: Store) -> None:
    _fill(store)
    before = _counts(store)
    preview = prune_history(store, RetentionConfig(), now=NOW, dry_run=True)
    assert _counts(store) == before  # a dry run deletes nothing and audits nothing
    expected = {"write_ledger": 1, "audit_log": 1, "push_batch": 1, "sync_run": 1, "inbox_event": 1,
                "failed_record": 2, "review_item": 1, "conflict_check": 1}
    assert {t.table: t.rows for t in preview.tables} == expected

    report = prune_history(store, RetentionConfig(), now=NOW, actor="cli:test", chunk=1)  # chunk=1: many commits
    assert {t.table: t.rows for t in report.tables} == expected
    after = _counts(store)
    # -1 old audit row, +1 prune entry; the old batch goes with its record index
    assert {k: before[k] - after[k] for k in before} == {**expected, "audit_log": 0, "push_batch_record": 1}
    with store.session(readonly=True) as session:
        assert set(session.scalars(select(SyncRunRow.id))) == {"run_new", "run_running"}
        assert set(session.scalars(select(FailedRecordRow.record_key))) == {"ptn_new", "ptn_open"}
        assert set(session.scalars(select(InboxEventRow.delivery_id))) == {"delivery_new", "delivery_pending"}
        assert set(session.scalars(select(ReviewItemRow.record_id))) == {"ptn_new", "ptn_open"}
        assert set(session.scalars(select(WriteLedgerRow.remote_id))) == {"001new"}
        assert latest_conflict_check(session, "reg_1").checked_at == RECENT
        assert latest_conflict_check(session, "reg_2") is not None  # old, but its registration's only check
        assert [e.record_id for e in query_audit(session, entity="partner")] == ["ptn_new"]
        assert [e.record_id for e in query_audit(session, entity="deal_registration")] == ["reg_new", "reg_1"]
        assert query_audit(session, record_id="reg_old") == []
        assert extensions_used(session, "reg_1") == 1
        pruned = [e for e in query_audit(session) if e.action == PRUNE_ACTION]
        assert len(pruned) == 1 and pruned[0].actor == "cli:test"
        assert pruned[0].fields_after == {**expected, "audit_log": 1}

    again = prune_history(store, RetentionConfig(), now=NOW)  # idempotent: nothing left to remove
    assert again.total == 0


def test_a_window_set_to_none_keeps_that_history_and_shorter_windows_take_more(store: Store) -> None:
    _fill(store)
    policy = RetentionConfig(audit_days=None, ledger_days=1, runs_days=None, inbox_days=None,
                             resolved_failures_days=None, resolved_reviews_days=None, conflict_checks_days=None)
    report = prune_history(store, policy, now=NOW)
    by_name = {t.name: t for t in report.tables}
    assert by_name["audit"].keep_days is None and by_name["audit"].rows == 0
    assert by_name["ledger"].rows == 2  # both entries are older than a day
    with store.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(WriteLedgerRow)) == 0
        assert session.scalar(select(func.count()).select_from(AuditLogRow)) == 4  # 3 + the prune entry
        assert session.scalar(select(func.count()).select_from(SyncRunRow)) == 3
