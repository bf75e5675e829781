"""Schedules from ``config.schedules``: cron expressions and timezone are configuration, not code.

All start STOPPED (Dagster's default): each one writes to the CRMs or the
ERP, so an operator turns them on in the UI (Automation) once the
connections are right.
"""

from __future__ import annotations

from dagster import ScheduleDefinition

from dagster_project.jobs import AnyJob
from prm_sync.config.settings import SchedulesConfig


def build_schedules(cfg: SchedulesConfig, jobs: dict[str, AnyJob]) -> list[ScheduleDefinition]:
    wanted = [
        ("full_sync_schedule", "full_sync_job", cfg.full_sync_cron, "Full sync: every slice re-read from the start."),
        ("incremental_sync_schedule", "incremental_sync_job", cfg.incremental_cron, "Incremental sync of every slice."),
        ("expiry_schedule", "expiry_job", cfg.expiry_cron, "Expire registrations and push the write-back."),
        ("reconcile_schedule", "reconcile_job", cfg.reconcile_cron, "Nightly reconcile report (no repair)."),
        ("retention_schedule", "retention_job", cfg.retention_cron, "Weekly: delete history past its retention."),
    ]
    return [
        ScheduleDefinition(name=name, job=jobs[job], cron_schedule=cron, execution_timezone=cfg.timezone,
                           description=description)
        for name, job, cron, description in wanted
    ]
