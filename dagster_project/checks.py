"""Asset checks: is the synced data healthy enough for what depends on it?

* ``mappings_valid`` (on ``prm/mappings``, blocking): a broken mapping file
  stops every sync in the run instead of half-syncing with a bad rule.
* ``failed_records_fresh`` (every slice): no open failed record older than
  ``health.failed_record_max_age_hours``. Blocking on the partner slices, since
  registrations, opportunities, attributions and payouts all hang off partners.
* ``review_queue_fresh`` (every slice): no manual-review item waiting longer
  than ``health.review_max_age_days``.
* ``partner_counts_agree`` (CRM partner slices): the PRM store and the CRM hold
  the same number of partners, within ``health.count_tolerance_pct``. One
  filtered read of the key field (Salesforce: a ``SELECT COUNT()`` plus ids).

Thresholds live in the ``health`` resource, so a run can tighten them in the
launchpad (``resources: {health: {config: {failed_record_max_age_hours: 0}}}``).
"""


from collections.abc import Iterator
from datetime import datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from dagster_project.catalog import CRMS, MAPPINGS_KEY, SliceAsset
from dagster_project.metadata import failure_rows, failures_table, table
from dagster_project.runtime import friendly_errors
from prm_sync.model import utcnow
from prm_sync.store.failures import FailedRecord, list_failures
from prm_sync.store.records import count_records
from prm_sync.store.review import ReviewItem, list_open_reviews

SHOWN = 50


@asset_check(
    asset=MAPPINGS_KEY,
    blocking=True,
    description="Every mapping file validates (schema, fields, transforms); blocks all syncs when not.",
    required_resource_keys={"mappings"},
)
def mappings_valid(context: AssetCheckExecutionContext) -> AssetCheckResult:
    problems = context.resources.mappings.problems()
    rows = [p.as_dict() for p in problems]
    return AssetCheckResult(
        passed=not problems,
        description="mappings validate" if not problems else f"{len(problems)} problems in the mapping files",
        metadata={
            "problems": MetadataValue.int(len(problems)),
            "problem_list": table(rows, [("file", "string"), ("line", "int"), ("message", "string"), ("hint", "string")]),
        },
    )


def slice_health_check(item: SliceAsset) -> AssetChecksDefinition:
    """``failed_records_fresh`` and ``review_queue_fresh`` for one slice, in one step (one store open)."""
    blocking = item.entity == "partner"
    specs = [
        AssetCheckSpec(
            "failed_records_fresh", asset=item.key, blocking=blocking,
            description=f"No open failed {item.system}/{item.entity} record older than the health threshold"
            + (" (blocking: downstream syncs wait for partners to be clean)." if blocking else "."),
        ),
        AssetCheckSpec(
            "review_queue_fresh", asset=item.key,
            description=f"No manual-review conflict on {item.system}/{item.entity} waiting longer than the threshold.",
        ),
    ]

    @multi_asset_check(name=f"{item.system}__{item.name}_health", specs=specs,
                       required_resource_keys={"prm_store", "health"})
    def _checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        health = context.resources.health
        with friendly_errors():
            store = context.resources.prm_store.open()
        try:
            with store.session(readonly=True) as session:
                found = list_failures(session, status="open", system=item.system, remote_object=item.remote_object)
                reviews = list_open_reviews(session, entity=item.entity, system=item.system)
        finally:
            store.close()
        now = utcnow()
        yield _failed_records_result(item, [f for f in found if f.entity in (None, item.entity)], now,
                                     timedelta(hours=health.failed_record_max_age_hours))
        yield _review_result(item, reviews, now, timedelta(days=health.review_max_age_days))

    return _checks


def _failed_records_result(item: SliceAsset, mine: list[FailedRecord], now: datetime, max_age: timedelta) -> AssetCheckResult:
    stale = [f for f in mine if now - f.first_seen > max_age]
    oldest = max((now - f.first_seen for f in mine), default=timedelta(0))
    return AssetCheckResult(
        asset_key=item.key,
        check_name="failed_records_fresh",
        passed=not stale,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(stale)} of {len(mine)} open failed records older than {max_age}",
        metadata={
            "open_failures": MetadataValue.int(len(mine)),
            "stale_failures": MetadataValue.int(len(stale)),
            "oldest_hours": MetadataValue.float(round(oldest.total_seconds() / 3600, 2)),
            "stale": failures_table(failure_rows(stale[:SHOWN], [])),
        },
    )


def _review_result(item: SliceAsset, items: list[ReviewItem], now: datetime, max_age: timedelta) -> AssetCheckResult:
    stale = [i for i in items if now - i.created_at > max_age]
    rows = [{"review_id": i.id, "record": i.record_id, "field": i.field,
             "waiting_days": round((now - i.created_at).total_seconds() / 86400, 1)} for i in stale[:SHOWN]]
    return AssetCheckResult(
        asset_key=item.key,
        check_name="review_queue_fresh",
        passed=not stale,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(stale)} of {len(items)} open review items older than {max_age.days} days",
        metadata={
            "open_reviews": MetadataValue.int(len(items)),
            "stale_reviews": MetadataValue.int(len(stale)),
            "stale": table(rows, [("review_id", "int"), ("record", "string"), ("field", "string"),
                                  ("waiting_days", "float")]),
        },
    )


def partner_count_check(item: SliceAsset) -> AssetChecksDefinition:
    @asset_check(
        asset=item.key,
        name="partner_counts_agree",
        description=f"PRM store and {item.system} hold the same number of partners (within the tolerance).",
        required_resource_keys={"prm_store", "mappings", "health", item.system},
        pool=item.pool,
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        tolerance = context.resources.health.count_tolerance_pct
        with friendly_errors():
            mapping = context.resources.mappings.load().for_entity(item.system, item.entity)
            if mapping is None:
                return AssetCheckResult(passed=False, description=f"no {item.system} partner mapping is loaded")
            connector = getattr(context.resources, item.system).connector()
            remote = sum(1 for r in connector.read_all(mapping.remote_object, [mapping.key_field], where=mapping.filter)
                         if not r.deleted)
            store = context.resources.prm_store.open()
        try:
            with store.session(readonly=True) as session:
                prm = count_records(session, "partner")
        finally:
            store.close()
        allowed = int(max(prm, remote) * tolerance / 100)
        gap = abs(prm - remote)
        return AssetCheckResult(
            passed=gap <= allowed,
            severity=AssetCheckSeverity.ERROR,
            description=f"PRM {prm} partners, {item.system} {remote}: gap {gap} (allowed {allowed})",
            metadata={"prm_count": MetadataValue.int(prm), "remote_count": MetadataValue.int(remote),
                      "gap": MetadataValue.int(gap), "allowed_gap": MetadataValue.int(allowed),
                      "api_calls": MetadataValue.int(connector.api_calls)},
        )

    return _check


def build_checks(present: list[SliceAsset]) -> list[AssetChecksDefinition]:
    checks: list[AssetChecksDefinition] = [mappings_valid]
    for item in present:
        checks.append(slice_health_check(item))
        if item.entity == "partner" and item.system in CRMS:
            checks.append(partner_count_check(item))
    return checks
