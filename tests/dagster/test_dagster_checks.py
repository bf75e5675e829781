"""Asset checks fail when the data is unhealthy, and blocking ones stop what depends on it."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from dagster import AssetCheckSeverity, AssetKey, ExecuteInProcessResult

from prm_sync.model import utcnow
from prm_sync.store import failures, review


def _checks(result: ExecuteInProcessResult) -> dict[tuple[str, str], object]:
    return {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}


def _materialized(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_dagster_broken_mapping_loads_but_fails_its_check_and_blocks_every_sync(dagster_world) -> None:
    mappings = dagster_world.work_dir / "mappings"
    shutil.copytree(Path(__file__).resolve().parents[2] / "mappings", mappings, ignore=shutil.ignore_patterns("tests"))
    lms = mappings / "lms.yaml"
    lms.write_text(lms.read_text().replace("transform: lower", "transform: lowercase_please"))
    dagster_world.use_mappings(mappings)  # the code location still loads: the catalog compiles no mapping

    result = dagster_world.run("incremental_sync_job")

    check = _checks(result)[("prm/mappings", "mappings_valid")]
    assert not check.passed
    problems = [r.data for r in check.metadata["problem_list"].value.records]
    assert any("lowercase_please" in p["message"] and p["file"].endswith("lms.yaml") for p in problems)
    assert _materialized(result) == {"prm/mappings"}
    assert not result.success


def test_dagster_stale_failures_block_and_old_reviews_warn(dagster_world) -> None:
    with dagster_world.store() as store, store.session() as session:
        failures.record_failure(session, system="hubspot", remote_object="companies", entity="partner",
                                record_key="ptn_gone", operation="upsert", error_code="INVALID_EMAIL",
                                error_message="bad", now=utcnow() - timedelta(hours=30))
        review.add_review(session, entity="partner", record_id=dagster_world.data.partners[0]["id"],
                          system="salesforce", field="phone", prm_value="1", remote_value="2",
                          now=utcnow() - timedelta(days=10))
    selection = [AssetKey(k.split("/")) for k in ("prm/mappings", "salesforce/partners", "salesforce/partner_contacts",
                                                     "hubspot/partners", "hubspot/partner_contacts")]

    result = dagster_world.defs.resolve_job_def("incremental_sync_job").execute_in_process(
        instance=dagster_world.instance, asset_selection=selection, raise_on_error=False)

    checks = _checks(result)
    stale = checks[("hubspot/partners", "failed_records_fresh")]
    assert not stale.passed and stale.severity == AssetCheckSeverity.ERROR
    assert [r.data["record"] for r in stale.metadata["stale"].value.records] == ["ptn_gone"]
    old_review = checks[("salesforce/partners", "review_queue_fresh")]
    assert not old_review.passed and old_review.severity == AssetCheckSeverity.WARN
    assert checks[("salesforce/partners", "failed_records_fresh")].passed
    assert checks[("hubspot/partners", "review_queue_fresh")].passed
    materialized = _materialized(result)
    assert "salesforce/partner_contacts" in materialized  # a warning does not block
    assert "hubspot/partner_contacts" not in materialized  # a stale failure on partners does
