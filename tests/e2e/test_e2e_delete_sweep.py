"""HubSpot deletes are found by a sweep on an interval, so routine runs cost one call per object."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sandbox_fixtures.provision import provision_runtime

from connectors.sandbox.cluster import SandboxCluster
from prm_sync.config import apply_sandbox_state, load_config
from prm_sync.runtime import Runtime, open_runtime
from prm_sync.store import audit, records
from prm_sync.sync.engine import SyncScope

REPO = Path(__file__).resolve().parents[2]
SCOPE = SyncScope(systems=["hubspot"], entities=["end_customer"])


@pytest.fixture
def hubspot_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, SandboxCluster]]:
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    cluster = SandboxCluster(tmp_path / "sbx", systems=("hubspot",), strict=True).start()
    try:
        state = cluster.write_state(tmp_path / "state.json")
        config = load_config(REPO / "config" / "demo.yaml")
        config = config.model_copy(update={"data_dir": tmp_path / "data", "systems": config.systems.model_copy(update={"salesforce": None, "lms": None, "erp": None})})
        config = apply_sandbox_state(config, state)
        runtime = open_runtime(config)
        provision_runtime(runtime, cluster.apps)
        yield runtime, cluster
        runtime.close()
        assert cluster.apps["hubspot"].unimplemented == []
    finally:
        cluster.stop()


def test_a_deleted_company_is_found_when_the_sweep_is_due(hubspot_world):
    runtime, cluster = hubspot_world
    app = cluster.apps["hubspot"]
    ids = app.insert_records("companies", [{"name": f"Customer {i}", "domain": f"c{i}.com"} for i in range(3)])
    start = datetime.now(UTC)
    first = runtime.engine(clock=lambda: start, with_rules=False).run(SCOPE)
    assert first.slice("hubspot", "end_customer").created == 3

    app.archive_record("companies", ids[0])  # a user deletes a customer in HubSpot

    soon = runtime.engine(clock=lambda: start + timedelta(minutes=10), with_rules=False).run(SCOPE)
    stats = soon.slice("hubspot", "end_customer")
    assert stats.api_calls == 1  # only the change search: the sweep is not due yet
    assert stats.deleted == 0

    later = runtime.engine(clock=lambda: start + timedelta(hours=2), with_rules=False).run(SCOPE)
    stats = later.slice("hubspot", "end_customer")
    assert stats.deleted == 1
    assert stats.api_calls == 2  # the search plus the archived listing
    with runtime.store.session(readonly=True) as session:
        names = sorted(c.name for c in records.list_records(session, "end_customer"))
        trail = audit.query_audit(session, remote_id=ids[0])
    assert names == ["Customer 1", "Customer 2"]
    assert trail and trail[0].action == "pull.remote_delete"

    after = runtime.engine(clock=lambda: start + timedelta(hours=2, minutes=5), with_rules=False).run(SCOPE)
    assert after.slice("hubspot", "end_customer").deleted == 0  # reported once, not on every sweep


def test_a_deleted_partner_is_not_recreated_by_an_update_before_the_sweep(hubspot_world):
    """Deleted in HubSpot, edited in the PRM before the sweep is due: the push must not revive it."""
    from prm_sync.model import Partner

    runtime, cluster = hubspot_world
    app = cluster.apps["hubspot"]
    scope = SyncScope(systems=["hubspot"], entities=["partner"])
    with runtime.store.session() as session:
        records.save_record(session, Partner(id="ptn_gone", name="Gone Partners", tier="gold"))
        records.save_record(session, Partner(id="ptn_kept", name="Kept Partners", tier="silver"))
    start = datetime.now(UTC)
    runtime.engine(clock=lambda: start, with_rules=False).run(scope)
    gone = app.find_record("companies", "prm_id", "ptn_gone")
    app.archive_record("companies", gone["hs_object_id"])  # a user deletes the partner company

    with runtime.store.session() as session:
        for pid in ("ptn_gone", "ptn_kept"):
            partner = records.get_record(session, "partner", pid)
            records.save_record(session, partner.model_copy(update={"territory": "APJ"}))
    report = runtime.engine(clock=lambda: start + timedelta(minutes=5), with_rules=False).run(scope)

    stats = report.slice("hubspot", "partner")
    assert stats.deleted == 1 and stats.updated == 1
    assert app.find_record("companies", "prm_id", "ptn_gone") is None  # not re-created
    assert app.find_record("companies", "prm_id", "ptn_kept")["territory"] == "APJ"
