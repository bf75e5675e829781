"""A mapping plan, a dry run and the run that follows agree, through real connectors and sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_fixtures.provision import provision_runtime

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import generate
from prm_sync.config import apply_sandbox_state, load_config
from prm_sync.demo import seed_store
from prm_sync.runtime import Runtime, open_runtime
from prm_sync.store import records, state
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.plan import plan_mappings

REPO = Path(__file__).resolve().parents[2]
SCOPE = SyncScope(systems=["salesforce", "hubspot"], entities=["partner", "partner_contact"])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, SandboxCluster]]:
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    cluster = SandboxCluster(tmp_path / "sbx", systems=("salesforce", "hubspot"), strict=True).start()
    try:
        state = cluster.write_state(tmp_path / "state.json")
        config = load_config(REPO / "config" / "demo.yaml")
        config = apply_sandbox_state(config.model_copy(update={"data_dir": tmp_path / "data"}), state)
        runtime = open_runtime(config)
        provision_runtime(runtime, cluster.apps)
        seed_store(runtime, generate(seed=4, scale=0.03))
        yield runtime, cluster
        runtime.close()
        for app in cluster.apps.values():
            assert app.unimplemented == []
    finally:
        cluster.stop()


def _plan_counts(runtime: Runtime) -> dict[tuple[str, str], dict[str, int]]:
    plan = plan_mappings(runtime, systems=SCOPE.systems, entities=SCOPE.entities)
    return {(o.system, o.entity): o.counts for o in plan.objects}


def test_plan_dry_run_and_run_agree(world):
    runtime, cluster = world
    engine = runtime.engine(SCOPE.systems, with_rules=False)
    planned = _plan_counts(runtime)
    assert planned[("salesforce", "partner")]["create"] == 6

    dry = engine.run(SCOPE, dry_run=True)
    for s in dry.slices:
        assert (s.created, s.updated) == (planned[(s.system, s.entity)]["create"], planned[(s.system, s.entity)]["update"])
    assert cluster.apps["salesforce"].all_records("Account") == []  # a dry run writes nothing remotely...
    with runtime.store.session(readonly=True) as session:
        assert all(not p.external_ids for p in records.list_records(session, "partner"))  # ...nor locally

    real = engine.run(SCOPE)
    assert real.status == "succeeded"
    for s in real.slices:
        assert s.created == planned[(s.system, s.entity)]["create"], s
        assert s.failed == 0
    assert len(cluster.apps["salesforce"].all_records("Account")) == 6
    with runtime.store.session(readonly=True) as session:
        links = state.all_states(session, "partner", "salesforce")
    assert {s.last_direction for s in links.values()} == {"push"}  # the agreement was reached by our write

    # change two partners in the PRM: the plan says two updates per CRM, and the run does them
    with runtime.store.session() as session:
        for partner in records.list_records(session, "partner")[:2]:
            records.save_record(session, partner.model_copy(update={"territory": "EMEA-North"}))
    planned = _plan_counts(runtime)
    assert planned[("salesforce", "partner")] == {"create": 0, "update": 2, "unchanged": 4, "skipped": 0, "invalid": 0}
    again = engine.run(SCOPE)
    assert again.slice("salesforce", "partner").updated == 2
    assert again.slice("hubspot", "partner").updated == 2
    territories = sorted(a.get("Territory__c") or "" for a in cluster.apps["salesforce"].all_records("Account"))
    assert territories.count("EMEA-North") == 2
