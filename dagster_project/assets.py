"""Sync assets: one per (system, entity) slice, each materialization one engine run for that slice.

``salesforce/partners`` runs ``SyncEngine.run(SyncScope(systems=["salesforce"],
entities=["partner"]))``: pull, channel rules, push, recorded in the store's run
log like any CLI run. The asset only translates the ``RunReport`` into
metadata; what to read, write, retry or dead-letter is the engine's business.
Each slice sits in its system's concurrency pool (``salesforce_api``...), so
limiting a pool to 1 keeps concurrent runs within that API's rate limit.
``prm/mappings`` is the root: its blocking ``mappings_valid`` check stops every
sync in the run when a mapping file is broken.
"""


from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.catalog import MAPPINGS_KEY, SliceAsset, slice_deps
from dagster_project.metadata import merged_stats, slice_metadata, table
from dagster_project.runtime import MODE_TAG, open_runtime, run_sync, tag_run
from prm_sync.config.settings import SchedulesConfig
from prm_sync.health.schedule import freshness_window
from prm_sync.store.db import Store
from prm_sync.store.failures import FailedRecord, list_failures
from prm_sync.sync.engine import SyncScope

CORE_RESOURCES = {"prm_config", "prm_store", "mappings"}


def open_slice_failures(store: Store, item: SliceAsset, remote_object: str | None = None) -> list[FailedRecord]:
    """The slice's open failed records now (this run's and older ones), with the ids replay_job takes."""
    with store.session(readonly=True) as session:
        found = list_failures(session, status="open", system=item.system, remote_object=remote_object or item.remote_object)
    return [f for f in found if f.entity in (None, item.entity)]


def slice_freshness(schedules: SchedulesConfig, stale_after_minutes: int | None) -> FreshnessPolicy:
    """Dagster's own freshness policy for the slices, from the same window ``prm-sync status`` uses.

    Evaluated by Dagster's freshness daemon (``freshness: {enabled: true}`` in
    dagster.yaml); warns after one missed sync, fails after two.
    """
    now = datetime.now(UTC)
    fail = freshness_window(schedules, now, stale_after_minutes)
    return FreshnessPolicy.time_window(fail_window=fail, warn_window=fail / 2)


def build_slice_asset(item: SliceAsset, present: list[SliceAsset], freshness: FreshnessPolicy | None = None) -> AssetsDefinition:
    """The asset for one slice; ``present`` is every slice defined, for the dependencies."""

    @asset(
        freshness_policy=freshness,
        key=item.key,
        group_name=item.system,
        deps=slice_deps(item, present),
        pool=item.pool,
        kinds={item.system},
        description=f"{item.description} Each materialization syncs {item.system}/{item.entity} "
        f"({item.remote_object}); full_sync_job runs re-read from the start.",
        required_resource_keys={*CORE_RESOURCES, item.system},
        metadata={"system": item.system, "entity": item.entity, "remote_object": item.remote_object},
    )
    def _sync_slice(context: AssetExecutionContext) -> MaterializeResult:
        tags = dict(context.run.tags)
        scope = SyncScope(systems=[item.system], entities=[item.entity], full=tags.get(MODE_TAG) == "full")
        with open_runtime(context.resources, [item.system]) as runtime:
            report = run_sync(runtime, scope, tags=tags, systems=[item.system])
            stats = merged_stats(report, item.system, item.entity, item.remote_object)
            failures = open_slice_failures(runtime.store, item, stats.remote_object)
            tag_run(context, runtime.store, failed=stats.failed, status=report.status)
        metadata = slice_metadata(stats, report, failures)
        line = (f"{item.system}/{item.entity}: read {stats.read}, created {stats.created}, updated {stats.updated}, "
                f"failed {stats.failed}, {stats.api_calls} API calls (prm run {report.run_id}: {report.status})")
        if stats.failed:  # refused records are the operator's business: never an INFO line
            context.log.warning(f"{line}; see the `failures` table, then replay_job")
        else:
            context.log.info(line)
        if stats.stopped_reason:
            raise Failure(description=f"{item.system}/{item.entity} stopped early: {stats.stopped_reason}",
                          metadata=metadata)
        if report.status == "failed":
            raise Failure(description=f"{item.system}/{item.entity}: {report.error}", metadata=metadata)
        return MaterializeResult(metadata=metadata)

    return _sync_slice


@asset(
    key=MAPPINGS_KEY,
    group_name="prm",
    kinds={"yaml"},
    description="The mapping files as read for this run: version, objects, and every problem found. "
    "Its blocking check `mappings_valid` stops all syncs downstream when a file is broken.",
    required_resource_keys={"mappings"},
)
def mappings_asset(context: AssetExecutionContext) -> MaterializeResult:
    resource = context.resources.mappings
    problems = resource.problems()
    metadata: dict[str, object] = {"paths": MetadataValue.json(list(resource.paths)),
                                   "problems": MetadataValue.int(len(problems))}
    if problems:
        metadata["problem_list"] = table([p.as_dict() for p in problems],
                                         [("file", "string"), ("line", "int"), ("message", "string"), ("hint", "string")])
        context.log.warning(f"{len(problems)} mapping problems; syncs are blocked until they are fixed")
        return MaterializeResult(metadata=metadata)
    mappings = resource.load()
    rows = [{"system": m.system, "entity": m.entity, "remote_object": m.remote_object} for m in mappings]
    metadata["mapping_version"] = MetadataValue.text(mappings.version)
    metadata["objects"] = table(rows, [("system", "string"), ("entity", "string"), ("remote_object", "string")])
    return MaterializeResult(metadata=metadata)
