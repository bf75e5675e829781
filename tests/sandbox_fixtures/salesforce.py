"""``salesforce_sandbox``: a strict Salesforce sandbox served over TLS on 127.0.0.1:0.

simple-salesforce always speaks https, so the server uses a throwaway CA
(made once per test session); clients trust it through ``ca_bundle``.
Teardown stops the server and fails the test if any request hit a path the
sandbox does not implement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from connectors.salesforce import SalesforceSettings
from connectors.sandbox.http import SandboxServer
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.tls import TlsFiles, make_sandbox_ca


@dataclass
class SalesforceSandboxHandle:
    app: SalesforceSandbox
    server: SandboxServer
    tls: TlsFiles

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def access_token(self) -> str:
        return self.app.access_token

    @property
    def ca_bundle(self) -> str:
        return str(self.tls.ca_bundle)

    def client(self, access_token: str | None = None) -> Salesforce:
        """A plain simple-salesforce client (no connector) for conformance tests.

        ``trust_env`` is off on purpose: REQUESTS_CA_BUNDLE would otherwise replace
        ``session.verify`` and the sandbox CA would not be trusted.
        """
        session = requests.Session()
        session.verify = self.ca_bundle
        session.trust_env = False
        return Salesforce(instance_url=self.url, session_id=access_token or self.access_token, session=session)

    def settings(self, **overrides: Any) -> SalesforceSettings:
        """Connector settings for this sandbox, with fast retries and bulk polling for tests."""
        values: dict[str, Any] = {
            "instance_url": self.url,
            "access_token": self.access_token,
            "ca_bundle": self.ca_bundle,
            "retry_wait_initial": 0.001,
            "retry_wait_max": 0.01,
            "bulk_poll_seconds": 0,
            "timeout_seconds": 5,
        }
        values.update(overrides)
        return SalesforceSettings(**values)


@pytest.fixture(scope="session")
def salesforce_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_sandbox_ca(Path(tmp_path_factory.mktemp("salesforce-tls")))


@pytest.fixture
def salesforce_sandbox(salesforce_tls: TlsFiles) -> Iterator[SalesforceSandboxHandle]:
    app = SalesforceSandbox(strict=True)
    server = SandboxServer(app, tls_cert=str(salesforce_tls.cert), tls_key=str(salesforce_tls.key)).start()
    try:
        yield SalesforceSandboxHandle(app, server, salesforce_tls)
    finally:
        server.stop()
    assert app.unimplemented == [], f"requests the Salesforce sandbox does not implement: {app.unimplemented}"
