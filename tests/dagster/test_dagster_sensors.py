"""Sensors yield the right run requests, and the notification runs they ask for succeed."""

from __future__ import annotations

from datetime import timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorResult, SkipReason, build_run_status_sensor_context

from prm_sync.model import DealRegistration, utcnow
from prm_sync.store import failures, records


def _fail(store, key: str, *, code: str = "FIELD_INVALID") -> int:
    with store.session() as session:
        return failures.record_failure(session, system="salesforce", remote_object="Account", entity="partner",
                                       record_key=key, operation="upsert", error_code=code,
                                       error_message=f"{key} was rejected").id


def test_dagster_sensor_default_states_follow_what_their_runs_can_do(dagster_world) -> None:
    statuses = {s.name: s.default_status for s in dagster_world.defs.get_repository_def().sensor_defs}
    assert statuses == {
        "failed_records_sensor": DefaultSensorStatus.RUNNING,
        "sync_run_failure_sensor": DefaultSensorStatus.RUNNING,
        "protection_expiry_sensor": DefaultSensorStatus.RUNNING,
        "inbox_sensor": DefaultSensorStatus.STOPPED,
    }


def test_dagster_inbox_sensor_runs_by_default_once_a_webhook_sender_is_configured(dagster_world, monkeypatch) -> None:
    from dagster_project.project import build_definitions
    from prm_sync.config import load_config

    secret_env = load_config(dagster_world.config_path).webhooks.hubspot.client_secret_env
    monkeypatch.setenv(secret_env, "hs-client-secret-for-the-receiver")
    defs = build_definitions(dagster_world.config_path, dagster_world.state_file)
    inbox = next(s for s in defs.get_repository_def().sensor_defs if s.name == "inbox_sensor")
    assert inbox.default_status == DefaultSensorStatus.RUNNING
    assert "a webhook sender is configured" in (inbox.description or "")


def test_dagster_failed_records_sensor_requests_a_notification_once_per_new_failure(dagster_world) -> None:
    sensor = dagster_world.defs.resolve_sensor_def("failed_records_sensor")
    assert isinstance(sensor(dagster_world.sensor_context("failed_records_sensor")), SkipReason)

    with dagster_world.store() as store:
        first = [_fail(store, "ptn_a"), _fail(store, "ptn_b")]
    result = sensor(dagster_world.sensor_context("failed_records_sensor"))
    assert isinstance(result, SensorResult)
    [request] = result.run_requests
    assert request.run_config["ops"]["notify_failed_records"]["config"]["failure_ids"] == first

    # the cursor remembers them; a failure seen again (more attempts) is not new, a new one is
    with dagster_world.store() as store:
        _fail(store, "ptn_a")
        assert isinstance(sensor(dagster_world.sensor_context("failed_records_sensor", result.cursor)), SkipReason)
        newer = _fail(store, "ptn_c", code="DUPLICATE_VALUE")
    again = sensor(dagster_world.sensor_context("failed_records_sensor", result.cursor))
    assert [r.run_config["ops"]["notify_failed_records"]["config"]["failure_ids"] for r in again.run_requests] == [[newer]]
    assert again.run_requests[0].run_key != request.run_key

    notified = dagster_world.run("failed_records_notification_job", request.run_config)
    assert notified.success
    output = next(e for e in notified.all_node_events if e.event_type_value == "STEP_OUTPUT").event_specific_data
    assert [r.data["record"] for r in output.metadata["failures"].value.records] == ["ptn_a", "ptn_b"]


def test_dagster_protection_expiry_sensor_lists_registrations_inside_the_warning_window(dagster_world) -> None:
    soon, later = dagster_world.data.registrations[0]["id"], dagster_world.data.registrations[1]["id"]
    with dagster_world.store() as store, store.session() as session:
        for reg_id, days in ((soon, 4), (later, 40)):  # the config warns 10 days ahead
            reg = records.get_record(session, DealRegistration.entity, reg_id)
            reg.status, reg.approved_at, reg.expires_at = "approved", utcnow() - timedelta(days=80), utcnow() + timedelta(days=days)
            records.save_record(session, reg)
    sensor = dagster_world.defs.resolve_sensor_def("protection_expiry_sensor")

    request = sensor(dagster_world.sensor_context("protection_expiry_sensor"))

    assert isinstance(request, RunRequest)
    config = request.run_config["ops"]["notify_expiring_registrations"]["config"]
    with dagster_world.store() as store, store.session(readonly=True) as session:
        # the seeded world may hold other approved registrations inside the window: all of them, and only them
        expected = sorted(
            r.id for r in records.list_records(session, DealRegistration.entity)
            if r.status == "approved" and r.expires_at and utcnow() <= r.expires_at <= utcnow() + timedelta(days=10)
        )
    assert soon in expected and later not in expected
    assert config["warn_days"] == 10
    assert sorted(config["registration_ids"]) == expected
    assert request.run_key.startswith(f"protection-expiry-{utcnow().date().isoformat()}-")
    notified = dagster_world.run("protection_expiry_notification_job", request.run_config)
    assert notified.success


def test_dagster_run_failure_sensor_requests_a_notification_for_a_failed_sync_run(dagster_world) -> None:
    failed = dagster_world.run("replay_job")  # no selection: fails with a UsageError
    assert not failed.success
    context = build_run_status_sensor_context(
        sensor_name="sync_run_failure_sensor", dagster_event=failed.get_run_failure_event(),
        dagster_instance=dagster_world.instance, dagster_run=failed.dagster_run,
    )
    sensor = dagster_world.defs.resolve_sensor_def("sync_run_failure_sensor")

    request = sensor(context)

    assert isinstance(request, RunRequest)
    config = request.run_config["ops"]["notify_run_failure"]["config"]
    assert config["failed_run_id"] == failed.run_id
    assert config["job_name"] == "replay_job"
    assert request.run_key == f"run-failure-{failed.run_id}"
    assert dagster_world.run("run_failure_notification_job", request.run_config).success
