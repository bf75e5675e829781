"""Crashes at every checkpoint, and two runs at once.

A crash is an exception raised by the engine's crash hook at a named
checkpoint (the places where a process can die between two durable steps).
The re-run that follows must converge: no duplicate in either CRM, nothing
lost, and a third run that writes nothing.
"""

from __future__ import annotations

import pytest
from fixtures.crash import Crash, crash_at, writes

from prm_sync.errors import RunInProgress
from prm_sync.store import locks, runs
from prm_sync.store.db import Store, make_engine
from prm_sync.sync.engine import SyncScope

CHECKPOINTS = ["push.before_write", "push.after_remote_write", "push.after_commit", "pull.after_commit"]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_crash_then_rerun_converges(make_sync_env, converged, checkpoint: str) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    # crash on the third occurrence: some batches are durable, some are not
    with pytest.raises(Crash):
        env.run(crash_hook=crash_at(checkpoint, after=2))
    with env.runtime.store.session(readonly=True) as session:
        crashed = runs.list_runs(session, limit=1)[0]
        assert crashed.status == "failed" and "Crash" in (crashed.error or "")
        assert locks.list_locks(session) == []  # the lock is released even when the run dies

    rerun = env.run()

    assert rerun.status == "succeeded", rerun.error
    checked = converged(env)
    assert checked["partner"] and checked["deal_registration"]
    again = env.run()
    assert writes(again) == 0, again.totals()


def test_second_run_is_refused_while_one_is_running(make_sync_env, store: Store) -> None:
    """On SQLite and PostgreSQL: the store's lock row decides, seen from a second connection pool."""
    env = make_sync_env(systems=("salesforce",), store=store)
    other_store = Store(make_engine(store.engine.url))  # another process's view of the same database
    refused: list[str] = []

    def second_run(checkpoint: str) -> None:
        if checkpoint == "pull.after_commit" and not refused:
            other = env.runtime.engine(["salesforce"])
            other.store = other_store
            try:
                other.run(SyncScope())
            except RunInProgress as exc:
                refused.append(str(exc))

    try:
        first = env.run(crash_hook=second_run)
    finally:
        other_store.close()

    assert first.status == "succeeded"
    assert len(refused) == 1 and first.run_id in refused[0]
    with env.runtime.store.session(readonly=True) as session:
        assert [r.id for r in runs.list_runs(session)] == [first.run_id]  # the refused run left no row
        assert locks.list_locks(session) == []
    assert env.run().status == "succeeded"  # and the lock is free again afterwards


def test_an_interrupted_run_is_recorded_as_failed_not_left_running(make_sync_env) -> None:
    """Ctrl-C (or Dagster terminating a step) raises a BaseException: the run row must still tell the truth."""
    env = make_sync_env(systems=("salesforce",))

    def interrupt(checkpoint: str) -> None:
        if checkpoint == "push.before_write":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        env.run(crash_hook=interrupt)
    with env.runtime.store.session(readonly=True) as session:
        interrupted = runs.list_runs(session, limit=1)[0]
        assert interrupted.status == "failed" and "KeyboardInterrupt" in (interrupted.error or "")
        assert interrupted.finished_at is not None
        assert locks.list_locks(session) == []
    assert env.run().status == "succeeded"
