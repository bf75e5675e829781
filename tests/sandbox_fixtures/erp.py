"""The ``erp_sandbox`` fixture: an Odoo JSON-RPC sandbox on 127.0.0.1, port 0, strict mode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from connectors.erp import ErpSettings
from connectors.sandbox.erp import ErpSandbox
from connectors.sandbox.http import SandboxServer

TOKEN = "erp-test-api-key"
DATABASE = "prm-test"
LOGIN = "integration@example.com"


@dataclass
class RunningErp:
    app: ErpSandbox
    url: str
    access_token: str
    database: str = DATABASE
    login: str = LOGIN

    def settings(self, **overrides: object) -> ErpSettings:
        """Connector settings for this sandbox, with fast backoff so retry tests stay quick."""
        values: dict[str, object] = {
            "base_url": self.url,
            "database": self.database,
            "login": self.login,
            "access_token": SecretStr(self.access_token),
            "timeout_seconds": 5.0,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            **overrides,
        }
        return ErpSettings.model_validate(values)


@pytest.fixture
def erp_sandbox() -> Iterator[RunningErp]:
    app = ErpSandbox(strict=True, access_token=TOKEN, database=DATABASE, login=LOGIN)
    server = SandboxServer(app, host="127.0.0.1", port=0).start()
    try:
        yield RunningErp(app=app, url=server.url, access_token=TOKEN)
    finally:
        server.stop()
    assert app.unimplemented == []
