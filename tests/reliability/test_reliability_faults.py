"""Transport faults injected into the sandboxes: 429 storms, quota, 5xx, timeouts, lost answers.

Connector retries wait milliseconds here (``sync_env``), so each test runs
the real retry path quickly. Every test ends on the same invariants
(``converged``): no duplicates, nothing lost, every record synced or failed
with a reason.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.http import FaultConfig

BOTH = ("salesforce", "hubspot")


def _writes(report: Any) -> int:
    totals = report.totals()
    return totals["created"] + totals["updated"] + totals["deleted"]


def test_hubspot_429_storm_is_ridden_out(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    hubspot = env.apps["hubspot"]
    hubspot.faults = FaultConfig(burst_429=4, retry_after_seconds=0)

    report = env.run()

    assert report.status == "succeeded", report.error
    assert hubspot.faults.burst_429 == 0  # every 429 was met, and retried
    assert report.totals()["failed"] == 0
    hubspot_calls = sum(s.api_calls for s in report.slices if s.system == "hubspot")
    assert hubspot_calls == hubspot.total_calls()  # the retries are counted too
    converged(env)


def test_quota_exhaustion_mid_run_stops_cleanly_and_resumes_without_loss(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    salesforce = env.runtime.config.systems.salesforce.model_copy(update={"quota_reserve_pct": 0.0})
    env.runtime.config = env.runtime.config.model_copy(
        update={"systems": env.runtime.config.systems.model_copy(update={"salesforce": salesforce})}
    )
    env.reconnect()
    env.apps["salesforce"].faults = FaultConfig(quota_remaining=6)

    first = env.run()

    assert first.status == "partial"
    stopped = [s for s in first.slices if s.system == "salesforce" and s.stopped_reason]
    assert stopped and all(s.stopped_reason.startswith("quota") for s in stopped)
    assert all(not s.stopped_reason for s in first.slices if s.system == "hubspot")  # the other CRM carried on
    sf_created = sum(s.created for s in first.slices if s.system == "salesforce" and s.entity == "partner")

    env.apps["salesforce"].faults = FaultConfig()  # the next day's budget
    env.reconnect()  # a new process: no remembered usage
    second = env.run()

    assert second.status == "succeeded", second.error
    assert sf_created + second.slice("salesforce", "partner").created == len(env.data.partners)
    converged(env)
    assert _writes(env.run()) == 0


def test_5xx_answers_are_retried(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    for app in env.apps.values():
        app.faults = FaultConfig(fail_next_5xx=3)

    report = env.run()

    assert report.status == "succeeded", report.error
    assert report.totals()["failed"] == 0
    assert all(app.faults.fail_next_5xx == 0 for app in env.apps.values())
    converged(env)


def test_timeouts_are_retried(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH, timeout_seconds=0.5)
    for app in env.apps.values():
        app.faults = FaultConfig(timeout_next=1, timeout_seconds=1.0)

    report = env.run()

    assert all(app.faults.timeout_next == 0 for app in env.apps.values())  # each system hung once
    assert report.status == "succeeded", report.error
    assert report.totals()["failed"] == 0
    converged(env)


def test_lost_write_confirmations_do_not_duplicate(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    for app in env.apps.values():
        app.faults = FaultConfig(drop_after_write=2)

    report = env.run()

    assert all(app.faults.drop_after_write == 0 for app in env.apps.values())  # answers really were lost
    assert report.status == "succeeded", report.error
    checked = converged(env)  # the retried upsert found the record the lost call had made
    assert checked["partner"] == len(env.data.partners)
    assert _writes(env.run()) == 0
