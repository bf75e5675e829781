"""``sync_env``: the whole product on loopback for end-to-end tests.

One object gives a test the four strict sandboxes, a PRM store seeded from
the demo generator, a ``Runtime`` whose connectors retry fast, and
``run(**scope)`` for a sync. Everything is torn down after the test.

API (kept small on purpose; other test suites build on it):

* ``sync_env`` - all four systems, SQLite store, ``seed=3``, ``scale=0.02``.
* ``make_sync_env(systems=..., mappings=..., store=..., seed_data=True, bare=True, provision=True)`` -
  a factory fixture for variants (fewer systems for speed, a tmp copy of
  ``mappings/`` with a changed rule, another store).
* ``sync_env_any_db`` - ``sync_env`` for Salesforce and HubSpot on each
  backend of the ``store`` fixture (SQLite and PostgreSQL).
* ``SyncEnv``: ``.runtime``, ``.cluster``, ``.apps``, ``.data``,
  ``.run(**scope_kwargs) -> RunReport`` (``SyncScope`` fields, plus
  ``crash_hook``/``dry_run``), ``.engine(**kwargs)``, ``.copy_mappings(dest)``,
  ``.reload_mappings(path)``, ``.cli(*args) -> CliResult`` (the real
  ``prm-sync`` entry point in-process), ``.write_config()`` (a YAML file for the CLI;
  the store is SQLite under its ``data_dir`` unless one was passed in).

Connector retries wait milliseconds, not seconds: a failure test exercises
the same code path without sleeping through real backoff.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.cli import CliResult, invoke
from hubspot import HubSpot
from simple_salesforce import Salesforce

from connectors.base import Connector
from connectors.sandbox.cluster import SYSTEMS, SandboxCluster
from connectors.sandbox.http import SandboxApp
from connectors.sandbox.seed import DemoData, generate
from connectors.sandbox.seeding import seed_sandboxes
from prm_sync.config import AppConfig, load_config, point_at_sandboxes
from prm_sync.demo import seed_store
from prm_sync.mapping.apply import load_mappings
from prm_sync.runtime import Runtime
from prm_sync.setup import SETUP_SYSTEMS, SetupPlan, run_setup
from prm_sync.store.db import Store, make_engine
from prm_sync.sync.connections import build_connector
from prm_sync.sync.context import CrashHook
from prm_sync.sync.engine import SyncEngine, SyncScope
from prm_sync.sync.stats import RunReport
from sandbox_fixtures.provision import reset_usage

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "config" / "demo.yaml"
MAPPINGS = REPO / "mappings"
FAST_WAIT = 0.01  # seconds; the longest a test connector ever sleeps between retries


def salesforce_client(info: dict[str, Any]) -> Salesforce:
    """simple-salesforce on a sandbox org, from its entry in the cluster state (``state()["systems"]["salesforce"]``)."""
    session = requests.Session()
    session.verify = info["ca_bundle"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sandbox CA
    return Salesforce(instance_url=info["instance_url"], session_id=info["access_token"], session=session)


def hubspot_client(info: dict[str, Any]) -> HubSpot:
    """hubspot-api-client on a sandbox portal, from its entry in the cluster state."""
    return HubSpot(access_token=info["access_token"], host=info["base_url"].rstrip("/"))


def _fast_sleep(seconds: float) -> None:
    time.sleep(min(seconds, FAST_WAIT))


def fast_connector(config: AppConfig, system: str, *, timeout_seconds: float = 5.0) -> Connector:
    """The configured connector, rebuilt with millisecond retry waits and a short timeout."""
    built = build_connector(config, system)
    if system == "salesforce":
        from connectors.salesforce import SalesforceConnector

        settings = built.settings.model_copy(  # type: ignore[attr-defined]
            update={"retry_wait_initial": FAST_WAIT, "retry_wait_max": FAST_WAIT, "timeout_seconds": timeout_seconds}
        )
        return SalesforceConnector(settings)
    if system == "hubspot":
        from connectors.hubspot import HubSpotConnector, RequestLimiter

        settings = built.settings.model_copy(update={"timeout_seconds": timeout_seconds})  # type: ignore[attr-defined]
        return HubSpotConnector(settings, sleep=_fast_sleep, limiter=RequestLimiter(settings.requests_per_10s, 10.0))
    settings = built.settings.model_copy(  # type: ignore[attr-defined]
        update={
            "backoff_base_seconds": FAST_WAIT,
            "backoff_max_seconds": FAST_WAIT,
            "max_retry_after_seconds": 1.0,
            "timeout_seconds": timeout_seconds,
        }
    )
    return type(built)(settings)  # type: ignore[call-arg]


@dataclass
class SyncEnv:
    """A running world: sandboxes, a seeded store and a runtime pointed at both."""

    runtime: Runtime
    cluster: SandboxCluster
    data: DemoData
    state_file: Path
    work_dir: Path

    @property
    def apps(self) -> dict[str, SandboxApp]:
        return self.cluster.apps

    @property
    def config(self) -> AppConfig:
        return self.runtime.config

    def salesforce(self) -> Salesforce:
        """The sandbox org through simple-salesforce, as a rep's tools reach it."""
        return salesforce_client(self.cluster.state()["systems"]["salesforce"])

    def hubspot(self) -> HubSpot:
        """The sandbox portal through hubspot-api-client."""
        return hubspot_client(self.cluster.state()["systems"]["hubspot"])

    def engine(self, *, crash_hook: CrashHook | None = None, with_rules: bool = True) -> SyncEngine:
        return self.runtime.engine(list(self.cluster.systems), crash_hook=crash_hook, with_rules=with_rules)

    def run(
        self, *, crash_hook: CrashHook | None = None, dry_run: bool = False, trigger: str = "cli", **scope_kwargs: Any
    ) -> RunReport:
        """One sync run; keyword arguments are ``SyncScope`` fields (systems, entities, full, record_ids)."""
        engine = self.engine(crash_hook=crash_hook)
        return engine.run(SyncScope(**scope_kwargs), dry_run=dry_run, trigger=trigger)

    def reconnect(self, *, timeout_seconds: float = 5.0) -> None:
        """Fresh connectors (a new process would have them): quota and call counters start at zero."""
        self.runtime._connectors = {
            s: fast_connector(self.runtime.config, s, timeout_seconds=timeout_seconds) for s in self.cluster.systems
        }

    def setup(self, *, dry_run: bool = False) -> SetupPlan:
        """``prm-sync setup``'s engine function on this env's CRMs: what a new customer runs first."""
        crms = [s for s in self.cluster.systems if s in SETUP_SYSTEMS]
        plan = run_setup(self.runtime.mappings, self.runtime.connectors(crms), dry_run=dry_run)
        failed = [i for i in plan.items if i.outcome not in ("created", "planned")]
        assert not failed, f"setup failed: {failed}"
        return plan

    def write_config(self, path: Path | None = None) -> Path:
        """The runtime's configuration as a YAML file, for CLI tests (``--config PATH``)."""
        import yaml

        target = path or self.work_dir / "prm_sync.yaml"
        target.write_text(yaml.safe_dump(self.runtime.config.model_dump(mode="json", exclude_none=True)))
        return target

    def cli(self, *args: str) -> CliResult:
        """Run ``prm-sync --config <this env> ARGS`` in-process through the real entry point.

        ``main()`` is the error boundary (exit codes, one-line errors), so the
        result is what a user sees; the config file is written on first use.
        """
        config = self.work_dir / "prm_sync.yaml"
        if not config.exists():
            self.write_config(config)
        return invoke(["--config", str(config), *args])

    def copy_mappings(self, dest: Path | None = None) -> Path:
        """A writable copy of ``mappings/`` (for tests that change a rule between runs)."""
        target = dest or self.work_dir / "mappings"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(MAPPINGS, target, ignore=shutil.ignore_patterns("tests"))
        return target

    def reload_mappings(self, path: Path) -> None:
        """Use the mappings under ``path`` from the next run on, as a restarted process would."""
        config = self.runtime.config.model_copy(update={"mappings": [path]})
        self.runtime.config = config
        self.runtime.mappings = load_mappings(config.mappings)


MakeSyncEnv = Callable[..., SyncEnv]


@pytest.fixture
def make_sync_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[MakeSyncEnv]:
    """Factory: ``make_sync_env(systems=("salesforce",), mappings=path, store=store, seed_data=True)``.

    ``config_update`` changes the demo config before it is pointed at the sandboxes (e.g. another sign-in).
    """
    started: list[tuple[SandboxCluster, Runtime, bool]] = []

    def make(
        *,
        systems: tuple[str, ...] = SYSTEMS,
        mappings: Path | None = None,
        store: Store | None = None,
        seed_data: bool = True,
        seed: int = 3,
        scale: float = 0.02,
        timeout_seconds: float = 5.0,
        config_update: Callable[[AppConfig], AppConfig] | None = None,
        bare: bool = True,
        provision: bool = True,
    ) -> SyncEnv:
        work = tmp_path / f"env{len(started)}"
        cluster = SandboxCluster(work / "sandbox", systems=systems, strict=True, bare=bare)
        cluster.start()
        owns_store = store is None
        runtime: Runtime | None = None
        try:
            state_file = cluster.write_state(work / "sandbox.json")
            config = load_config(DEMO_CONFIG)
            config = config.model_copy(
                update={
                    "data_dir": work / "data",
                    "mappings": [mappings or MAPPINGS],
                    "systems": config.systems.model_copy(
                        update={s: None for s in SYSTEMS if s not in systems}
                    ),
                }
            )
            if config.systems.hubspot is not None:
                hubspot = config.systems.hubspot.model_copy(update={"requests_per_10s": 1000})
                config = config.model_copy(update={"systems": config.systems.model_copy(update={"hubspot": hubspot})})
            if config_update is not None:
                config = config_update(config)
            config, secrets = point_at_sandboxes(config, state_file)
            for env_var, value in secrets.items():
                monkeypatch.setenv(env_var, value)  # restored at teardown
            if store is None:
                path = work / "data" / "prm_sync.sqlite"  # where the CLI looks for data_dir
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
                store = Store(make_engine(f"sqlite:///{path}"))
            runtime = Runtime(config=config, store=store, mappings=load_mappings(config.mappings))
            env = SyncEnv(runtime=runtime, cluster=cluster, data=generate(seed=seed, scale=scale),
                          state_file=state_file, work_dir=work)
            env.reconnect(timeout_seconds=timeout_seconds)
            if bare and provision:
                env.setup()
                for app in cluster.apps.values():
                    reset_usage(app)  # a test that counts calls counts its own
            if seed_data:
                seed_sandboxes(cluster, env.data)
                seed_store(runtime, env.data)
        except BaseException:
            cluster.stop()
            if runtime is not None and owns_store:
                runtime.close()
            raise
        started.append((cluster, runtime, owns_store))
        return env

    yield make
    for cluster, runtime, owns_store in started:
        cluster.stop()
        if owns_store:
            runtime.close()
        unexpected = {name: app.unimplemented for name, app in cluster.apps.items() if app.unimplemented}
        assert not unexpected, f"strict sandboxes got requests they do not implement: {unexpected}"


@pytest.fixture
def sync_env(make_sync_env: MakeSyncEnv) -> SyncEnv:
    """All four sandboxes, strict, seeded (seed 3, scale 0.02), SQLite store in tmp_path."""
    return make_sync_env()


@pytest.fixture
def sync_env_any_db(make_sync_env: MakeSyncEnv, store: Store) -> SyncEnv:
    """Salesforce and HubSpot over the ``store`` fixture: once on SQLite, once on PostgreSQL."""
    return make_sync_env(systems=("salesforce", "hubspot"), store=store)
