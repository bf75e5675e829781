"""CLI runs in the Dagster UI: the observer ``prm-sync`` reports to when ``DAGSTER_HOME`` is set.

Registered under the ``prm_sync.observers`` entry point (pyproject). After a
CLI sync it records a runless materialization of each slice it ran (so the
catalog no longer says "Never materialized" after the demo synced twice);
after a sync, replay, fix or discard it re-evaluates the affected slices'
health checks and refreshes ``prm/sync_health`` and ``prm/failed_records``,
the same metadata the assets produce in a run (``dagster_project.health``).
It also tells ``prm-sync status`` whether Dagster's schedules are on and its
daemon is alive.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import AssetMaterialization, AssetObservation, DagsterInstance, MetadataValue

from dagster_project.catalog import FAILURES_KEY, HEALTH_KEY, SliceAsset, enabled_slices, slice_for
from dagster_project.health import (
    failures_metadata,
    health_metadata,
    health_outcome,
    slice_outcomes,
    slice_state,
)
from dagster_project.health_assets import health_report
from dagster_project.metadata import failure_rows, failures_table, merged_stats, slice_metadata
from dagster_project.runtime import DEFAULT_LOCATION
from prm_sync.config import AppConfig
from prm_sync.health.failures import open_failure_groups
from prm_sync.health.observers import HealthChange, OrchestratorStatus, ScheduleState
from prm_sync.health.schedule import SCHEDULES, cron_of
from prm_sync.model import utcnow
from prm_sync.store.db import Store
from prm_sync.store.failures import FailedRecord, list_failures
from prm_sync.store.runs import get_run
from prm_sync.sync.stats import RunReport, SliceStats

LOCATION_ENV = "PRM_SYNC_DAGSTER_LOCATION"  # the code location's name, for links (default: pyproject's)
DAEMON_STALE = timedelta(minutes=2)  # Dagster calls a daemon unhealthy when its heartbeat is this old
REVIEW_MAX_AGE = timedelta(days=7)  # the health resource's defaults: a runless check has no run config
FAILURE_MAX_AGE = timedelta(hours=24)


def _location() -> str:
    return os.environ.get(LOCATION_ENV, "").strip() or DEFAULT_LOCATION


def _tag_value(text: str) -> str:
    """Asset event tags allow letters, digits, ``_-.`` and 63 characters (``cli:jane`` becomes ``cli-jane``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]


def _recorded_runs(store: Store, run_ids: list[str]) -> list[RunReport]:
    """The runs a change made, as their reports, from the store's run log."""
    found: list[RunReport] = []
    with store.session(readonly=True) as session:
        for run_id in run_ids:
            run = get_run(session, run_id)
            if run is None or run.status == "running":
                continue
            found.append(RunReport(
                run_id=run.id, status=run.status, started_at=run.started_at, finished_at=run.finished_at,
                mapping_version=run.mapping_version or "", error=run.error,
                slices=[SliceStats.model_validate(s) for s in run.stats.get("slices") or []],
                rule_decisions=run.stats.get("rule_decisions") or {},
            ))
    return found


def _open_failures(store: Store, item: SliceAsset) -> list[FailedRecord]:
    with store.session(readonly=True) as session:
        found = list_failures(session, status="open", system=item.system, remote_object=item.remote_object)
    return [f for f in found if f.entity in (None, item.entity)]


def health_events(config: AppConfig, store: Store, change: HealthChange, location: str | None = None) -> list[Any]:
    """The runless events that bring the Dagster UI up to date with ``change``.

    Each slice a recorded run covered gets a materialization with that run's
    numbers and the slice's open failures now; a change to failures alone
    (fix, discard) an observation with the open failures. Every affected
    slice's health checks are evaluated again, and ``prm/sync_health`` and
    ``prm/failed_records`` are refreshed.
    """
    location = location or _location()
    now = utcnow()
    present = enabled_slices(config.systems.enabled())
    affected = [item for system, entity in change.slices if (item := slice_for(system, entity)) in present]
    base_tags = {"prm_sync/trigger": "cli" if change.kind == "run" else change.kind,
                 "prm_sync/actor": _tag_value(change.actor)}
    events: list[Any] = []
    for report in _recorded_runs(store, change.run_ids):
        tags = {**base_tags, "prm_sync/run_id": report.run_id, "prm_sync/status": report.status}
        for item in present:
            if not any(s.system == item.system and s.entity == item.entity for s in report.slices):
                continue
            stats = merged_stats(report, item.system, item.entity, item.remote_object)
            events.append(AssetMaterialization(asset_key=item.key, tags=tags,
                                               metadata=slice_metadata(stats, report, _open_failures(store, item))))
    if not change.run_ids:
        for item in affected:
            found = _open_failures(store, item)
            events.append(AssetObservation(asset_key=item.key, tags=base_tags, metadata={
                "open_failures": MetadataValue.int(len(found)), "failures": failures_table(failure_rows(found, []))}))
    for item in affected:
        state = slice_state(store, config, item, now)
        events.extend(o.evaluation() for o in slice_outcomes(item, state, now=now, max_failure_age=FAILURE_MAX_AGE,
                                                            max_review_age=REVIEW_MAX_AGE, location=location))
    report, recent = health_report(store, config, present)
    events.append(AssetMaterialization(asset_key=HEALTH_KEY, metadata=health_metadata(report, recent), tags=base_tags))
    events.append(health_outcome(report).evaluation())
    found, groups = open_failure_groups(store, config, None)
    events.append(AssetMaterialization(asset_key=FAILURES_KEY, metadata=failures_metadata(found, groups, location),
                                       tags=base_tags))
    return events


def record_events(instance: DagsterInstance, events: list[Any]) -> None:
    for event in events:
        instance.report_runless_asset_event(event)


class DagsterObserver:
    """Reports to the Dagster instance in ``DAGSTER_HOME`` (the one ``dagster dev`` and the daemon use)."""

    name = "Dagster"

    def available(self) -> bool:
        return bool(os.environ.get("DAGSTER_HOME", "").strip())

    def report(self, config: AppConfig, store: Store, change: HealthChange) -> str:
        events = health_events(config, store, change)
        with DagsterInstance.get() as instance:
            record_events(instance, events)
        materialized = sum(1 for e in events if isinstance(e, AssetMaterialization))
        return (f"reported to Dagster at {os.environ['DAGSTER_HOME']}: {materialized} materializations, "
                f"{len(events) - materialized} check results")

    def status(self, config: AppConfig) -> OrchestratorStatus:
        from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

        home = os.environ["DAGSTER_HOME"]
        found = OrchestratorStatus(name=self.name, where=home)
        with DagsterInstance.get() as instance:
            states = {s.name: s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)}
            beats = instance.get_daemon_heartbeats()
        for schedule in SCHEDULES:
            state = states.get(schedule.name)  # none stored: never turned on, and the sync schedules start stopped
            running = state is not None and state.status in (InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE)
            found.schedules.append(ScheduleState(name=schedule.name, job=schedule.job, timezone=config.schedules.timezone,
                                                 cron=cron_of(config.schedules, schedule), running=running))
        if beats:
            latest = max(datetime.fromtimestamp(b.timestamp, UTC) for b in beats.values())
            found.daemon_heartbeat = latest
            found.daemon_alive = utcnow() - latest < DAEMON_STALE
        else:
            found.daemon_alive = False
            found.problems.append("the Dagster daemon has never run against this instance")
        return found

