"""The code location loads from configuration alone: no secret, no network, no compiled mapping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions, EnvVar, build_sensor_context

from dagster_project.catalog import SLICES
from dagster_project.project import build_definitions
from prm_sync.mapping.apply import load_mappings

REPO = Path(__file__).resolve().parents[2]
REAL_CONFIG = REPO / "config" / "prm_sync.yaml"
SECRETS = ("SALESFORCE_ACCESS_TOKEN", "HUBSPOT_ACCESS_TOKEN", "LMS_ACCESS_TOKEN", "ERP_API_KEY")
EXPECTED_ASSETS = {
    "prm/mappings", "prm/attributions", "prm/payouts", "prm/sync_health", "prm/failed_records",
    "salesforce/partners", "salesforce/partner_contacts", "salesforce/end_customers",
    "salesforce/deal_registrations", "salesforce/opportunities",
    "hubspot/partners", "hubspot/partner_contacts", "hubspot/end_customers", "hubspot/deal_registrations",
    "hubspot/deals", "lms/course_completions", "erp/partners", "erp/invoices", "erp/payments", "erp/payouts",
}
JOBS = {"full_sync_job", "incremental_sync_job", "targeted_sync_job", "reconcile_job", "expiry_job", "replay_job",
        "mapping_plan_job", "retention_job", "failed_records_notification_job", "protection_expiry_notification_job",
        "run_failure_notification_job"}


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PRM_SYNC_SANDBOX_STATE", raising=False)
    monkeypatch.delenv("PRM_SYNC_CONFIG", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))


def _deps(defs: Definitions, key: str) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in graph.get(AssetKey(key.split("/"))).parent_keys}


def test_dagster_definitions_load_from_the_real_config_without_secrets(no_secrets: None) -> None:
    defs = build_definitions(REAL_CONFIG)
    Definitions.validate_loadable(defs)

    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == EXPECTED_ASSETS
    assert {j.name for j in defs.resolve_all_job_defs()} >= JOBS
    graph = defs.resolve_asset_graph()
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert specs["salesforce/partners"].group_name == "salesforce"
    assert specs["erp/payouts"].group_name == "erp"
    assert graph.get(AssetKey(["hubspot", "deals"])).pools == {"hubspot_api"}
    # Dagster's own freshness: fail after the window `prm-sync status` uses (hourly sync: 2 x 60 + 10 min)
    policy = specs["salesforce/partners"].freshness_policy
    assert policy is not None and policy.fail_window.to_timedelta() == timedelta(minutes=130)
    assert policy.warn_window.to_timedelta() == timedelta(minutes=65)
    assert {"salesforce/partners", "salesforce/end_customers", "lms/course_completions", "prm/mappings"} <= _deps(
        defs, "salesforce/deal_registrations")
    assert _deps(defs, "prm/attributions") >= {"salesforce/opportunities", "hubspot/deals"}
    assert _deps(defs, "prm/payouts") >= {"prm/attributions", "erp/invoices", "erp/payments"}
    assert _deps(defs, "erp/payouts") >= {"prm/payouts", "erp/partners"}
    salesforce = defs.resources["salesforce"]  # JWT bearer: names of env vars only, no secret, no token yet
    assert salesforce.access_token is None and salesforce.auth["method"] == "jwt_bearer"
    assert salesforce.auth["consumer_key_env"] == "SALESFORCE_CONSUMER_KEY"
    lms_key = defs.resources["lms"].key
    assert isinstance(lms_key, EnvVar) and lms_key.env_var_name == "LMS_KEY"
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in defs.get_repository_def().schedule_defs}
    assert schedules == {
        "full_sync_schedule": ("0 2 * * *", "UTC"),
        "incremental_sync_schedule": ("0 * * * *", "UTC"),
        "expiry_schedule": ("15 0 * * *", "UTC"),
        "reconcile_schedule": ("30 3 * * *", "UTC"),
        "retention_schedule": ("45 4 * * 0", "UTC"),
        "health_schedule": ("*/15 * * * *", "UTC"),
    }


def test_dagster_catalog_covers_exactly_the_shipped_mapping_slices() -> None:
    mappings = load_mappings([REPO / "mappings"])
    assert {(s.system, s.entity, s.remote_object) for s in SLICES} == {
        (m.system, m.entity, m.remote_object) for m in mappings
    }


def test_dagster_config_decides_systems_schedules_and_sandbox_urls(no_secrets: None, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "two_crms.yaml"
    config.write_text(f"""\
version: 1
data_dir: {tmp_path / "data"}
mappings: [{REPO / "mappings"}]
systems:
  salesforce: {{instance_url: "https://sandbox.invalid", access_token_env: T_SF}}
  hubspot: {{base_url: "https://sandbox.invalid", access_token_env: T_HS}}
schedules: {{timezone: Europe/Berlin, incremental_cron: "5 * * * *"}}
""")
    state = tmp_path / "sandbox.json"
    state.write_text(json.dumps({"systems": {
        "salesforce": {"instance_url": "https://127.0.0.1:1234", "ca_bundle": "/tmp/ca.pem", "access_token": "sbx-1"},
        "hubspot": {"base_url": "http://127.0.0.1:2345", "access_token": "sbx-2"},
    }}))
    monkeypatch.setenv("T_SF", "")  # the loader exports the sandbox tokens; restore them afterwards
    monkeypatch.setenv("T_HS", "")

    defs = build_definitions(config, state)

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert not any(k.startswith(("lms/", "erp/")) for k in keys)
    assert _deps(defs, "salesforce/deal_registrations") == {"prm/mappings", "salesforce/partners",
                                                            "salesforce/end_customers"}
    assert defs.resources["salesforce"].instance_url == "https://127.0.0.1:1234"
    assert defs.resources["salesforce"].ca_bundle == "/tmp/ca.pem"
    assert defs.resources["hubspot"].base_url == "http://127.0.0.1:2345"
    assert defs.resources["prm_config"].sandbox_state == str(state.resolve())
    schedule = defs.resolve_schedule_def("incremental_sync_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("5 * * * *", "Europe/Berlin")
    # a sensor ticking before the first sync waits; it never creates the store
    for name in ("failed_records_sensor", "protection_expiry_sensor", "inbox_sensor"):
        context = build_sensor_context(sensor_name=name, resources=dict(defs.resources))
        assert "no PRM store yet" in defs.resolve_sensor_def(name)(context).skip_message
    assert not (tmp_path / "data").exists()


def test_dagster_definitions_validate_cli_accepts_the_code_location(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "PRM_SYNC_SANDBOX_STATE"}
    env.update(DAGSTER_HOME=str(tmp_path), PRM_SYNC_CONFIG=str(REAL_CONFIG))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "dagster_project.definitions"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr
