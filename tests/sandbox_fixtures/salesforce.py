"""``salesforce_sandbox``: a strict Salesforce sandbox served over TLS on 127.0.0.1:0.

simple-salesforce always speaks https, so the server uses a throwaway CA
(made once per test session); clients trust it through ``ca_bundle``. The
org starts bare and is provisioned by ``prm-sync setup``'s engine function
(``sandbox_fixtures.provision``). The org has a connected app whose certificate (and private key, made once per
session) serve the OAuth tests: ``oauth_settings("jwt_bearer")``.
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

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce_auth import ClientCredentials, JwtBearer
from connectors.sandbox.http import SandboxServer
from connectors.sandbox.salesforce import SalesforceSandbox
from connectors.sandbox.salesforce.oauth import AppFiles, ConnectedApp, make_connected_app_files
from connectors.sandbox.tls import TlsFiles, make_sandbox_ca
from sandbox_fixtures.provision import provision


@dataclass
class SalesforceSandboxHandle:
    app: SalesforceSandbox
    server: SandboxServer
    tls: TlsFiles
    app_files: AppFiles
    connected_app: ConnectedApp

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

    def add_external_id(self, object_name: str, field_name: str = "PRM_Id__c") -> None:
        """An admin adds a unique external-id field no mapping asks for (Tooling API, through simple-salesforce)."""
        self.client().toolingexecute("sobjects/CustomField/", method="POST", data={
            "FullName": f"{object_name}.{field_name}",
            "Metadata": {"label": field_name.removesuffix("__c"), "type": "Text", "length": 64,
                         "externalId": True, "unique": True},
        })
        self.grant(f"{object_name}.{field_name}")

    def grant(self, full_name: str, *, edit: bool = True) -> None:
        """Field-level security for the integration user on a field created through the Tooling API.

        A new field is invisible to every user until a permission set assigned to them grants it; the
        fixture's setup made ``PRM_Sync_Integration`` and assigned it, so the grant goes there.
        """
        sf = self.client()
        [permission_set] = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'PRM_Sync_Integration'")["records"]
        sf.FieldPermissions.create({"ParentId": permission_set["Id"], "SobjectType": full_name.split(".")[0],
                                    "Field": full_name, "PermissionsRead": True, "PermissionsEdit": edit})

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

    def credentials(self, method: str, **overrides: Any) -> JwtBearer | ClientCredentials:
        """OAuth credentials for the org's connected app (JWT: the integration user, aud login.salesforce.com)."""
        app = self.connected_app
        if method == "jwt_bearer":
            values: dict[str, Any] = {
                "login_url": self.url, "audience": "https://login.salesforce.com",
                "consumer_key": app.consumer_key, "username": self.app.oauth.integration_user.username,
                "private_key": self.app_files.private_key.read_text(), **overrides,
            }
            return JwtBearer(**values)
        values = {"login_url": self.url, "consumer_key": app.consumer_key,
                  "consumer_secret": app.consumer_secret, **overrides}
        return ClientCredentials(**values)

    def oauth_settings(self, method: str = "jwt_bearer", **overrides: Any) -> SalesforceSettings:
        """Connector settings signing in with OAuth instead of the static token."""
        values = {"access_token": None, "instance_url": None, "auth": self.credentials(method), **overrides}
        return self.settings(**values)


@pytest.fixture(scope="session")
def salesforce_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_sandbox_ca(Path(tmp_path_factory.mktemp("salesforce-tls")))


@pytest.fixture(scope="session")
def salesforce_app_files(tmp_path_factory: pytest.TempPathFactory) -> AppFiles:
    return make_connected_app_files(Path(tmp_path_factory.mktemp("salesforce-oauth")))


@pytest.fixture
def salesforce_sandbox(salesforce_tls: TlsFiles, salesforce_app_files: AppFiles) -> Iterator[SalesforceSandboxHandle]:
    app = SalesforceSandbox(strict=True)
    connected_app = app.oauth.new_app(salesforce_app_files.certificate)
    server = SandboxServer(app, tls_cert=str(salesforce_tls.cert), tls_key=str(salesforce_tls.key)).start()
    try:
        handle = SalesforceSandboxHandle(app, server, salesforce_tls, salesforce_app_files, connected_app)
        provision({"salesforce": SalesforceConnector(handle.settings())}, {"salesforce": app})
        yield handle
    finally:
        server.stop()
    assert app.unimplemented == [], f"requests the Salesforce sandbox does not implement: {app.unimplemented}"
