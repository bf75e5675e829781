"""Run locks and racing writers, with two independent stores on one database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from prm_sync.errors import RunInProgress
from prm_sync.store import (
    Store,
    acquire_lock,
    add_event,
    get_lock,
    heartbeat,
    hold_lock,
    list_locks,
    list_unprocessed,
    make_engine,
    release_lock,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
STALE = timedelta(minutes=15)


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """A second store on the same database: another process, as far as locking is concerned."""
    second = Store(make_engine(store.engine.url))
    yield second
    second.close()


def test_second_acquire_is_refused_until_release(store: Store, other: Store) -> None:
    assert acquire_lock(store, "salesforce", "run_a", STALE, now=T0) is True
    assert acquire_lock(other, "salesforce", "run_b", STALE, now=T0 + timedelta(minutes=1)) is False
    assert acquire_lock(other, "hubspot", "run_b", STALE, now=T0) is True  # another scope is independent
    assert release_lock(other, "salesforce", "run_b") is False  # only the holder releases
    assert release_lock(store, "salesforce", "run_a") is True
    assert acquire_lock(other, "salesforce", "run_b", STALE, now=T0 + timedelta(minutes=2)) is True
    with other.session() as session:
        assert [(lock.scope, lock.run_id) for lock in list_locks(session)] == [
            ("hubspot", "run_b"),
            ("salesforce", "run_b"),
        ]


def test_holder_may_acquire_again(store: Store) -> None:
    assert acquire_lock(store, "salesforce", "run_a", STALE, now=T0)
    assert acquire_lock(store, "salesforce", "run_a", STALE, now=T0 + timedelta(minutes=1))


def test_stale_lock_is_taken_over_and_the_old_holder_notices(store: Store, other: Store) -> None:
    assert acquire_lock(store, "salesforce", "run_a", STALE, now=T0)
    assert heartbeat(store, "salesforce", "run_a", now=T0 + timedelta(minutes=10))
    # 14 minutes after the last heartbeat: still alive
    assert acquire_lock(other, "salesforce", "run_b", STALE, now=T0 + timedelta(minutes=24)) is False
    # 16 minutes after it: presumed dead
    assert acquire_lock(other, "salesforce", "run_b", STALE, now=T0 + timedelta(minutes=26)) is True
    with other.session() as session:
        lock = get_lock(session, "salesforce")
    assert lock is not None
    assert (lock.run_id, lock.acquired_at) == ("run_b", T0 + timedelta(minutes=26))
    assert heartbeat(store, "salesforce", "run_a") is False
    assert release_lock(store, "salesforce", "run_a") is False


def test_racing_acquires_have_exactly_one_winner(store: Store, other: Store) -> None:
    stores = [store, other] * 4
    start = threading.Barrier(len(stores))

    def contend(index: int) -> bool:
        start.wait()
        return acquire_lock(stores[index], "salesforce", f"run_{index}", STALE)

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(contend, range(len(stores))))
    assert results.count(True) == 1


def test_racing_takeovers_of_a_stale_lock_have_exactly_one_winner(store: Store, other: Store) -> None:
    assert acquire_lock(store, "salesforce", "run_dead", STALE, now=T0)
    stores = [store, other] * 4
    start = threading.Barrier(len(stores))
    later = T0 + timedelta(hours=1)

    def contend(index: int) -> bool:
        start.wait()
        return acquire_lock(stores[index], "salesforce", f"run_{index}", STALE, now=later)

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(contend, range(len(stores))))
    assert results.count(True) == 1


def test_hold_lock_raises_run_in_progress_naming_the_holder(store: Store, other: Store) -> None:
    with (
        hold_lock(store, "salesforce", "run_a"),
        pytest.raises(RunInProgress, match="locked by run run_a"),
        hold_lock(other, "salesforce", "run_b"),
    ):
        pass
    with hold_lock(other, "salesforce", "run_b"), other.session() as session:
        lock = get_lock(session, "salesforce")
        assert lock is not None and lock.run_id == "run_b"
    with store.session() as session:
        assert get_lock(session, "salesforce") is None


def test_concurrent_redelivery_is_stored_once(store: Store, other: Store) -> None:
    """Two webhook workers receive the same delivery at once: one stores it, the other's transaction survives."""
    first_inserted = threading.Event()
    results: dict[str, bool] = {}

    def slow_worker() -> None:
        with store.session() as session:
            results["first"] = add_event(session, "hubspot", "evt-1", {"n": 1})
            session.flush()
            first_inserted.set()
            threading.Event().wait(0.3)  # hold the transaction open while the second worker tries

    worker = threading.Thread(target=slow_worker)
    worker.start()
    first_inserted.wait(5)
    with other.session() as session:
        results["second"] = add_event(session, "hubspot", "evt-1", {"n": 1})
        results["after"] = add_event(session, "hubspot", "evt-2", {"n": 2})
    worker.join(5)
    assert results == {"first": True, "second": False, "after": True}
    with store.session() as session:
        assert [e.delivery_id for e in list_unprocessed(session)] == ["evt-1", "evt-2"]
