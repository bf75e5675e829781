"""Build the whole Dagster code location from one prm-sync configuration file.

``build_definitions`` reads the config (and the sandbox state file, if any)
exactly as the CLI does, and only that: no secret is resolved, no mapping is
compiled and nothing is contacted, so the code location loads even when a
token is missing or a mapping is broken. Those problems surface in the run
that needs them, as a clear ``Failure`` or a failed ``mappings_valid`` check.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, multiprocess_executor

from dagster_project.assets import build_slice_asset, mappings_asset, slice_freshness
from dagster_project.catalog import enabled_slices, keys_for
from dagster_project.checks import build_checks
from dagster_project.derived import build_attributions_asset, build_payouts_asset
from dagster_project.health_assets import build_health_assets, build_health_job, build_health_schedule
from dagster_project.jobs import build_asset_jobs, build_op_jobs
from dagster_project.notifications import (
    failed_records_notification_job,
    protection_expiry_notification_job,
    run_failure_notification_job,
)
from dagster_project.resources import resources_from_config
from dagster_project.schedules import build_schedules
from dagster_project.sensors import (
    build_inbox_sensor,
    build_protection_expiry_sensor,
    build_run_failure_sensor,
    failed_records_sensor,
    webhook_senders_configured,
)
from prm_sync.config import SANDBOX_STATE_ENV, default_config_path, load_config


def build_definitions(config_path: Path | None = None, sandbox_state: Path | None = None) -> Definitions:
    """Definitions for ``config_path`` (default ``PRM_SYNC_CONFIG`` or ``config/prm_sync.yaml``)."""
    config_path = config_path or default_config_path()
    if sandbox_state is None and os.environ.get(SANDBOX_STATE_ENV):
        sandbox_state = Path(os.environ[SANDBOX_STATE_ENV])
    config = load_config(config_path, sandbox_state=sandbox_state)
    systems = config.systems.enabled()

    present = enabled_slices(systems)
    freshness = slice_freshness(config.schedules, config.health.stale_after_minutes)
    slice_assets = [build_slice_asset(item, present, freshness) for item in present]
    attributions = build_attributions_asset(keys_for(present, "opportunity") + keys_for(present, "deal_registration"))
    payouts = build_payouts_asset(keys_for(present, "invoice") + keys_for(present, "payment"))

    asset_jobs = build_asset_jobs()
    op_jobs = build_op_jobs(systems)
    health_job = build_health_job(present)
    jobs = {j.name: j for j in [*asset_jobs, *op_jobs, health_job]}
    monitored = [jobs[n] for n in ("full_sync_job", "incremental_sync_job", "targeted_sync_job", "replay_job",
                                   "reconcile_job", "expiry_job")]
    sensors = [
        failed_records_sensor,
        build_run_failure_sensor(monitored),
        build_inbox_sensor(jobs["targeted_sync_job"], running=webhook_senders_configured(config)),
        build_protection_expiry_sensor(config.rules.protection.warn_days_before_expiry),
    ]
    return Definitions(
        assets=[mappings_asset, *slice_assets, attributions, payouts, *build_health_assets(present)],
        asset_checks=build_checks(present),
        jobs=[*jobs.values(), failed_records_notification_job, protection_expiry_notification_job,
              run_failure_notification_job],
        schedules=[*build_schedules(config.schedules, jobs), build_health_schedule(health_job, config.schedules.timezone)],
        sensors=sensors,
        resources=resources_from_config(config, config_path=config_path, sandbox_state=sandbox_state),
        # steps in processes of their own: the Salesforce and HubSpot slices go at the same time (each takes
        # only its slice's lock), asset dependencies keep partners before registrations before the write-back,
        # and each API's pool (`salesforce_api`, `hubspot_api`...) caps the steps calling it at once
        executor=multiprocess_executor,
    )
