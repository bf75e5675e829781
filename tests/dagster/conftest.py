"""``dagster_world``: the four sandboxes, a seeded PRM store and the Dagster definitions pointed at them.

Configuration goes the way it does in production: a YAML file named by
``PRM_SYNC_CONFIG`` and the sandbox state file named by
``PRM_SYNC_SANDBOX_STATE``; the definitions are built from those, not from
objects handed in. ``DAGSTER_HOME`` is a temporary directory; runs use an
in-memory instance (nothing is written under the real home).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    SensorEvaluationContext,
    build_sensor_context,
)
from sandbox_fixtures.provision import provision_runtime

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import DemoData, generate
from connectors.sandbox.seeding import seed_sandboxes
from dagster_project.project import build_definitions
from prm_sync.config import load_config, point_at_sandboxes
from prm_sync.demo import seed_store
from prm_sync.runtime import Runtime, open_runtime
from prm_sync.store.db import Store

REPO = Path(__file__).resolve().parents[2]
TOKEN_ENVS = {
    "salesforce": "PRM_SYNC_DEMO_SALESFORCE_TOKEN",
    "hubspot": "PRM_SYNC_DEMO_HUBSPOT_TOKEN",
    "lms": "PRM_SYNC_DEMO_LMS_TOKEN",
    "erp": "PRM_SYNC_DEMO_ERP_KEY",
}


def write_config(path: Path, data_dir: Path, mappings: Path) -> Path:
    """A demo-like config: every system on the sandboxes, fast timeouts, HubSpot pacing out of the way."""
    path.write_text(f"""\
version: 1
data_dir: {data_dir}
mappings: [{mappings}]
systems:
  salesforce: {{instance_url: "https://sandbox.invalid", access_token_env: {TOKEN_ENVS["salesforce"]}, timeout_seconds: 10, max_retries: 1}}
  hubspot: {{base_url: "https://sandbox.invalid", access_token_env: {TOKEN_ENVS["hubspot"]}, requests_per_10s: 1000, timeout_seconds: 10, max_retries: 1}}
  lms: {{base_url: "https://sandbox.invalid", access_token_env: {TOKEN_ENVS["lms"]}, timeout_seconds: 10, max_retries: 1}}
  erp: {{base_url: "https://sandbox.invalid", database: prm, login: prm-sync, access_token_env: {TOKEN_ENVS["erp"]}, timeout_seconds: 10, max_retries: 1}}
schedules: {{timezone: Europe/Berlin, full_sync_cron: "0 2 * * *", incremental_cron: "5 * * * *", reconcile_cron: "30 3 * * *", expiry_cron: "15 0 * * *"}}
rules:
  conflict: {{conflict_threshold: 90, review_threshold: 70}}
  protection: {{default_days: 90, warn_days_before_expiry: 10}}
  certification: {{validity_months: 12, renewal_window_days: 30, required_for_product_lines: []}}
""")
    return path


@dataclass
class DagsterWorld:
    cluster: SandboxCluster
    config_path: Path
    state_file: Path
    data: DemoData
    defs: Definitions
    instance: DagsterInstance
    work_dir: Path
    full_result: ExecuteInProcessResult | None = None

    def runtime(self) -> Runtime:
        """A prm-sync runtime on the same config (the caller closes it)."""
        return open_runtime(load_config(self.config_path, sandbox_state=self.state_file))

    def store(self) -> Store:
        return Store.open(data_dir=self.work_dir / "data", auto_upgrade=True)

    def run(self, job: str, run_config: dict[str, Any] | None = None, **kwargs: Any) -> ExecuteInProcessResult:
        """Execute a job in process on the temporary instance; failures are returned, not raised."""
        return self.defs.resolve_job_def(job).execute_in_process(
            run_config=run_config or {}, instance=self.instance, raise_on_error=False, **kwargs
        )

    def sensor_context(self, name: str, cursor: str | None = None) -> SensorEvaluationContext:
        return build_sensor_context(cursor=cursor, sensor_name=name, resources=dict(self.defs.resources or {}))

    def use_mappings(self, mappings: Path) -> None:
        """Point the config file at other mapping files and reload the definitions, as a code reload would."""
        write_config(self.config_path, self.work_dir / "data", mappings)
        self.defs = build_definitions(self.config_path, self.state_file)


@contextmanager
def _world(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterWorld]:
    work = root / "world"
    home = root / "dagster_home"
    home.mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cluster = SandboxCluster(work / "sandbox", strict=True).start()
    try:
        state_file = cluster.write_state(work / "sandbox.json")
        config_path = write_config(work / "prm_sync.yaml", work / "data", REPO / "mappings")
        for env_var, value in point_at_sandboxes(load_config(config_path), state_file)[1].items():
            monkeypatch.setenv(env_var, value)  # restored at teardown (the LRS key and secret too)
        monkeypatch.setenv("PRM_SYNC_CONFIG", str(config_path))
        monkeypatch.setenv("PRM_SYNC_SANDBOX_STATE", str(state_file))
        data = generate(seed=5, scale=0.02)
        runtime = open_runtime(load_config())
        try:
            provision_runtime(runtime, cluster.apps)
            seed_sandboxes(cluster, data)
            seed_store(runtime, data)
        finally:
            runtime.close()
        # in-memory run storage: a SQLite event log costs seconds per job on a busy machine
        yield DagsterWorld(cluster=cluster, config_path=config_path, state_file=state_file, data=data,
                           defs=build_definitions(), instance=DagsterInstance.ephemeral(), work_dir=work)
    finally:
        cluster.stop()
    unexpected = {name: app.unimplemented for name, app in cluster.apps.items() if app.unimplemented}
    assert not unexpected, f"strict sandboxes got requests they do not implement: {unexpected}"


@pytest.fixture
def dagster_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterWorld]:
    """A fresh world: sandboxes (strict) and store seeded with ``generate(5, scale=0.02)``, nothing synced yet."""
    with _world(tmp_path, monkeypatch) as world:
        yield world


@pytest.fixture(scope="module")
def synced_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterWorld]:
    """One world per test module after a ``full_sync_job`` run (``world.full_result``); tests add their own data."""
    with pytest.MonkeyPatch.context() as monkeypatch, _world(tmp_path_factory.mktemp("synced"), monkeypatch) as world:
        world.full_result = world.run("full_sync_job")
        assert world.full_result.success
        yield world


@pytest.fixture(scope="module")
def reported_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterWorld]:
    """A world synced by the CLI (Salesforce, one partner refused) with ``DAGSTER_HOME`` set: the runs are reported.

    The instance in ``DAGSTER_HOME`` is a real one on disk (not the ephemeral
    one jobs run on), so a webserver started on that home shows what the CLI
    reported: the slices' materializations and checks, ``prm/sync_health``,
    ``prm/failed_records``.
    """
    from fixtures.cli import invoke

    from connectors.sandbox.http import FaultConfig

    with pytest.MonkeyPatch.context() as monkeypatch, _world(tmp_path_factory.mktemp("reported"), monkeypatch) as world:
        home = Path(os.environ["DAGSTER_HOME"])
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
        monkeypatch.setenv("PRM_SYNC_OBSERVERS", "on")
        world.cluster.apps["salesforce"].faults = FaultConfig(invalid_values={"Name": [world.data.partners[0]["name"]]})
        synced = invoke(["sync", "--system", "salesforce"])
        assert synced.exit_code == 5, synced.output  # finished, with refused records
        assert "reported to Dagster" in synced.stderr
        world.cluster.apps["salesforce"].faults = FaultConfig()
        yield world
