"""A partner Salesforce rejects: in the asset's failures table, failing its check, then fixed by a replay run.

The replay refreshes the slice's check and ``prm/failed_records`` in the
instance by itself; a day later without a run (a stopped schedule),
``health_job`` turns the slices red.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey
from sqlalchemy import select

from connectors.sandbox.http import FaultConfig
from prm_sync.store import failures
from prm_sync.store.orm import SyncRunRow

STRICT_HEALTH = {"resources": {"health": {"config": {"failed_record_max_age_hours": 0}}}}


def _metadata(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == key:
            return materialization.metadata
    raise AssertionError(f"{key} was not materialized")


def _check(result, key: str, name: str):
    found = [c for c in result.get_asset_check_evaluations()
             if c.asset_key.to_user_string() == key and c.check_name == name]
    assert len(found) == 1, found
    return found[0]


def test_dagster_rejected_partner_is_reported_blocks_downstream_and_replays(dagster_world) -> None:
    rejected = dagster_world.data.partners[0]["name"]
    salesforce = dagster_world.cluster.apps["salesforce"]
    salesforce.faults = FaultConfig(invalid_values={"Name": [rejected]})

    result = dagster_world.run("incremental_sync_job", STRICT_HEALTH)

    partners = _metadata(result, "salesforce/partners")
    assert partners["failed"].value == 1
    rows = partners["failures"].value.records
    assert len(rows) == 1
    row = rows[0].data
    assert row["system"] == "salesforce" and row["entity"] == "partner"
    assert row["record"] == dagster_world.data.partners[0]["id"]
    assert row["error_code"] and row["message"]
    assert isinstance(row["failure_id"], int)
    check = _check(result, "salesforce/partners", "failed_records_fresh")
    assert not check.passed
    assert check.metadata["stale_failures"].value == 1
    counts = _check(result, "salesforce/partners", "partner_counts_agree")
    assert not counts.passed
    assert (counts.metadata["prm_count"].value, counts.metadata["remote_count"].value) == (
        len(dagster_world.data.partners), len(dagster_world.data.partners) - 1)
    # blocking: nothing downstream of salesforce/partners ran, other systems did
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "salesforce/deal_registrations" not in materialized
    assert "prm/attributions" not in materialized
    assert "hubspot/partners" in materialized
    assert not result.success

    salesforce.faults = FaultConfig()
    replay = dagster_world.run("replay_job", {"ops": {"replay_failures": {"config": {
        "ids": [row["failure_id"]]}}}})
    assert replay.success
    output = replay.output_for_node("replay_failures")
    assert [(i["id"], i["outcome"]) for i in output["items"]] == [(row["failure_id"], "synced")]
    with dagster_world.store() as store, store.session(readonly=True) as session:
        assert failures.count_open(session) == 0
    assert any(a.get("Name") == rejected for a in salesforce.all_records("Account"))
    # the replay refreshed the UI itself: the slice's open_failures check and prm/failed_records, no sync needed
    check_key = AssetCheckKey(AssetKey(["salesforce", "partners"]), "open_failures")
    latest = dagster_world.instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    assert latest.event.dagster_event.event_specific_data.passed  # it failed in the sync run above
    causes = dagster_world.instance.get_latest_materialization_event(AssetKey(["prm", "failed_records"]))
    assert causes.asset_materialization.metadata["open_failures"].value == 0
    # and the slice itself: the replay's run is its latest materialization, no longer `failed 1` and the old table
    refreshed = dagster_world.instance.get_latest_materialization_event(AssetKey(["salesforce", "partners"]))
    meta = refreshed.asset_materialization.metadata
    assert refreshed.asset_materialization.tags["prm_sync/trigger"] == "replay"
    assert meta["failed"].value == 0 and meta["updated"].value + meta["created"].value == 1
    assert meta["failures"].value.records == []

    again = dagster_world.defs.resolve_job_def("incremental_sync_job").execute_in_process(
        instance=dagster_world.instance, run_config=STRICT_HEALTH,
        asset_selection=[AssetKey(["prm", "mappings"]), AssetKey(["salesforce", "partners"])],
    )
    assert again.success
    assert _check(again, "salesforce/partners", "failed_records_fresh").passed
    assert _check(again, "salesforce/partners", "sync_fresh").passed

    # then the schedule stops: a day without a run, and health_job (which syncs nothing) turns the slices red
    with dagster_world.store() as store, store.session() as session:
        for row in session.scalars(select(SyncRunRow)):
            row.started_at -= timedelta(days=1)
            row.finished_at = row.finished_at and row.finished_at - timedelta(days=1)
    stopped = dagster_world.run("health_job")
    fresh = _check(stopped, "salesforce/partners", "sync_fresh")
    assert not fresh.passed and fresh.severity == AssetCheckSeverity.ERROR
    assert "is the schedule stopped or the Dagster daemon down?" in fresh.description
    healthy = _check(stopped, "prm/sync_health", "sync_healthy")
    assert not healthy.passed and healthy.severity == AssetCheckSeverity.ERROR and "salesforce/partner stale" in (
        healthy.description)


def test_dagster_replay_dry_run_writes_nothing(dagster_world) -> None:
    salesforce = dagster_world.cluster.apps["salesforce"]
    rejected = dagster_world.data.partners[1]["name"]
    salesforce.faults = FaultConfig(invalid_values={"Name": [rejected]})
    partners_only = [AssetKey(["prm", "mappings"]), AssetKey(["salesforce", "partners"])]
    synced = dagster_world.defs.resolve_job_def("incremental_sync_job").execute_in_process(
        instance=dagster_world.instance, asset_selection=partners_only, raise_on_error=False)
    assert _check(synced, "salesforce/partners", "failed_records_fresh").passed  # fresh failures have 24 h
    salesforce.faults = FaultConfig()
    before = len(salesforce.all_records("Account"))
    with dagster_world.store() as store, store.session(readonly=True) as session:
        open_before = failures.count_open(session, system="salesforce")
    assert open_before == 1
    result = dagster_world.run("replay_job", {"ops": {"replay_failures": {"config": {
        "system": "salesforce", "dry_run": True}}}})
    assert result.success
    items = result.output_for_node("replay_failures")["items"]
    assert len(items) == open_before
    assert {i["outcome"] for i in items} == {"would_sync"}
    assert len(salesforce.all_records("Account")) == before
    with dagster_world.store() as store, store.session(readonly=True) as session:
        assert failures.count_open(session, system="salesforce") == open_before


def test_dagster_replay_without_a_selection_fails_with_a_clear_message(dagster_world) -> None:
    result = dagster_world.run("replay_job")
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "needs a choice in ops.replay_failures.config" in failure.message  # launchpad terms, not CLI flags
