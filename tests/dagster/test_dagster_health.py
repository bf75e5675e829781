"""Failures are visible where they happen in Dagster, and a CLI change reaches the UI.

A partner Salesforce refuses: the slice's ``open_failures`` check fails
(WARN, counts by error code), the run carries ``prm_sync/failed``, the count
is logged at WARNING, ``prm/sync_health`` and ``prm/failed_records`` say so; a
replay whose record fails again is a failed run, not a green one; the
launchpad refuses an unknown system before launch and an unknown id in its
own terms. Then a discard made with the CLI (``DAGSTER_HOME`` set) turns the
check green in the instance without any Dagster run, and a day without
runs (schedules stopped, no daemon) turns the slices red through the
``prm-sync status --report`` watchdog.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance
from dagster._core.errors import DagsterInvalidConfigError
from fixtures.cli import invoke

from connectors.sandbox.http import FaultConfig
from dagster_project.runtime import FAILED_TAG, STATUS_TAG

SLICE = "salesforce/partners"


def _check(result, key: str, name: str):
    found = [c for c in result.get_asset_check_evaluations()
             if c.asset_key.to_user_string() == key and c.check_name == name]
    assert len(found) == 1, found
    return found[0]


def _metadata(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == key:
            return materialization.metadata
    raise AssertionError(f"{key} was not materialized")


def _replay(world, config: dict):
    return world.run("replay_job", {"ops": {"replay_failures": {"config": config}}})


def test_dagster_failures_visible_replay_truthful_and_cli_changes_reach_the_instance(
    dagster_world, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = dagster_world
    _health_job_before_any_sync(world)  # in the same world: a sandbox start fewer
    salesforce = world.cluster.apps["salesforce"]
    rejected = world.data.partners[0]
    salesforce.faults = FaultConfig(invalid_values={"Name": [rejected["name"]]})

    result = world.run("incremental_sync_job")

    open_check = _check(result, SLICE, "open_failures")
    assert not open_check.passed and open_check.severity == AssetCheckSeverity.WARN
    assert open_check.metadata["by_error_code"].value == {"FIELD_CUSTOM_VALIDATION_EXCEPTION": 1}
    assert "replay_job" in open_check.metadata["replay"].value
    assert _check(result, SLICE, "sync_fresh").passed  # it did run: fresh, only not clean
    assert _check(result, "hubspot/partners", "open_failures").passed
    run = world.instance.get_run_by_id(result.run_id)
    failed_total = int(run.tags[FAILED_TAG])
    assert failed_total >= 1 and run.tags[STATUS_TAG] == "succeeded_with_failures"
    warnings = [e.user_message for e in world.instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert any("salesforce/partner: read" in w and "failed 1," in w for w in warnings), warnings
    table = _metadata(result, SLICE)["failures"].value
    assert [c.name for c in table.schema.columns][:2] == ["error_code", "message"]
    assert table.records[0].data["message"] == f"Name: '{rejected['name']}' is refused by a validation rule"

    health = _metadata(result, "prm/sync_health")
    assert health["status"].value == "failures" and health["open_failures"].value == failed_total
    assert "🟡" in health["summary"].value and "salesforce/partner" in health["summary"].value
    healthy = _check(result, "prm/sync_health", "sync_healthy")
    assert not healthy.passed and healthy.severity == AssetCheckSeverity.WARN
    causes = _metadata(result, "prm/failed_records")
    assert causes["open_failures"].value == failed_total
    assert "/jobs/replay_job/playground/setup?config=" in causes["summary"].value

    # the launchpad refuses what its schema knows is wrong, before anything runs
    with pytest.raises(DagsterInvalidConfigError, match="not in enum type ReplaySystem"):
        world.defs.resolve_job_def("replay_job").execute_in_process(
            run_config={"ops": {"replay_failures": {"config": {"system": "salesfroce"}}}}, instance=world.instance)
    unknown = _replay(world, {"ids": [424242]})
    assert not unknown.success
    message = unknown.get_step_failure_events()[0].step_failure_data.error.message
    assert "ops.replay_failures.config" in message and "424242" in message

    # the fault is still on: the replayed partner fails again, and the run says so
    failure_id = table.records[0].data["failure_id"]
    again = _replay(world, {"ids": [failure_id]})
    assert not again.success
    assert "failed again" in again.get_step_failure_events()[0].step_failure_data.error.message
    assert world.instance.get_run_by_id(again.run_id).tags[FAILED_TAG] == "1"
    after = {name: _latest(world.instance, SLICE, name) for name in ("open_failures", "sync_fresh")}
    assert not after["open_failures"].passed  # the record is open again: amber
    assert after["sync_fresh"].passed, after["sync_fresh"].description  # the slice's sync did not break: not red

    # a CLI discard, with a Dagster instance configured: the slice's check turns green without a run
    monkeypatch.setenv("PRM_SYNC_OBSERVERS", "on")
    open_ids = [f.id for f in _open(world)]
    for failure in open_ids:
        done = invoke(["failures", "discard", str(failure), "--reason", "test data"])
        assert done.exit_code == 0, done.output
        assert "reported to Dagster" in done.stderr
    with DagsterInstance.get() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [_check_key(SLICE, "open_failures")])[_check_key(SLICE, "open_failures")]
        evaluation = latest.event.dagster_event.event_specific_data
        assert evaluation.passed, evaluation.description
        materialized = instance.get_latest_materialization_event(AssetKey(["prm", "failed_records"]))
        assert materialized.asset_materialization.metadata["open_failures"].value == 0

    # status asks the instance what only it knows: the schedules are off and no daemon runs
    status = invoke(["status", "--json"])
    assert status.exit_code == 0, status.output
    dagster = status.json()["orchestrators"][0]
    assert (dagster["name"], dagster["daemon_alive"]) == ("Dagster", False)
    assert {s["state"] for s in status.json()["schedules"]} == {"stopped"}

    # a day later, no schedule and no daemon ran anything: `status --report` from cron (the watchdog) turns the UI red
    _age_runs(world, timedelta(days=1))
    watchdog = invoke(["status", "--report"])
    assert watchdog.exit_code == 0, watchdog.output
    assert "reported to Dagster" in watchdog.stderr and "daemon NOT running" in watchdog.stdout
    fresh_key = _check_key(SLICE, "sync_fresh")
    with DagsterInstance.get() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([fresh_key])[fresh_key]
        evaluation = latest.event.dagster_event.event_specific_data
        assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
        assert "is the schedule stopped or the Dagster daemon down?" in evaluation.description
        health = instance.get_latest_materialization_event(AssetKey(["prm", "sync_health"]))
        rows = {r.data["slice"]: r.data["status"] for r in health.asset_materialization.metadata["slices"].value.records}
        # the replay that failed again left open failures (discarded since), not a broken slice: stale like the rest
        assert rows["hubspot/partner"] == "stale" and rows["salesforce/partner"] == "stale"


def _age_runs(world, by: timedelta) -> None:
    """Move every recorded run back in time, as if nothing had run since (the store's clock is not frozen)."""
    from sqlalchemy import select

    from prm_sync.store.orm import SyncRunRow

    with world.store() as store, store.session() as session:
        for row in session.scalars(select(SyncRunRow)):
            row.started_at -= by
            row.finished_at = row.finished_at and row.finished_at - by


def _latest(instance, key: str, name: str):
    """The latest evaluation of a check in ``instance`` (in a run or runless)."""
    check = _check_key(key, name)
    found = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[check]
    return found.event.dagster_event.event_specific_data


def _open(world):
    from prm_sync.store import failures

    with world.store() as store, store.session(readonly=True) as session:
        return failures.list_failures(session, status="open")


def _check_key(key: str, name: str):
    from dagster import AssetCheckKey

    return AssetCheckKey(AssetKey(key.split("/")), name)


def _health_job_before_any_sync(world) -> None:
    """Nothing synced yet: health_job checks without syncing, and every slice is red (never synced)."""
    result = world.run("health_job")
    assert result.success
    fresh = _check(result, SLICE, "sync_fresh")
    assert not fresh.passed and fresh.severity == AssetCheckSeverity.ERROR
    assert "never synced" in fresh.description
    healthy = _check(result, "prm/sync_health", "sync_healthy")
    assert not healthy.passed and healthy.severity == AssetCheckSeverity.ERROR
    assert _metadata(result, "prm/sync_health")["status"].value == "never"
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"prm/sync_health", "prm/failed_records"}  # it checks; it syncs nothing
