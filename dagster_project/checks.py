"""Asset checks: is the synced data healthy enough for what depends on it?

* ``mappings_valid`` (on ``prm/mappings``, blocking): a broken mapping file
  stops every sync in the run instead of half-syncing with a bad rule.
* ``open_failures`` (every slice, WARN): fails while the slice has open failed
  records, with counts by error code and a launchpad link to replay them.
* ``failed_records_fresh`` (every slice): no open failed record older than
  ``health.failed_record_max_age_hours``. Blocking on the partner slices, since
  registrations, opportunities, attributions and payouts all hang off partners.
* ``review_queue_fresh`` (every slice): no manual-review item waiting longer
  than ``health.review_max_age_days``.
* ``sync_fresh`` (every slice, ERROR): a good run within the freshness window
  (``prm_sync.health.schedule``) and a last run that did not fail.
* ``partner_counts_agree`` (CRM partner slices): the PRM store and the CRM hold
  the same number of partners, within ``health.count_tolerance_pct``. One
  filtered read of the key field (Salesforce: a ``SELECT COUNT()`` plus ids).

Thresholds live in the ``health`` resource, so a run can tighten them in the
launchpad (``resources: {health: {config: {failed_record_max_age_hours: 0}}}``).
"""


from collections.abc import Iterator
from datetime import timedelta

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
from dagster_project.health import slice_outcomes, slice_state
from dagster_project.metadata import table
from dagster_project.runtime import friendly_errors, location_of
from prm_sync.model import utcnow
from prm_sync.store.records import count_records


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
    """The slice's health checks (``dagster_project.health.SLICE_CHECKS``) in one step: one store read."""
    blocking = item.entity == "partner"
    specs = [
        AssetCheckSpec(
            "open_failures", asset=item.key,
            description=f"WARN while {item.system}/{item.entity} has open failed records (counts by error code; "
            "refreshed after replays and discards, from the CLI too).",
        ),
        AssetCheckSpec(
            "failed_records_fresh", asset=item.key, blocking=blocking,
            description=f"No open failed {item.system}/{item.entity} record older than the health threshold"
            + (" (blocking: downstream syncs wait for partners to be clean)." if blocking else "."),
        ),
        AssetCheckSpec(
            "review_queue_fresh", asset=item.key,
            description=f"No manual-review conflict on {item.system}/{item.entity} waiting longer than the threshold.",
        ),
        AssetCheckSpec(
            "sync_fresh", asset=item.key,
            description=f"{item.system}/{item.entity} had a good run (CLI or Dagster) within the freshness window "
            "and its last run did not fail: red when a schedule is stopped or the daemon is down.",
        ),
    ]

    @multi_asset_check(name=f"{item.system}__{item.name}_health", specs=specs,
                       required_resource_keys={"prm_store", "prm_config", "health"})
    def _checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        thresholds = context.resources.health
        now = utcnow()
        with friendly_errors():
            config = context.resources.prm_config.load()
            store = context.resources.prm_store.open()
        try:
            state = slice_state(store, config, item, now)
        finally:
            store.close()
        for outcome in slice_outcomes(item, state, now=now,
                                      max_failure_age=timedelta(hours=thresholds.failed_record_max_age_hours),
                                      max_review_age=timedelta(days=thresholds.review_max_age_days),
                                      location=location_of(context)):
            yield outcome.result()

    return _checks


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
