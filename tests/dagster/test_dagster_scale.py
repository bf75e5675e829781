"""Dagster as deployed: its own storage on PostgreSQL, steps in separate processes, slices side by side.

``dagster asset materialize`` runs the Salesforce and HubSpot partner
slices from the code location with ``config/dagster/dagster.yaml`` (the
shipped instance file) as the instance: runs and event logs in a PostgreSQL
database, pool limits of one step per API, and the definitions' default
multiprocess executor. The PRM
store is PostgreSQL too. The Salesforce and HubSpot partner steps run in
processes of their own at the same time, and what they wrote is read back
through simple-salesforce, hubspot-api-client and the store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, EventRecordsFilter
from fixtures.database import PostgresServer
from sandbox_fixtures.cluster import hubspot_client, salesforce_client
from sandbox_fixtures.provision import provision_runtime

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.http import SandboxApp, SandboxRequest, SandboxResponse
from connectors.sandbox.seed import generate
from connectors.sandbox.seeding import seed_sandboxes
from dagster_project.runtime import FAILED_TAG
from prm_sync.config import load_config, point_at_sandboxes
from prm_sync.demo import seed_store
from prm_sync.runtime import open_runtime
from prm_sync.store import records
from prm_sync.store.db import ENV_DATABASE_URL
from prm_sync.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"
SYSTEMS = ("salesforce", "hubspot")
CONFIG = """\
version: 1
data_dir: {data}
mappings: [{mappings}]
systems:
  salesforce: {{instance_url: "https://sandbox.invalid", access_token_env: SCALE_SF_TOKEN, timeout_seconds: 10, max_retries: 1}}
  hubspot: {{base_url: "https://sandbox.invalid", access_token_env: SCALE_HS_TOKEN, requests_per_10s: 1000, timeout_seconds: 10, max_retries: 1}}
"""


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer) -> Iterator[dict]:
    """Sandboxes for both CRMs, the PRM store and Dagster's instance on PostgreSQL, the environment to run in."""
    store_url = postgres_server.create_database("prm_sync_dagster_store")
    upgrade(store_url)
    dagster_url = postgres_server.create_database("prm_sync_dagster_instance")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "config" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    cluster = SandboxCluster(tmp_path / "sandbox", systems=SYSTEMS, strict=True).start()
    try:
        state_file = cluster.write_state(tmp_path / "sandbox.json")
        config_path = tmp_path / "prm_sync.yaml"
        config_path.write_text(CONFIG.format(data=tmp_path / "data", mappings=REPO / "mappings"))
        env = {"DAGSTER_HOME": str(home), "PRM_SYNC_CONFIG": str(config_path),
               "PRM_SYNC_SANDBOX_STATE": str(state_file), ENV_DATABASE_URL: store_url,
               "DAGSTER_POSTGRES_URL": dagster_url.replace("postgresql+psycopg://", "postgresql+psycopg2://")}
        env.update(point_at_sandboxes(load_config(config_path), state_file)[1])
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        data = generate(seed=5, scale=0.02)
        seed_sandboxes(cluster, data)
        runtime = open_runtime(load_config())
        try:
            provision_runtime(runtime, cluster.apps)  # a new org and portal: `prm-sync setup` creates our fields
            seed_store(runtime, data)
        finally:
            runtime.close()
        yield {"cluster": cluster, "state": cluster.state()["systems"], "home": home, "tmp": tmp_path}
    finally:
        cluster.stop()


class Rendezvous:
    """Each CRM sandbox holds a request until the other sandbox has had one too.

    Two steps running at the same time meet at once. Steps run one after the
    other (a lock making one wait, or one process running both) leave the
    first step's request waiting for a request that cannot come while it
    waits: the wait is bounded and recorded as a miss. This proves the overlap
    without comparing timestamps, which a loaded machine makes unreliable.
    """

    def __init__(self, apps: dict[str, SandboxApp], timeout: float = 120.0) -> None:
        self.arrived = {name: threading.Event() for name in apps}
        self.timeout = timeout
        self.missed: list[str] = []
        for name, app in apps.items():
            self._hold(name, app)

    def _hold(self, name: str, app: SandboxApp) -> None:
        inner = app.dispatch

        def dispatch(request: SandboxRequest) -> SandboxResponse:
            self.arrived[name].set()
            for other, event in self.arrived.items():
                if other != name and not event.wait(self.timeout):
                    self.missed.append(f"{name} waited {self.timeout:.0f} s for {other}")
            return inner(request)

        app.dispatch = dispatch  # type: ignore[method-assign]


def step_events(instance: DagsterInstance, run_id: str, kind: DagsterEventType) -> dict[str, list]:
    found: dict[str, list] = {}
    for record in instance.get_event_records(EventRecordsFilter(event_type=kind), limit=1000):
        entry = record.event_log_entry
        if entry.run_id == run_id and entry.step_key:
            found.setdefault(entry.step_key, []).append(entry)
    return found


def test_dagster_on_postgres_storage_runs_both_crms_partners_in_separate_processes_at_once(deployment: dict) -> None:
    log = deployment["tmp"] / "dagster.log"
    rendezvous = Rendezvous({name: deployment["cluster"].apps[name] for name in SYSTEMS})
    with log.open("w") as out:  # the partners of both CRMs, as the full sync's first wave starts them
        done = subprocess.run(
            [str(DAGSTER), "asset", "materialize", "-m", "dagster_project.definitions", "-a", "defs",
             "--select", "salesforce/partners,hubspot/partners"],
            cwd=deployment["tmp"], stdout=out, stderr=subprocess.STDOUT, text=True, timeout=600, check=False,
        )
    assert done.returncode == 0, log.read_text()[-3000:]

    instance = DagsterInstance.get()  # $DAGSTER_HOME: the PostgreSQL-backed instance the job wrote to
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        [run] = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS and run.tags[FAILED_TAG] == "0"
        started = step_events(instance, run.run_id, DagsterEventType.STEP_START)
        finished = step_events(instance, run.run_id, DagsterEventType.STEP_SUCCESS)
        sf, hs = "salesforce__partners", "hubspot__partners"
        assert sf in finished and hs in finished, sorted(finished)
        # separate processes, neither of them the one that launched the run
        assert len({started[sf][0].dagster_event.pid, started[hs][0].dagster_event.pid, os.getpid()}) == 3
        # and at the same time: each step's first call waited for the other's, and neither waited in vain
        assert all(event.is_set() for event in rendezvous.arrived.values()) and rendezvous.missed == []
        assert started[sf][0].timestamp < finished[hs][0].timestamp
        assert started[hs][0].timestamp < finished[sf][0].timestamp
    finally:
        instance.dispose()

    state = deployment["state"]
    salesforce = salesforce_client(state["salesforce"])
    sf_ids = [r["PRM_Id__c"] for r in salesforce.query_all("SELECT PRM_Id__c FROM Account WHERE IsPartner = true")["records"]]
    hubspot = hubspot_client(state["hubspot"])
    hs_ids = [c.properties.get("prm_id") for c in hubspot.crm.companies.get_all(properties=["prm_id"])]
    hs_ids = [i for i in hs_ids if i]
    runtime = open_runtime(load_config())
    try:
        with runtime.store.session(readonly=True) as session:
            partners = records.list_records(session, "partner")
    finally:
        runtime.close()
    assert sorted(sf_ids) == sorted(hs_ids) == sorted(p.id for p in partners)  # each once, none missing
    assert all(set(p.external_ids) == set(SYSTEMS) for p in partners)  # both pushes' ids kept
