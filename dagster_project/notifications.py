"""Notification jobs the sensors launch: they log a warning and record a table in the run.

Read-only on purpose (they never touch a remote system or change the store),
which is what makes the sensors that launch them safe to run by default. A
deployment that wants mail or chat adds a hook to these jobs; the content is
already here.
"""


from datetime import UTC, datetime

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from dagster_project.metadata import failure_rows, failures_table, table
from dagster_project.runtime import friendly_errors
from prm_sync.model import DealRegistration
from prm_sync.store.failures import get_failure
from prm_sync.store.records import list_records


class FailedRecordsNotice(Config):
    failure_ids: list[int] = Field(default_factory=list, description="new open failed records")


class ExpiringRegistrationsNotice(Config):
    registration_ids: list[str] = Field(default_factory=list, description="approved registrations expiring soon")
    warn_days: int = Field(14, description="the warning window they fall into")


class RunFailureNotice(Config):
    failed_run_id: str
    job_name: str
    message: str = ""


@op(required_resource_keys={"prm_store"})
def notify_failed_records(context: OpExecutionContext, config: FailedRecordsNotice) -> Output[None]:
    with friendly_errors():
        store = context.resources.prm_store.open()
    try:
        with store.session(readonly=True) as session:
            found = [f for f in (get_failure(session, i) for i in config.failure_ids) if f is not None]
    finally:
        store.close()
    for f in found:
        context.log.warning(f"failed record {f.id}: {f.system}/{f.entity or f.remote_object} {f.record_key}: "
                            f"{f.error_code}: {f.error_message}")
    return Output(None, metadata={"failed_records": MetadataValue.int(len(found)),
                                  "failures": failures_table(failure_rows(found, []))})


@op(required_resource_keys={"prm_store"})
def notify_expiring_registrations(context: OpExecutionContext, config: ExpiringRegistrationsNotice) -> Output[None]:
    now = datetime.now(UTC)
    with friendly_errors():
        store = context.resources.prm_store.open()
    try:
        with store.session(readonly=True) as session:
            regs = [r for r in list_records(session, DealRegistration.entity, ids=sorted(config.registration_ids))
                    if isinstance(r, DealRegistration)]
    finally:
        store.close()
    rows = []
    for reg in sorted(regs, key=lambda r: r.expires_at or now):
        days = round(((reg.expires_at or now) - now).total_seconds() / 86400, 1)
        rows.append({"registration": reg.id, "partner": reg.partner_id, "customer": reg.customer_name,
                     "expires_at": reg.expires_at.isoformat() if reg.expires_at else "", "days_left": days})
        context.log.warning(f"registration {reg.id} ({reg.customer_name}) loses protection in {days} days")
    cols = [("registration", "string"), ("partner", "string"), ("customer", "string"), ("expires_at", "string"),
            ("days_left", "float")]
    return Output(None, metadata={"expiring": MetadataValue.int(len(rows)), "registrations": table(rows, cols),
                                  "warn_days": MetadataValue.int(config.warn_days)})


@op
def notify_run_failure(context: OpExecutionContext, config: RunFailureNotice) -> Output[None]:
    context.log.error(f"run {config.failed_run_id} of {config.job_name} failed: {config.message}")
    summary = f"**{config.job_name}** run `{config.failed_run_id}` failed.\n\n{config.message}"
    return Output(None, metadata={"failed_run_id": MetadataValue.dagster_run(config.failed_run_id),
                                  "summary": MetadataValue.md(summary)})


@job(description="Lists new failed records (launched by failed_records_sensor).")
def failed_records_notification_job() -> None:
    notify_failed_records()


@job(description="Lists registrations nearing the end of their protection window (protection_expiry_sensor).")
def protection_expiry_notification_job() -> None:
    notify_expiring_registrations()


@job(description="Records a failed sync run (launched by sync_run_failure_sensor).")
def run_failure_notification_job() -> None:
    notify_run_failure()
