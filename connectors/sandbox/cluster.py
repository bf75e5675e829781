"""Start all four sandboxes together and describe them in a state file.

The state file is how every other process finds them: the CLI
(``--sandbox-state``), ``dagster dev`` (``PRM_SYNC_SANDBOX_STATE``), the
benchmarks. Tokens are random per start so a leaked one is worthless and
secret-scanning tests have a known value to look for.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.sandbox.http import SandboxApp, SandboxServer
from connectors.sandbox.tls import make_sandbox_ca
from prm_sync.errors import listen_error

SYSTEMS = ("salesforce", "hubspot", "lms", "erp")
ERP_DATABASE = "prm"
ERP_LOGIN = "prm-sync"


def build_app(
    system: str, *, strict: bool, access_token: str, lms_basic: tuple[str, str] | None = None, bare: bool = True
) -> SandboxApp:
    """The sandbox app for one system (imported lazily: each is a sizeable module).

    ``bare``: the CRMs start as a new customer's org and portal do, without
    our custom fields, properties and objects (``prm-sync setup`` creates them).
    """
    if system == "salesforce":
        from connectors.sandbox.salesforce import SalesforceSandbox

        return SalesforceSandbox(strict=strict, access_token=access_token, bare=bare)
    if system == "hubspot":
        from connectors.sandbox.hubspot import HubSpotSandbox

        return HubSpotSandbox(strict=strict, access_token=access_token, bare=bare)
    if system == "lms":
        from connectors.sandbox.lms import LmsSandbox

        key, secret = lms_basic or ("sandbox-key", "sandbox-secret")
        return LmsSandbox(strict=strict, access_token=access_token, key=key, secret=secret)
    if system == "erp":
        from connectors.sandbox.erp import ErpSandbox

        return ErpSandbox(strict=strict, access_token=access_token)
    msg = f"unknown sandbox system {system!r}; expected one of {', '.join(SYSTEMS)}"
    raise ValueError(msg)


class SandboxCluster:
    """The four sandboxes on loopback, with optional file-backed state."""

    def __init__(
        self,
        work_dir: Path,
        *,
        systems: tuple[str, ...] = SYSTEMS,
        strict: bool = False,
        ports: dict[str, int] | None = None,
        persist: bool = False,
        host: str = "127.0.0.1",
        bare: bool = True,
    ) -> None:
        self.work_dir = work_dir.resolve()
        self.bare = bare  # the state file names files here: absolute, for any process
        self.systems = systems
        self.strict = strict
        self.ports = ports or {}
        self.persist = persist
        self.host = host
        self.tokens = {name: f"sbx-{name}-{secrets.token_urlsafe(18)}" for name in systems}
        self.lms_basic = (f"sbx-lms-key-{secrets.token_hex(6)}", f"sbx-lms-secret-{secrets.token_urlsafe(18)}")
        self.apps: dict[str, SandboxApp] = {}
        self.servers: dict[str, SandboxServer] = {}

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> SandboxCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        tls = make_sandbox_ca(self.work_dir / "tls")
        for name in self.systems:
            app = build_app(name, strict=self.strict, access_token=self.tokens[name], lms_basic=self.lms_basic,
                            bare=self.bare)
            if name == "salesforce":
                self._connected_app(app)
            saved = self._state_path(name)
            if self.persist and saved.exists():
                app.load_state(json.loads(saved.read_text()))
            self.apps[name] = app
            kwargs: dict[str, Any] = {"host": self.host, "port": self.ports.get(name, 0)}
            if name == "salesforce":  # simple-salesforce only speaks https
                kwargs.update(tls_cert=str(tls.cert), tls_key=str(tls.key))
            try:
                self.servers[name] = SandboxServer(app, **kwargs).start()
            except OSError as exc:  # a port in use or a host not of this machine: one line for `sandbox up`
                raise listen_error(self.host, kwargs["port"], exc, option=f"--{name}-port") from None
        self._ca_bundle = str(tls.ca_bundle)
        return self

    def _connected_app(self, app: SandboxApp) -> None:
        """The org's connected app for OAuth: its certificate uploaded, its private key left for clients."""
        from connectors.sandbox.salesforce import SalesforceSandbox
        from connectors.sandbox.salesforce.oauth import make_connected_app_files

        assert isinstance(app, SalesforceSandbox)
        self.app_files = make_connected_app_files(self.work_dir / "oauth")
        self.connected_app = app.oauth.new_app(self.app_files.certificate)

    def stop(self) -> None:
        if self.persist:
            self.save()
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def save(self) -> None:
        for name, app in self.apps.items():
            self._state_path(name).write_text(json.dumps(app.dump_state(), default=str))

    def _state_path(self, name: str) -> Path:
        return self.work_dir / f"{name}-state.json"

    def __enter__(self) -> SandboxCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- description -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        systems: dict[str, dict[str, Any]] = {}
        for name, server in self.servers.items():
            entry: dict[str, Any] = {"access_token": self.tokens[name]}
            if name == "salesforce":
                oauth = self.apps[name].oauth  # type: ignore[attr-defined]
                entry["instance_url"] = server.url
                entry["ca_bundle"] = self._ca_bundle
                entry["oauth"] = {
                    "login_url": server.url,
                    "audience": "https://login.salesforce.com",  # the sandbox is a production org
                    "consumer_key": self.connected_app.consumer_key,
                    "consumer_secret": self.connected_app.consumer_secret,
                    "username": oauth.integration_user.username,
                    "private_key_file": str(self.app_files.private_key),
                    "certificate_file": str(self.app_files.certificate),
                }
            else:
                entry["base_url"] = server.url
            if name == "erp":
                entry.update(database=ERP_DATABASE, login=ERP_LOGIN)
            if name == "lms":
                entry.update(key=self.lms_basic[0], secret=self.lms_basic[1])
            systems[name] = entry
        return {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(), "systems": systems}

    def write_state(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2))
        os.chmod(tmp, 0o600)  # it holds the sandbox tokens
        tmp.replace(path)
        return path

    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}


def serve_until_stopped(
    cluster: SandboxCluster, state_file: Path, on_ready: Callable[[SandboxCluster], None]
) -> None:
    """Run until Ctrl-C or SIGTERM, then stop the servers and remove the state file."""
    stop = threading.Event()

    def _handle(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cluster.start()
        on_ready(cluster)
        cluster.write_state(state_file)  # last: a client that sees the file finds the sandboxes seeded
        while not stop.wait(1.0):
            if cluster.persist:
                cluster.save()
    finally:
        cluster.stop()
        state_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
