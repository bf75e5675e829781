"""The ``lms_sandbox`` fixture: an xAPI LRS sandbox on 127.0.0.1, port 0, strict mode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from connectors.lms import LmsSettings
from connectors.sandbox.http import SandboxServer
from connectors.sandbox.lms import LmsSandbox

TOKEN = "lms-test-token"
KEY = "lms-test-key"
SECRET = "lms-test-secret"


@dataclass
class RunningLms:
    app: LmsSandbox
    url: str
    access_token: str
    key: str = KEY
    secret: str = SECRET

    def settings(self, **overrides: object) -> LmsSettings:
        """Connector settings for this sandbox (HTTP Basic), with fast backoff so retry tests stay quick."""
        values: dict[str, object] = {
            "base_url": self.url,
            "key": self.key,
            "secret": SecretStr(self.secret),
            "timeout_seconds": 5.0,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            **overrides,
        }
        return LmsSettings.model_validate(values)


@pytest.fixture
def lms_sandbox() -> Iterator[RunningLms]:
    app = LmsSandbox(strict=True, access_token=TOKEN, key=KEY, secret=SECRET)
    server = SandboxServer(app, host="127.0.0.1", port=0).start()
    try:
        yield RunningLms(app=app, url=server.url, access_token=TOKEN)
    finally:
        server.stop()
    assert app.unimplemented == []
