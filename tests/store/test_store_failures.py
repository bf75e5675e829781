"""The failed-records store: one open row per broken record, counted, filtered and closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prm_sync.errors import UsageError
from prm_sync.store import (
    Store,
    count_open,
    discard_failure,
    get_failure,
    list_failures,
    oldest_open_age,
    record_failure,
    resolve_failure,
    resolve_open_failures,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def fail(
    store: Store,
    key: str,
    *,
    code: str = "REQUIRED_FIELD_MISSING",
    at: datetime = T0,
    system: str = "salesforce",
    operation: str = "upsert",
) -> int:
    with store.session() as session:
        failure = record_failure(
            session,
            run_id="run_1",
            system=system,
            remote_object="Account",
            entity="partner",
            record_key=key,
            operation=operation,
            payload={"Name": None, "Amount__c": Decimal("10.50")},
            error_code=code,
            error_message=f"{code} on {key}",
            error_fields=["Name"],
            now=at,
        )
        return failure.id


def test_repeated_failure_increments_attempts_instead_of_adding_rows(store: Store) -> None:
    first = fail(store, "ptn_1", at=T0)
    again = fail(store, "ptn_1", code="FIELD_CUSTOM_VALIDATION_EXCEPTION", at=T0 + timedelta(hours=1))
    assert again == first
    with store.session() as session:
        failure = get_failure(session, first)
        assert failure is not None
        assert failure.attempts == 2
        assert (failure.first_seen, failure.last_seen) == (T0, T0 + timedelta(hours=1))
        assert failure.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        assert failure.payload == {"Name": None, "Amount__c": "10.50"}
        assert failure.error_fields == ["Name"]
        assert count_open(session) == 1


def test_another_operation_is_another_failure(store: Store) -> None:
    assert fail(store, "ptn_1") != fail(store, "ptn_1", operation="delete")


def test_failure_after_resolution_opens_a_new_row(store: Store) -> None:
    first = fail(store, "ptn_1")
    with store.session() as session:
        resolved = resolve_failure(session, first, "replayed in run_2", now=T0 + timedelta(days=1))
        assert (resolved.status, resolved.resolution) == ("resolved", "replayed in run_2")
    second = fail(store, "ptn_1", at=T0 + timedelta(days=2))
    assert second != first
    with store.session() as session:
        assert [f.id for f in list_failures(session, status=None)] == [second, first]
        reopened = get_failure(session, second)
        assert reopened is not None
        assert reopened.attempts == 1


def test_list_failures_filters(store: Store) -> None:
    fail(store, "ptn_1", code="A", at=T0)
    fail(store, "ptn_2", code="B", at=T0 + timedelta(hours=2))
    fail(store, "ptn_3", code="A", at=T0 + timedelta(hours=3), system="hubspot")
    with store.session() as session:
        assert [f.record_key for f in list_failures(session)] == ["ptn_3", "ptn_2", "ptn_1"]
        assert [f.record_key for f in list_failures(session, error_code="A")] == ["ptn_3", "ptn_1"]
        assert [f.record_key for f in list_failures(session, system="salesforce")] == ["ptn_2", "ptn_1"]
        assert [f.record_key for f in list_failures(session, since=T0 + timedelta(hours=1))] == [
            "ptn_3",
            "ptn_2",
        ]
        assert [f.record_key for f in list_failures(session, remote_object="Contact")] == []
        assert len(list_failures(session, limit=1)) == 1
        assert count_open(session, system="hubspot") == 1


def test_discard_keeps_the_reason_and_leaves_the_open_queue(store: Store) -> None:
    failure_id = fail(store, "ptn_1")
    with store.session() as session:
        discarded = discard_failure(session, failure_id, "test partner, deleted in Salesforce")
        assert (discarded.status, discarded.resolution) == (
            "discarded",
            "test partner, deleted in Salesforce",
        )
        assert discarded.resolved_at is not None
        assert count_open(session) == 0
        assert [f.id for f in list_failures(session, status="discarded")] == [failure_id]
        with pytest.raises(UsageError, match="already discarded"):
            resolve_failure(session, failure_id, "too late")
        with pytest.raises(UsageError, match="no failed record with id 999999"):
            discard_failure(session, 999999, "nothing")


def test_oldest_open_age(store: Store) -> None:
    with store.session() as session:
        assert oldest_open_age(session) is None
    fail(store, "ptn_1", at=T0)
    fail(store, "ptn_2", at=T0 + timedelta(hours=5))
    with store.session() as session:
        assert oldest_open_age(session, now=T0 + timedelta(hours=6)) == timedelta(hours=6)


def test_resolve_open_failures_of_records_that_went_through(store: Store) -> None:
    for key in ("ptn_1", "ptn_2", "ptn_3"):
        fail(store, key)
    with store.session() as session:
        closed = resolve_open_failures(
            session,
            system="salesforce",
            remote_object="Account",
            record_keys=["ptn_1", "ptn_3", "ptn_9"],
            operation="upsert",
            resolution="succeeded in run_2",
        )
        assert closed == 2
        assert [f.record_key for f in list_failures(session)] == ["ptn_2"]
