"""Pipelined writes: a slice's next batch is in flight while the previous one commits.

The demo world fits in one batch at the shipped page size, so these tests
shrink the batches (3 records per call and per commit) to get many batches
per slice, then crash and fail in the middle of the pipeline. The invariants
are the usual ones (``converged``): no duplicate, nothing lost, and the run
after that writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.crash import Crash, crash_at, writes

from connectors.sandbox.http import FaultConfig
from prm_sync.sync.engine import SyncScope

BOTH = ("salesforce", "hubspot")
SMALL = 3


def small_batches(env: Any, *, pipelined: bool, systems: tuple[str, ...] = BOTH) -> None:
    sync = env.runtime.config.sync.model_copy(update={"page_size": SMALL, "pipeline_writes": pipelined})
    env.runtime.config = env.runtime.config.model_copy(update={"sync": sync})
    env.reconnect()
    for connector in env.runtime.connectors(list(systems)).values():
        connector.batch_size = SMALL  # an instance attribute shadows the class's API maximum


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
def test_many_small_batches_write_every_record_once(make_sync_env, converged, pipelined: bool) -> None:
    env = make_sync_env(systems=BOTH)
    small_batches(env, pipelined=pipelined)

    report = env.run()

    assert report.status == "succeeded", report.error
    assert len(env.data.registrations) > 3 * SMALL  # several batches per slice, or this test proves nothing
    sf_upserts = sum(n for route, n in env.apps["salesforce"].calls.items() if route.startswith("collections."))
    created = report.slice("salesforce", "partner").created + report.slice("salesforce", "deal_registration").created
    assert created == len(env.data.partners) + len(env.data.registrations)
    assert sf_upserts >= -(-len(env.data.registrations) // SMALL)  # the batches really were small
    converged(env)
    assert writes(env.run()) == 0


@pytest.mark.parametrize("checkpoint", ["push.after_remote_write", "push.after_commit"])
def test_crash_with_a_batch_in_flight_converges(make_sync_env, converged, checkpoint: str) -> None:
    env = make_sync_env(systems=BOTH)
    small_batches(env, pipelined=True)

    # the fourth batch: by then the fifth is on the wire while the fourth commits (or was about to)
    with pytest.raises(Crash):
        env.run(crash_hook=crash_at(checkpoint, after=3))
    rerun = env.run()

    assert rerun.status == "succeeded", rerun.error
    converged(env)
    assert writes(env.run()) == 0


def test_remote_outage_mid_pipeline_stops_the_system_and_resumes(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    small_batches(env, pipelined=True)
    hubspot = env.apps["hubspot"]
    seen = {"commits": 0}

    def outage_starts(checkpoint: str) -> None:  # HubSpot goes down for good after a few commits
        if checkpoint == "push.after_commit":
            seen["commits"] += 1
            if seen["commits"] == 4:
                hubspot.faults = FaultConfig(error_rate_5xx=1.0)

    first = env.engine(crash_hook=outage_starts).run(SyncScope())

    stopped = [s for s in first.slices if s.system == "hubspot" and s.stopped_reason]
    assert first.status == "partial" and stopped, first.totals()
    assert all(s.stopped_reason.startswith("unavailable") for s in stopped)
    assert not any(s.stopped_reason for s in first.slices if s.system == "salesforce")
    hubspot.faults = FaultConfig()
    small_batches(env, pipelined=True)
    second = env.run()

    assert second.status == "succeeded", second.error
    converged(env)
    assert writes(env.run()) == 0


def test_a_call_queued_behind_a_failing_one_still_runs() -> None:
    """An association queued behind an upsert belongs to a committed batch: it must go out even if the run fails.

    The upsert is still on the wire when the engine's thread fails (say, its
    commit), so the association is still queued when the block is left.
    """
    import threading

    from prm_sync.sync.push import RemoteCalls

    sent: list[str] = []
    wire = threading.Event()

    def slow_failing_upsert() -> None:
        wire.wait(5)
        raise RuntimeError("HubSpot is down")

    with pytest.raises(Crash), RemoteCalls(pipelined=True) as remote:
        upsert = remote.submit(slow_failing_upsert)
        remote.submit(sent.append, "upsert batch 3")
        remote.submit(sent.append, "associate batch 2", side=True)
        threading.Timer(0.2, wire.set).start()
        raise Crash("the commit failed")
    assert sorted(sent) == ["associate batch 2", "upsert batch 3"]
    with pytest.raises(RuntimeError, match="down"):
        upsert.result()


def test_associations_run_beside_the_upserts_each_in_order() -> None:
    """Links go out on their own thread, so the next batch's upsert does not queue behind them."""
    import threading

    from prm_sync.sync.push import RemoteCalls

    done: list[tuple[str, str]] = []
    links_may_finish = threading.Event()

    def call(name: str, *, hold: bool = False) -> str:
        if hold:
            links_may_finish.wait(5)
        done.append((name, threading.current_thread().name))
        return name

    with RemoteCalls(pipelined=True) as remote:
        first_links = remote.submit(lambda: call("associate 1", hold=True), side=True)
        second_links = remote.submit(call, "associate 2", side=True)
        upsert = remote.submit(call, "upsert 2")
        assert upsert.result(5) == "upsert 2"  # not held up by the association still on the wire
        assert not first_links.done()
        links_may_finish.set()
    assert (first_links.result(), second_links.result()) == ("associate 1", "associate 2")
    order = [name for name, _ in done]
    assert order.index("associate 1") < order.index("associate 2")
    threads = dict(done)
    assert threads["upsert 2"] != threads["associate 1"] == threads["associate 2"]


def test_unpipelined_calls_run_inline_and_keep_their_errors() -> None:
    import threading

    from prm_sync.sync.push import RemoteCalls

    def fail() -> None:
        raise RuntimeError("refused")

    with RemoteCalls(pipelined=False) as remote:
        here = remote.submit(lambda: threading.current_thread().name, side=True)
        failed = remote.submit(fail)
    assert here.result() == threading.current_thread().name
    with pytest.raises(RuntimeError, match="refused"):
        failed.result()


def test_a_run_whose_locks_were_taken_over_sends_no_further_batch(make_sync_env, converged) -> None:
    """A run presumed dead and taken over (its heartbeat stalled) must not write one more batch beside its successor.

    The fence stops its next commit, but with pipelining the next batch was sent before that commit: a
    stale write the successor's link states know nothing of, read back later as an edit made in the CRM.
    """
    from sqlalchemy import update

    from prm_sync.errors import LockLost
    from prm_sync.store.orm import RunLockRow

    env = make_sync_env(systems=("salesforce",))
    small_batches(env, pipelined=True, systems=("salesforce",))
    taken: list[str] = []

    def successor_takes_over(checkpoint: str) -> None:
        if checkpoint == "push.after_remote_write" and not taken:  # the first batch is in Salesforce
            with env.runtime.store.session() as session:
                session.execute(update(RunLockRow).values(run_id="run_successor"))
            taken.append(checkpoint)

    with pytest.raises(LockLost):
        env.run(crash_hook=successor_takes_over)
    written = [r for r in env.apps["salesforce"].all_records("Account") if r.get("PRM_Id__c")]
    assert len(env.data.partners) > SMALL and len(written) == SMALL  # the first batch only
    with env.runtime.store.session() as session:  # the successor finished (its own run is not part of this test)
        session.execute(RunLockRow.__table__.delete())
    assert env.run().status == "succeeded"
    converged(env)
