"""Sensors: new failed records, failed runs, webhook inbox targets, registrations about to expire.

Default states, decided by what a sensor's runs can do:

* ``failed_records_sensor`` - RUNNING. Reads the store and launches a read-only
  notification job; nothing leaves the building.
* ``sync_run_failure_sensor`` - RUNNING. Launches the read-only run-failure
  notification for failed sync, replay, reconcile and expiry runs (not for
  notification runs, so a failing notification cannot loop).
* ``protection_expiry_sensor`` - RUNNING. Read-only; one notification per day
  per set of registrations (the run key carries the date).
* ``inbox_sensor`` - RUNNING when a webhook sender is configured (the HubSpot
  client secret's environment variable is set, or Salesforce organization ids
  are listed under ``webhooks.salesforce``): then the receiver fills the inbox
  and nothing else would drain it between scheduled syncs. STOPPED otherwise
  (its runs write to the CRMs). Events are marked processed when the run is
  requested: a run that then fails is reported by the failure sensor and its
  records are picked up again by the next incremental sync (they are still
  newer than the cursors), so nothing is lost, only delayed. Without Dagster,
  ``prm-sync sync`` and ``prm-sync webhooks drain`` drain the inbox the same way.
"""


import hashlib
import importlib.util
import json
import os
from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    JobDefinition,
    RunFailureSensorContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from pydantic import BaseModel
from sqlalchemy import select

from dagster_project.jobs import AnyJob
from dagster_project.notifications import (
    failed_records_notification_job,
    protection_expiry_notification_job,
    run_failure_notification_job,
)
from dagster_project.resources import PrmStoreResource
from dagster_project.runtime import friendly_errors
from prm_sync.config import AppConfig
from prm_sync.model import RegistrationStatus
from prm_sync.store.db import Store
from prm_sync.store.failures import list_failures
from prm_sync.store.orm import DealRegistrationRow

FAILURE_OVERLAP = timedelta(minutes=10)  # failures commit with the run's clock: re-read a window, dedupe by id
MAX_NOTIFIED = 500
INBOX_LIMIT = 1000


class FailureCursor(BaseModel):
    last_id: int = 0
    since: datetime | None = None

    @classmethod
    def parse(cls, raw: str | None) -> "FailureCursor":
        return cls.model_validate_json(raw) if raw else cls()


def _open_store(prm_store: PrmStoreResource) -> Store | None:
    """The store as it is (never created or migrated by a sensor); None before the first sync made it."""
    if not prm_store.exists():
        return None
    with friendly_errors():
        return prm_store.open(auto_upgrade=False)


NO_STORE = "no PRM store yet: run a sync (or `prm-sync db upgrade`) first"


@sensor(
    job=failed_records_notification_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="New open failed records -> a notification run listing them. RUNNING by default: read-only.",
)
def failed_records_sensor(context: SensorEvaluationContext, prm_store: PrmStoreResource) -> SensorResult | SkipReason:
    cursor = FailureCursor.parse(context.cursor)
    since = cursor.since - FAILURE_OVERLAP if cursor.since else None
    store = _open_store(prm_store)
    if store is None:
        return SkipReason(NO_STORE)
    try:
        with store.session(readonly=True) as session:
            found = list_failures(session, status="open", since=since)
    finally:
        store.close()
    new = sorted((f for f in found if f.id > cursor.last_id), key=lambda f: f.id)
    if not new:
        return SkipReason("no new failed records")
    latest = max(f.last_seen for f in new)
    advanced = FailureCursor(last_id=new[-1].id, since=max(latest, cursor.since) if cursor.since else latest)
    ids = [f.id for f in new][:MAX_NOTIFIED]
    request = RunRequest(
        run_key=f"failed-records-{new[-1].id}",
        run_config={"ops": {"notify_failed_records": {"config": {"failure_ids": ids}}}},
        tags={"prm_sync/new_failures": str(len(new))},
    )
    return SensorResult(run_requests=[request], cursor=advanced.model_dump_json())


def build_protection_expiry_sensor(warn_days: int) -> SensorDefinition:
    @sensor(
        name="protection_expiry_sensor",
        job=protection_expiry_notification_job,
        minimum_interval_seconds=3600,
        default_status=DefaultSensorStatus.RUNNING,
            description=f"Approved registrations whose protection ends within {warn_days} days "
        "(rules.protection.warn_days_before_expiry) -> one notification run a day. RUNNING: read-only.",
    )
    def protection_expiry_sensor(context: SensorEvaluationContext, prm_store: PrmStoreResource) -> RunRequest | SkipReason:
        now = datetime.now(UTC)
        query = (select(DealRegistrationRow.id)
                 .where(DealRegistrationRow.status == RegistrationStatus.approved.value,
                        DealRegistrationRow.expires_at > now,
                        DealRegistrationRow.expires_at <= now + timedelta(days=warn_days))
                 .order_by(DealRegistrationRow.expires_at, DealRegistrationRow.id))
        store = _open_store(prm_store)
        if store is None:
            return SkipReason(NO_STORE)
        try:
            with store.session(readonly=True) as session:
                ids = list(session.scalars(query))
        finally:
            store.close()
        if not ids:
            return SkipReason(f"no approved registration expires within {warn_days} days")
        digest = hashlib.sha1(json.dumps(ids).encode()).hexdigest()[:12]
        return RunRequest(
            run_key=f"protection-expiry-{now.date().isoformat()}-{digest}",
            run_config={"ops": {"notify_expiring_registrations": {
                "config": {"registration_ids": ids, "warn_days": warn_days}}}},
        )

    return protection_expiry_sensor


def webhooks_available() -> bool:
    return importlib.util.find_spec("prm_sync.webhooks") is not None


def webhook_senders_configured(config: AppConfig) -> bool:
    """A webhook sender can reach the receiver: HubSpot's client secret is set or Salesforce orgs are listed.

    Only the presence of the secret's environment variable is checked; its value is read by the receiver.
    """
    hooks = config.webhooks
    return bool(os.environ.get(hooks.hubspot.client_secret_env)) or bool(hooks.salesforce.organization_ids)


def build_inbox_sensor(targeted_job: JobDefinition, *, running: bool = False) -> SensorDefinition:
    state = "RUNNING: a webhook sender is configured" if running else "STOPPED: no webhook sender is configured"
    @sensor(
        name="inbox_sensor",
        job=targeted_job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description=f"Pending webhook notifications -> a targeted sync of exactly those records. {state}.",
    )
    def inbox_sensor(context: SensorEvaluationContext, prm_store: PrmStoreResource) -> RunRequest | SkipReason:
        if not webhooks_available():
            return SkipReason("prm_sync.webhooks is not installed: no inbox to read")
        from prm_sync.webhooks import pending_targets

        store = _open_store(prm_store)
        if store is None:
            return SkipReason(NO_STORE)
        try:
            with store.session() as session:
                batch = pending_targets(session, limit=INBOX_LIMIT)
                targets = batch.targets()
                if not batch or not targets:
                    done = batch.mark_done(session) if (batch.event_ids or batch.invalid_event_ids) else 0
                    return SkipReason(f"no pending change notifications to sync ({done} unmappable marked done)")
                record_ids = {entity: sorted(ids) for entity, ids in targets.items()}
                request = RunRequest(
                    run_key=f"inbox-{max(batch.event_ids + batch.invalid_event_ids)}",
                    run_config={"ops": {"targeted_sync": {"config": {
                        "record_ids": record_ids, "event_ids": sorted(batch.event_ids),
                        "deletes_announced": [list(key) for key in sorted(batch.deletes_announced())]}}}},
                    tags={"prm_sync/inbox_events": str(len(batch.event_ids))},
                )
                batch.mark_done(session)
        finally:
            store.close()
        return request

    return inbox_sensor


def build_run_failure_sensor(monitored: list[AnyJob]) -> SensorDefinition:
    @run_failure_sensor(
        name="sync_run_failure_sensor",
        monitored_jobs=monitored,
        request_job=run_failure_notification_job,
        default_status=DefaultSensorStatus.RUNNING,
        description="A failed sync, replay, reconcile or expiry run -> a notification run. RUNNING: read-only.",
    )
    def sync_run_failure_sensor(context: RunFailureSensorContext) -> RunRequest:
        run = context.dagster_run
        message = context.failure_event.message or "the run failed"
        return RunRequest(
            run_key=f"run-failure-{run.run_id}",
            run_config={"ops": {"notify_run_failure": {"config": {
                "failed_run_id": run.run_id, "job_name": run.job_name, "message": message[:2000]}}}},
        )

    return sync_run_failure_sensor
