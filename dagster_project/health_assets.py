"""``prm/sync_health`` (the health view) and ``prm/failed_records`` (open failures by cause), and ``health_job``.

Both assets sit downstream of every slice, so each full or incremental sync
refreshes them at its end; ``health_job`` refreshes them and every slice's
health checks without syncing anything (its schedule is on by default: it
only reads the store). A CLI run, replay, fix or discard refreshes them too,
as runless events (``dagster_project.reporting``).
"""


from dagster import (
    AssetCheckKey,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dagster_project.catalog import FAILURES_KEY, HEALTH_KEY, SliceAsset
from dagster_project.health import SLICE_CHECKS, failures_metadata, health_metadata, health_outcome
from dagster_project.runtime import friendly_errors, location_of
from prm_sync.config import AppConfig
from prm_sync.health.failures import open_failure_groups
from prm_sync.health.summary import HealthReport, build_health
from prm_sync.store import runs
from prm_sync.store.db import Store

RECENT_RUNS = 20
HEALTH_CRON = "*/15 * * * *"


def health_report(store: Store, config: AppConfig, present: list[SliceAsset]) -> tuple[HealthReport, list[runs.SyncRun]]:
    with store.session(readonly=True) as session:
        report = build_health(session, config, [(s.system, s.entity, s.remote_object) for s in present])
        recent = runs.list_runs(session, limit=RECENT_RUNS)
    return report, recent


def build_health_assets(present: list[SliceAsset]) -> list[AssetsDefinition]:
    deps = [s.key for s in present]

    @asset(
        key=HEALTH_KEY,
        group_name="prm",
        deps=deps,
        kinds={"python"},
        description="Sync health per system and entity: last good run and its age, records read and written, open "
        "failures by cause, API quota used, unmatched records. Runs from the prm-sync CLI count too. Its check "
        "`sync_healthy` is red when a slice is stale, never synced or failed, yellow when one has open failures.",
        required_resource_keys={"prm_store", "prm_config"},
        check_specs=[AssetCheckSpec("sync_healthy", asset=HEALTH_KEY,
                                    description="Every slice fresh, its last run good, no open failed records.")],
    )
    def sync_health(context: AssetExecutionContext) -> MaterializeResult:
        with friendly_errors():
            config = context.resources.prm_config.load()
            store = context.resources.prm_store.open()
        try:
            report, recent = health_report(store, config, present)
        finally:
            store.close()
        outcome = health_outcome(report)
        log = context.log.info if outcome.passed else context.log.warning
        log(f"sync health {report.status}: {outcome.description}")
        return MaterializeResult(metadata=health_metadata(report, recent), check_results=[outcome.result()])

    @asset(
        key=FAILURES_KEY,
        group_name="prm",
        deps=deps,
        kinds={"python"},
        description="Open failed records grouped by cause (system, object, error, field) with counts, first and "
        "last seen, an example with its CRM link, the fix, and a link that opens replay_job with them filled in.",
        required_resource_keys={"prm_store", "prm_config"},
    )
    def failed_records(context: AssetExecutionContext) -> MaterializeResult:
        with friendly_errors():
            config = context.resources.prm_config.load()
            store = context.resources.prm_store.open()
        try:
            found, groups = open_failure_groups(store, config, None)
        finally:
            store.close()
        if found:
            context.log.warning(f"{len(found)} open failed records in {len(groups)} causes")
        return MaterializeResult(metadata=failures_metadata(found, groups, location_of(context)))

    return [sync_health, failed_records]


def build_health_job(present: list[SliceAsset]) -> UnresolvedAssetJobDefinition:
    checks = [AssetCheckKey(item.key, name) for item in present for name in SLICE_CHECKS]
    return define_asset_job(
        "health_job", selection=AssetSelection.assets(HEALTH_KEY, FAILURES_KEY) | AssetSelection.checks(*checks),
        description="Refresh the health view, the failures by cause and every slice's health checks; syncs nothing.",
    )


def build_health_schedule(job: UnresolvedAssetJobDefinition, timezone: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="health_schedule", job=job, cron_schedule=HEALTH_CRON, execution_timezone=timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every 15 minutes: re-check every slice's freshness and failures (read-only, so on by default). "
        "A stopped sync schedule turns the slices red here.",
    )
