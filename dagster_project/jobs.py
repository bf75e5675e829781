"""Jobs: full and incremental syncs over the asset graph, and the operational op jobs.

* ``full_sync_job`` - every asset, cursors reset (run tag ``prm_sync/mode=full``).
* ``incremental_sync_job`` - every asset from the stored cursors.
* ``targeted_sync_job`` - only named records (the inbox sensor's runs).
* ``reconcile_job`` - store vs systems comparison (``prm_sync.reconcile``).
* ``expiry_job`` - expire registrations past their window, push the write-back.
* ``replay_job`` - replay failed records chosen in the launchpad (``ReplayConfig``).
* ``mapping_plan_job`` - the push plan under the current mappings; writes nothing.
* ``retention_job`` - delete history older than ``config.retention`` (weekly schedule).
"""


from dagster import AssetSelection, JobDefinition, define_asset_job, job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dagster_project.ops import (
    build_expiry_ops,
    build_plan_op,
    build_reconcile_op,
    build_replay_op,
    build_retention_op,
    build_targeted_op,
)
from dagster_project.runtime import MODE_TAG

ASSET_JOB_NAMES = ("full_sync_job", "incremental_sync_job")
AnyJob = JobDefinition | UnresolvedAssetJobDefinition  # what schedules and sensors may target


def build_asset_jobs() -> list[UnresolvedAssetJobDefinition]:
    full = define_asset_job(
        "full_sync_job", selection=AssetSelection.all(), tags={MODE_TAG: "full"},
        description="Every slice re-read from the start (cursors reset) and pushed; checks run after each asset.",
    )
    incremental = define_asset_job(
        "incremental_sync_job", selection=AssetSelection.all(), tags={MODE_TAG: "incremental"},
        description="Every slice from its stored cursor: what changed since the last run, both ways.",
    )
    return [full, incremental]


def build_op_jobs(systems: list[str]) -> list[JobDefinition]:
    replay_op = build_replay_op(systems)
    reconcile_op = build_reconcile_op(systems)
    expire_op, write_back_op = build_expiry_ops(systems)
    plan_op = build_plan_op(systems)
    targeted_op = build_targeted_op(systems)
    retention_op = build_retention_op()

    @job(description="Replay failed records: pick ids, or system / object / error-code filters, or all; "
         "dry_run previews. Launch from the launchpad after fixing the cause.")
    def replay_job() -> None:
        replay_op()

    @job(description="Compare the PRM store with every system (nightly); repair only when asked in run config.")
    def reconcile_job() -> None:
        reconcile_op()

    @job(description="Expire registrations whose protection window ended and clear the partner fields on "
         "their opportunities in the CRMs.")
    def expiry_job() -> None:
        write_back_op(expire_op())

    @job(description="Dry run: what each push slice would create or update under the current mappings.")
    def mapping_plan_job() -> None:
        plan_op()

    @job(description="Sync only the records in run config (launched by inbox_sensor from webhook notifications).")
    def targeted_sync_job() -> None:
        targeted_op()

    @job(description="Delete ledger, audit, run, inbox and resolved history older than the config's retention "
         "windows; dry_run counts only.")
    def retention_job() -> None:
        retention_op()

    return [replay_job, reconcile_job, expiry_job, mapping_plan_job, targeted_sync_job, retention_job]
