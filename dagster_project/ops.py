"""Operational jobs' ops: replay, reconcile, expiry, the mapping plan, inbox-targeted syncs, retention.

Each op opens a runtime from the resources and calls one prm-sync entry
point (``replay_failures``, ``run_reconcile``, ``expire_due``, ``plan_push``,
``SyncEngine.run``, ``prune_history``); the op only turns run config into arguments and the
result into metadata. Ops are built per set of enabled systems because a
resource that the config does not define cannot be required.
"""


import importlib
import importlib.util
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from dagster import Config, Failure, MetadataValue, OpDefinition, OpExecutionContext, Out, Output, op
from pydantic import Field, create_model

from dagster_project.catalog import CRMS, enabled_slices
from dagster_project.metadata import report_metadata, table
from dagster_project.plan import build_plan
from dagster_project.reporting import health_events, record_events
from dagster_project.runtime import friendly_errors, location_of, open_runtime, run_sync, tag_run
from prm_sync.errors import UsageError
from prm_sync.health.observers import HealthChange
from prm_sync.model import DealRegistration
from prm_sync.rules.lifecycle import expire_due
from prm_sync.store.records import get_record
from prm_sync.sync.engine import SyncScope

CORE = {"prm_config", "prm_store", "mappings"}


REPLAY_CONFIG_PATH = "ops.replay_failures.config"


class ReplayConfigBase(Config):
    """Which failed records to replay (launchpad): ids, or filters, or ``all``; ``dry_run`` previews."""

    ids: list[int] = Field(default_factory=list, description="failed-record ids (the failure_id column of "
                           "prm/failed_records or a slice's failures table)")
    error_code: str | None = Field(None, description="only failures with this error code")
    all: bool = Field(False, description="every open failure (narrowed by system, remote_object, error_code)")
    dry_run: bool = Field(False, description="show what would be replayed and whether the payload changed; write nothing")


def replay_config_class(systems: list[str]) -> type[ReplayConfigBase]:
    """The launchpad's schema for these systems: ``system`` and ``remote_object`` are enums of what exists.

    The launchpad validates a schema before it lets a run launch, so a typo in
    a system or object name is flagged there, in its own terms, not by a failed run.
    """
    system_enum = Enum("ReplaySystem", {s: s for s in systems}, type=str)  # type: ignore[misc]
    objects = sorted({s.remote_object for s in enabled_slices(systems)})
    object_enum = Enum("ReplayObject", {o: o for o in objects}, type=str)  # type: ignore[misc]
    return create_model(  # type: ignore[call-overload]
        "ReplayConfig", __base__=ReplayConfigBase,
        system=(system_enum | None, Field(None, description="only failures of this system")),
        remote_object=(object_enum | None, Field(None, description="only failures of this remote object")),
    )


def _value(field: Any) -> Any:
    return field.value if isinstance(field, Enum) else field


class ReconcileConfig(Config):
    systems: list[str] | None = Field(None, description="systems to compare (default: every enabled one)")
    repair: bool = Field(False, description="fix the differences found, not only report them")


class TargetedSyncConfig(Config):
    """A sync limited to given records (what the inbox sensor sends)."""

    record_ids: dict[str, list[str]] = Field(default_factory=dict, description="entity -> PRM ids to push")
    systems: list[str] = Field(default_factory=list, description="systems to sync (default: every enabled one)")
    event_ids: list[int] = Field(default_factory=list, description="inbox events this run answers (for tracing)")
    deletes_announced: list[list[str]] = Field(
        default_factory=list, description="[system, remote object] pairs a webhook announced a delete in: swept now")


def build_replay_op(systems: list[str]) -> OpDefinition:
    replay_config = replay_config_class(systems)

    @op(name="replay_failures", required_resource_keys={*CORE, *systems}, out=Out(dict),
        description="Replay failed records through the normal sync path (prm_sync.replay).")
    def replay_failures_op(context: OpExecutionContext, config: replay_config) -> Output[dict]:  # type: ignore[valid-type]
        from prm_sync.replay import ReplaySelection, replay_failures

        selection = ReplaySelection(ids=config.ids, system=_value(config.system),
                                    remote_object=_value(config.remote_object), error_code=config.error_code,
                                    all=config.all)
        if selection.is_empty():
            raise Failure(description=f"replay_job needs a choice in {REPLAY_CONFIG_PATH}: `ids` (from the failure_id "
                          "column of prm/failed_records), or `system` / `remote_object` / `error_code`, or `all: true`",
                          allow_retries=False)
        with open_runtime(context.resources, systems) as runtime, friendly_errors():
            try:
                report = replay_failures(runtime, selection, dry_run=config.dry_run, actor=f"dagster:{context.run_id}")
            except UsageError as exc:
                raise Failure(description=f"{REPLAY_CONFIG_PATH}: {exc}; pick ids from the failure_id column of "
                              "prm/failed_records", allow_retries=False) from None
            if not config.dry_run and report.items:
                # the replayed slices' checks, prm/sync_health and prm/failed_records show the outcome at once
                change = HealthChange(kind="replay", slices=sorted({(i.system, i.entity) for i in report.items if i.entity}),
                                      run_ids=report.run_ids, actor=report.actor)
                record_events(context.instance, health_events(runtime.config, runtime.store, change, location_of(context)))
            counts = report.counts()
            tag_run(context, runtime.store, failed=counts["failed_again"], status=report.status())
        rows = [item.model_dump(include={"id", "system", "remote_object", "record", "operation", "outcome",
                                         "attempts", "error_code", "error", "reason"}) for item in report.items]
        cols = [("id", "int"), ("system", "string"), ("remote_object", "string"), ("record", "string"),
                ("operation", "string"), ("outcome", "string"), ("attempts", "int"), ("error_code", "string"),
                ("error", "string"), ("reason", "string")]
        summary = f"replay{' (dry run)' if config.dry_run else ''}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        metadata = {
            **{k: MetadataValue.int(v) for k, v in counts.items()},
            "dry_run": MetadataValue.bool(config.dry_run),
            "items": table(rows, cols),
            "prm_run_ids": MetadataValue.json(report.run_ids),
        }
        if counts["failed_again"]:
            for item in report.items:
                if item.outcome == "failed_again":
                    context.log.warning(f"failed record {item.id} ({item.system} {item.remote_object} {item.record}) "
                                        f"failed again: {item.error_code}: {item.error}")
            # a replay whose records fail again did not do its job: the run must not show a green Success
            raise Failure(description=f"{counts['failed_again']} of {len(report.items)} replayed records failed "
                          "again; fix the cause (see the items table and the new errors), then replay again",
                          metadata=metadata)
        context.log.info(summary)
        return Output(report.model_dump(mode="json"), metadata=metadata)

    return replay_failures_op


def reconcile_available() -> bool:
    return importlib.util.find_spec("prm_sync.reconcile") is not None


def build_reconcile_op(systems: list[str]) -> OpDefinition:
    @op(name="reconcile", required_resource_keys={*CORE, *systems}, out=Out(dict),
        description="Compare the PRM store with every system and report (or repair) the differences.")
    def reconcile_op(context: OpExecutionContext, config: ReconcileConfig) -> Output[dict]:
        if not reconcile_available():
            raise Failure(description="reconcile is not installed: this prm-sync has no prm_sync.reconcile module; "
                          "upgrade prm-sync or turn the reconcile schedule off", allow_retries=False)
        run_reconcile = importlib.import_module("prm_sync.reconcile").run_reconcile
        with open_runtime(context.resources, systems) as runtime, friendly_errors():
            report = run_reconcile(runtime, systems=config.systems, repair=config.repair)
        dumped = report.model_dump(mode="json")
        return Output(dumped, metadata=reconcile_metadata(dumped, repair=config.repair))

    return reconcile_op


def reconcile_metadata(report: dict, *, repair: bool) -> dict[str, MetadataValue]:
    """The reconcile report as UI metadata: verdict, per-slice table, sample differences."""
    slice_cols = [("system", "string"), ("entity", "string"), ("remote_object", "string"), ("remote_rows", "int"),
                  ("prm_rows", "int"), ("linked", "int")]
    sample_cols = [("system", "string"), ("entity", "string"), ("kind", "string"), ("action", "string"),
                   ("record_id", "string"), ("remote_id", "string"), ("field", "string"), ("detail", "string")]
    clean = bool(report.get("clean"))
    summary = ("**clean**: the PRM store and the systems agree" if clean
               else f"**{report.get('issues', 0)} differences**: " + ", ".join(
                   f"{k} {v}" for k, v in sorted((report.get("counts") or {}).items())))
    return {
        "clean": MetadataValue.bool(clean),
        "issues": MetadataValue.int(int(report.get("issues") or 0)),
        "repair": MetadataValue.bool(repair),
        "summary": MetadataValue.md(summary),
        "slices": table(report.get("slices") or [], slice_cols),
        "samples": table(report.get("samples") or [], sample_cols),
        "api_calls": MetadataValue.json(report.get("api_calls") or {}),
    }


def build_expiry_ops(systems: list[str]) -> tuple[OpDefinition, OpDefinition]:
    crms = [s for s in systems if s in CRMS]

    @op(name="expire_registrations", required_resource_keys={"prm_store"}, out=Out(list),
        description="Expire approved registrations whose protection window ended (prm_sync.rules.lifecycle).")
    def expire_op(context: OpExecutionContext) -> Output[list]:
        now = datetime.now(UTC)
        with friendly_errors():
            store = context.resources.prm_store.open()
        try:
            with friendly_errors(), store.session() as session:
                expired = expire_due(session, now)
                regs = [get_record(session, DealRegistration.entity, rid) for rid in expired]
        finally:
            store.close()
        opps = sorted({r.opportunity_id for r in regs if isinstance(r, DealRegistration) and r.opportunity_id})
        rows = [{"registration": r.id, "partner": r.partner_id, "customer": r.customer_name,
                 "opportunity": r.opportunity_id or ""} for r in regs if isinstance(r, DealRegistration)]
        context.log.info(f"expired {len(expired)} registrations; {len(opps)} opportunities need the write-back")
        return Output(opps, metadata={"expired": MetadataValue.int(len(expired)),
                                      "registrations": table(rows)})

    @op(name="push_opportunity_write_back", required_resource_keys={*CORE, *crms},
        description="Push the cleared partner fields of those opportunities to the CRMs.")
    def write_back_op(context: OpExecutionContext, opportunity_ids: list) -> Output[None]:
        if not opportunity_ids or not crms:
            return Output(None, metadata={"pushed": MetadataValue.int(0)})
        scope = SyncScope(systems=crms, entities=["opportunity"], record_ids={"opportunity": set(opportunity_ids)})
        with open_runtime(context.resources, crms) as runtime:
            report = run_sync(runtime, scope, tags=dict(context.run.tags), systems=crms)
        return Output(None, metadata=report_metadata(report))

    return expire_op, write_back_op


def build_plan_op(systems: list[str]) -> OpDefinition:
    @op(name="plan_mapping_push", required_resource_keys=set(CORE), out=Out(dict),
        description="What every push slice would write under the current mappings (dry run, writes nothing).")
    def plan_op(context: OpExecutionContext) -> Output[dict]:
        with open_runtime(context.resources, []) as runtime, friendly_errors():
            plan = build_plan(runtime, systems)
        counts = [s.model_dump() for s in plan.slices]
        cols = [("system", "string"), ("entity", "string"), ("remote_object", "string"), ("create", "int"),
                ("update", "int"), ("unchanged", "int"), ("skipped", "int"), ("invalid", "int")]
        diffs = [d.model_dump() for d in plan.samples]
        diff_cols = [("system", "string"), ("entity", "string"), ("record", "string"), ("action", "string"),
                     ("field", "string"), ("before", "string"), ("after", "string")]
        return Output(plan.model_dump(mode="json"), metadata={
            "plan": MetadataValue.md(plan.markdown()),
            "counts": table(counts, cols),
            "sample_diffs": table(diffs, diff_cols),
            "writes": MetadataValue.int(sum(s.create + s.update for s in plan.slices)),
        })

    return plan_op


def build_targeted_op(systems: list[str]) -> OpDefinition:
    @op(name="targeted_sync", required_resource_keys={*CORE, *systems},
        description="Sync only the records named in run config (webhook inbox targets, or by hand).")
    def targeted_op(context: OpExecutionContext, config: TargetedSyncConfig) -> Output[None]:
        chosen = [s for s in (config.systems or systems) if s in systems]
        record_ids = {entity: set(ids) for entity, ids in config.record_ids.items()}
        scope = SyncScope(systems=chosen, entities=sorted(record_ids) or None, record_ids=record_ids,
                          deletes_announced={(pair[0], pair[1]) for pair in config.deletes_announced if len(pair) == 2})
        with open_runtime(context.resources, chosen) as runtime:
            report = run_sync(runtime, scope, tags=dict(context.run.tags), systems=chosen)
        metadata = report_metadata(report)
        metadata["event_ids"] = MetadataValue.json(config.event_ids)
        return Output(None, metadata=metadata)

    return targeted_op


class RetentionRunConfig(Config):
    dry_run: bool = Field(False, description="count what the retention windows would delete; delete nothing")


def build_retention_op() -> OpDefinition:
    @op(name="prune_history", required_resource_keys={"prm_config", "prm_store"}, out=Out(dict),
        description="Delete history older than the config's retention windows (prm_sync.store.retention).")
    def retention_op(context: OpExecutionContext, config: RetentionRunConfig) -> Output[dict]:
        from prm_sync.store.retention import prune_history

        with friendly_errors():
            policy = context.resources.prm_config.load().retention
            store = context.resources.prm_store.open()
        try:
            with friendly_errors():
                report = prune_history(store, policy, dry_run=config.dry_run, actor=f"dagster:{context.run_id}")
        finally:
            store.close()
        rows = [{"history": t.name, "table": t.table, "keep_days": t.keep_days or 0, "rows": t.rows}
                for t in report.tables]
        context.log.info(f"retention{' (dry run)' if config.dry_run else ''}: {report.total} rows")
        return Output(report.model_dump(mode="json"), metadata={
            "rows": MetadataValue.int(report.total),
            "dry_run": MetadataValue.bool(config.dry_run),
            "tables": table(rows, [("history", "string"), ("table", "string"), ("keep_days", "int"),
                                   ("rows", "int")]),
        })

    return retention_op
