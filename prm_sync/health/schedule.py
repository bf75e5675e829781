"""The configured schedules (``schedules:`` in the config) and when they fire next.

One list names them for Dagster (``dagster_project.schedules``) and for
``prm-sync status``; the cron arithmetic is cronsim's (time zones and
daylight saving included), so the engine needs no orchestrator to say when
the next run is due or how long a healthy slice may go without one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from cronsim import CronSim

from prm_sync.config.settings import SchedulesConfig


class Schedule(NamedTuple):
    name: str  # the Dagster schedule's name
    job: str  # the job it starts
    cron_field: str  # its field in ``SchedulesConfig``
    description: str
    syncs: bool  # it keeps the slices fresh (full or incremental sync)


SCHEDULES = (
    Schedule("full_sync_schedule", "full_sync_job", "full_sync_cron", "Full sync: every slice re-read from the start.", True),
    Schedule("incremental_sync_schedule", "incremental_sync_job", "incremental_cron", "Incremental sync of every slice.", True),
    Schedule("expiry_schedule", "expiry_job", "expiry_cron", "Expire registrations and push the write-back.", False),
    Schedule("reconcile_schedule", "reconcile_job", "reconcile_cron", "Nightly reconcile report (no repair).", False),
    Schedule("retention_schedule", "retention_job", "retention_cron", "Weekly: delete history past its retention.", False),
)
LOOKAHEAD = timedelta(days=8)  # a week of ticks shows a cron's longest gap (weekdays-only, weekly)


def cron_of(cfg: SchedulesConfig, schedule: Schedule) -> str:
    return str(getattr(cfg, schedule.cron_field))


def next_ticks(cron: str, timezone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` times ``cron`` fires after ``after``, in ``timezone``."""
    ticks = CronSim(cron, after.astimezone(ZoneInfo(timezone)))
    return [next(ticks) for _ in range(count)]


def longest_gap(cron: str, timezone: str, now: datetime) -> timedelta:
    """The longest time between two ticks in the coming week: how long a healthy schedule may be silent."""
    ticks = CronSim(cron, now.astimezone(ZoneInfo(timezone)))
    previous = next(ticks)
    gap = timedelta(0)
    while previous - now < LOOKAHEAD:
        tick = next(ticks)
        gap = max(gap, tick - previous)
        previous = tick
    return gap


def freshness_window(cfg: SchedulesConfig, now: datetime, override_minutes: int | None = None) -> timedelta:
    """How old a slice's last good run may be before it counts as stale.

    Twice the longest gap of the most frequent sync schedule, plus 10
    minutes for the run itself: one missed tick is tolerated, two are a
    stopped schedule or a dead daemon.
    """
    if override_minutes is not None:
        return timedelta(minutes=override_minutes)
    gaps = [longest_gap(cron_of(cfg, s), cfg.timezone, now) for s in SCHEDULES if s.syncs]
    return 2 * min(gaps) + timedelta(minutes=10)
