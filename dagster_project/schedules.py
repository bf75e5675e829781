"""Schedules from ``config.schedules``: cron expressions and timezone are configuration, not code.

The list is ``prm_sync.health.schedule.SCHEDULES``, which ``prm-sync status``
reads too. All start STOPPED (Dagster's default): each one writes to the CRMs
or the ERP, so an operator turns them on in the UI (Automation) once the
connections are right. (``health_schedule``, read-only, is defined with the
health assets and starts running.)
"""

from __future__ import annotations

from dagster import ScheduleDefinition

from dagster_project.jobs import AnyJob
from prm_sync.config.settings import SchedulesConfig
from prm_sync.health.schedule import SCHEDULES, cron_of


def build_schedules(cfg: SchedulesConfig, jobs: dict[str, AnyJob]) -> list[ScheduleDefinition]:
    return [
        ScheduleDefinition(name=s.name, job=jobs[s.job], cron_schedule=cron_of(cfg, s), execution_timezone=cfg.timezone,
                           description=s.description)
        for s in SCHEDULES
    ]
