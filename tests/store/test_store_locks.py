"""Slice locks: dead holders, heartbeats, the fence, operator unlocks and abandoned runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from prm_sync.errors import LockLost, RunInProgress
from prm_sync.model import utcnow
from prm_sync.store import Store, locks, make_engine, query_audit, runs
from prm_sync.store.orm import RunLockRow

STALE = timedelta(minutes=15)
SF = locks.slice_scope("salesforce", "partner")
HS = locks.slice_scope("hubspot", "partner")


@pytest.fixture
def other(store: Store) -> Iterator[Store]:
    """A second store on the same database: another process, as far as locking is concerned."""
    second = Store(make_engine(store.engine.url))
    yield second
    second.close()


def dead_pid() -> int:
    """The pid of a process that ran on this host and was killed (and reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.kill()
    proc.wait()
    return proc.pid


def start_run(store: Store, run_id: str) -> None:
    with store.session() as session:
        runs.start_run(session, trigger="cli", run_id=run_id)


def test_slices_lock_separately_and_a_run_takes_all_of_its_slices_or_none(store: Store, other: Store) -> None:
    first = locks.take_locks(store, [SF], "run_sf", STALE, heartbeat=False)
    second = locks.take_locks(other, [HS], "run_hs", STALE, heartbeat=False)  # another slice goes on beside it
    with pytest.raises(RunInProgress, match=r"slice 'salesforce/partner' is locked by run run_sf on .* pid \d+"):
        locks.take_locks(other, [locks.slice_scope("erp", "partner"), SF], "run_all", STALE, heartbeat=False)
    with store.session() as session:
        # the refused run kept nothing it had taken before the refusal
        assert [lock.scope for lock in locks.list_locks(session)] == [HS, SF]
    first.close()
    second.close()
    with store.session() as session:
        assert locks.list_locks(session) == []


def test_a_killed_holder_on_this_host_is_taken_over_at_once_audited_and_its_run_abandoned(
    store: Store, other: Store
) -> None:
    killed = locks.Holder("run_killed", host=locks.this_host(), pid=dead_pid())
    assert locks.acquire_lock(store, SF, "run_killed", STALE, holder=killed)  # heartbeat fresh: only the pid tells
    start_run(store, "run_killed")

    held = locks.take_locks(other, [SF], "run_next", STALE, heartbeat=False)
    held.close()

    with store.session() as session:
        dead = runs.get_run(session, "run_killed")
        assert dead is not None and dead.status == "abandoned" and dead.finished_at is not None
        assert f"process {killed.pid} on {socket.gethostname()} is gone" in (dead.error or "")
        entry = query_audit(session, run_id="run_next")[0]
    assert entry.action == "lock.takeover"
    assert "run_killed" in (entry.reason or "") and entry.fields_before["pid"] == killed.pid


def test_a_holder_on_another_host_is_kept_until_its_heartbeat_expires(store: Store, other: Store) -> None:
    far = locks.Holder("run_far", host="another-host.example", pid=1)
    start = utcnow() - timedelta(minutes=10)
    assert locks.acquire_lock(store, SF, "run_far", STALE, holder=far, now=start)
    assert not locks.acquire_lock(other, SF, "run_here", STALE)  # 10 minutes without a heartbeat: maybe alive
    assert locks.acquire_lock(other, SF, "run_here", STALE, now=start + STALE + timedelta(seconds=1))


def test_the_heartbeat_keeps_a_run_longer_than_stale_after_from_being_taken_over(store: Store, other: Store) -> None:
    stale = timedelta(seconds=2)  # beats every 0.5 s
    held = locks.take_locks(store, [SF], "run_long", stale)
    try:
        deadline = time.monotonic() + 3 * stale.total_seconds()
        while time.monotonic() < deadline:  # three times stale_after: never free for the taking
            assert not locks.acquire_lock(other, SF, "run_thief", stale)
            time.sleep(0.3)
        assert not held.lost.is_set()
    finally:
        held.close()
    assert locks.acquire_lock(other, SF, "run_after", stale)


def test_a_run_taken_over_stops_at_its_next_transaction(store: Store, other: Store) -> None:
    held = locks.take_locks(store, [SF], "run_slow", STALE, heartbeat=False)
    with store.session() as session:
        held.fence(session)  # still ours
    with other.session() as session:  # it looked dead to someone: its heartbeat is made old
        session.execute(update(RunLockRow).values(heartbeat_at=utcnow() - 2 * STALE))
    assert locks.acquire_lock(other, SF, "run_successor", STALE)
    with pytest.raises(LockLost, match="run_slow lost its lock"), store.session() as session:
        held.fence(session)
    held.close()  # releases nothing of its successor's
    with store.session() as session:
        lock = locks.get_lock(session, SF)
    assert lock is not None and lock.run_id == "run_successor"


def test_unlock_frees_dead_holders_keeps_live_ones_unless_forced_and_audits(store: Store, other: Store) -> None:
    killed = locks.Holder("run_killed", host=locks.this_host(), pid=dead_pid())
    assert locks.acquire_lock(store, SF, "run_killed", STALE, holder=killed)
    start_run(store, "run_killed")
    assert locks.acquire_lock(store, HS, "run_alive", STALE)  # this process: alive
    start_run(store, "run_alive")

    freed, kept = locks.unlock(other, actor="cli:ops", stale_after=STALE)
    assert [lock.run_id for lock in freed] == ["run_killed"] and [lock.run_id for lock in kept] == ["run_alive"]
    freed, kept = locks.unlock(other, HS, actor="cli:ops", stale_after=STALE, force=True)
    assert [lock.run_id for lock in freed] == ["run_alive"] and kept == []

    with store.session() as session:
        assert locks.list_locks(session) == []
        assert {r.id: r.status for r in runs.list_runs(session)} == {"run_killed": "abandoned", "run_alive": "abandoned"}
        entries = query_audit(session, entity=None)
    unlocks = [e for e in entries if e.action == "lock.unlock"]
    assert {e.actor for e in unlocks} == {"cli:ops"} and len(unlocks) == 2
    assert any("forced" in (e.reason or "") for e in unlocks)


def test_running_rows_without_a_live_lock_are_marked_abandoned_when_a_run_starts(store: Store) -> None:
    start_run(store, "run_orphan")  # its process died after its lock was freed by hand, say
    assert locks.acquire_lock(store, SF, "run_live", STALE)
    start_run(store, "run_live")
    held = locks.take_locks(store, [HS], "run_new", STALE, heartbeat=False)
    held.close()
    with store.session() as session:
        assert runs.get_run(session, "run_orphan").status == "abandoned"
        assert runs.get_run(session, "run_live").status == "running"  # holds a live lock


def test_a_run_that_fails_while_taking_its_locks_keeps_none_of_them(
    store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error (or an interrupt) after some slices were taken must not leave them held by a live process."""
    def broken(*_args: object, **_kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(locks, "abandon_dead_runs", broken)
    with pytest.raises(KeyboardInterrupt):
        locks.take_locks(store, [SF, HS], "run_broken", STALE)
    monkeypatch.undo()
    with store.session() as session:
        assert locks.list_locks(session) == []
    held = locks.take_locks(other, [SF, HS], "run_next", STALE, heartbeat=False)  # not refused for 15 minutes
    held.close()


@pytest.mark.parametrize("skew", [timedelta(minutes=-20), timedelta(minutes=20)], ids=["holder-clock-slow", "own-clock-fast"])
def test_hosts_whose_clocks_disagree_by_more_than_stale_after_never_take_a_live_lock(
    store: Store, other: Store, skew: timedelta
) -> None:
    """Heartbeats are stamped and judged by the database's clock, so a host's wrong clock cannot make a live run look dead."""
    from freezegun import freeze_time

    far = locks.Holder("run_far", host="another-host.example", pid=1)
    holder_clock = utcnow() + (skew if skew < timedelta(0) else timedelta(0))
    with freeze_time(holder_clock, tick=True):  # the holder's host, and the heartbeat it just wrote
        assert locks.acquire_lock(store, SF, "run_far", STALE, holder=far)
        assert locks.heartbeat(store, SF, "run_far")
    contender_clock = utcnow() + (skew if skew > timedelta(0) else timedelta(0))
    with freeze_time(contender_clock, tick=True):
        assert not locks.acquire_lock(other, SF, "run_here", STALE)
        with pytest.raises(RunInProgress, match="run_far"):
            locks.take_locks(other, [SF], "run_here", STALE, heartbeat=False)
        freed, kept = locks.unlock(other, SF, actor="cli:ops", stale_after=STALE)
        assert freed == [] and [lock.run_id for lock in kept] == ["run_far"]


def test_a_holder_in_another_process_table_of_a_host_with_our_name_is_judged_by_its_heartbeat(
    store: Store, other: Store
) -> None:
    """A container with the host's name (host networking) has pids of its own: a number free here proves nothing.

    Its lock row names the bare host name (as a release before this one wrote) or the host name with
    another process table's token; either way a live run there must keep its lock until its heartbeat expires.
    """
    pid = dead_pid()  # free in this process table, maybe a live sync in the other one
    elsewhere = [socket.gethostname(), f"{socket.gethostname()}/000000000000"]
    for n, host in enumerate(elsewhere):
        scope = locks.slice_scope("salesforce", f"entity{n}")
        assert locks.acquire_lock(store, scope, f"run_container{n}", STALE, holder=locks.Holder(f"run_container{n}", host=host, pid=pid))
        assert not locks.acquire_lock(other, scope, "run_here", STALE)
        freed, kept = locks.unlock(other, scope, actor="cli:ops", stale_after=STALE)
        assert freed == [] and [lock.run_id for lock in kept] == [f"run_container{n}"]
    assert locks.this_host().startswith(f"{socket.gethostname()}/") and locks.this_host() not in elsewhere


def test_a_holder_configured_with_a_long_stale_after_still_looks_alive_to_the_shortest_one(store: Store, other: Store) -> None:
    """Processes judge a lock by their own lock_stale_after_seconds (60 s at the least): beats must come often enough."""
    from prm_sync.config.settings import SyncConfig

    shortest = timedelta(seconds=SyncConfig.model_fields["lock_stale_after_seconds"].metadata[0].ge)
    assert shortest == locks.SHORTEST_STALE_AFTER
    for holder_setting in (shortest, STALE, timedelta(hours=1), timedelta(days=1)):
        beat = timedelta(seconds=locks.heartbeat_interval(holder_setting))
        assert 4 * beat <= shortest, holder_setting
    held = locks.take_locks(store, [SF], "run_long_setting", timedelta(hours=1), heartbeat=False)
    try:  # seen by the shortest setting after one beat was missed (a slow database): still alive
        beat = timedelta(seconds=locks.heartbeat_interval(timedelta(hours=1)))
        assert locks.heartbeat(store, SF, "run_long_setting")
        assert not locks.acquire_lock(other, SF, "run_short_setting", shortest, now=locks.store_now(other) + 2 * beat)
    finally:
        held.close()
