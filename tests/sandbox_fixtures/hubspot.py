"""The ``hubspot_sandbox`` fixture: the HubSpot sandbox on 127.0.0.1, port 0, strict mode.

The portal starts bare and is provisioned by ``prm-sync setup``'s engine
function (``sandbox_fixtures.provision``) before the test sees it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hubspot import HubSpot
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from pydantic import SecretStr
from urllib3 import Retry

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.sandbox.http import SandboxServer
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.hubspot.schema import information_group
from sandbox_fixtures.provision import provision

TOKEN = "hubspot-test-token"
SPECS = Path(os.environ.get("PRM_SYNC_HUBSPOT_SPECS", Path(__file__).resolve().parents[1] / "specs/hubspot"))


@functools.cache
def _openapi(spec: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS / f"{spec}.json"))


def assert_matches_spec(spec: str, method: str, path: str, status: int, body: Any) -> None:
    """Validate one sandbox answer against HubSpot's published OpenAPI document ``spec``."""
    data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    if status >= 400:
        # error answers are declared as */* content, which openapi-core does not parse: check the Error schema
        document = json.loads((SPECS / f"{spec}.json").read_text())
        schema = {"$ref": "#/components/schemas/Error", "components": document["components"]}
        jsonschema.validate(json.loads(data), schema)
        return
    request = MockRequest("https://api.hubapi.com", method.lower(), path)
    _openapi(spec).validate_response(request, MockResponse(data, status_code=status))


@dataclass
class RunningHubSpot:
    app: HubSpotSandbox
    url: str
    access_token: str

    def settings(self, **overrides: object) -> HubSpotSettings:
        """Connector settings pointing at this sandbox (short timeout so failure tests stay quick)."""
        values: dict[str, object] = {
            "base_url": self.url,
            "access_token": SecretStr(self.access_token),
            "timeout_seconds": 5.0,
            "max_retries": 3,
            **overrides,
        }
        return HubSpotSettings.model_validate(values)

    def add_unique_property(self, object_type: str, name: str = "prm_id") -> None:
        """An admin adds a unique-value property no mapping asks for (properties API, through hubspot-api-client)."""
        self.client().crm.properties.core_api.create(object_type, {
            "name": name, "label": name, "type": "string", "fieldType": "text",
            "groupName": information_group(object_type),
            "hasUniqueValue": True,
        })

    def client(self, token: str | None = None) -> HubSpot:
        """hubspot-api-client pointed at the sandbox, with urllib3's retries off so tests see every answer."""
        return HubSpot(access_token=token or self.access_token, host=self.url, retry=Retry(total=False))


@pytest.fixture
def hubspot_sandbox() -> Iterator[RunningHubSpot]:
    app = HubSpotSandbox(strict=True, access_token=TOKEN)
    server = SandboxServer(app, host="127.0.0.1", port=0).start()
    try:
        running = RunningHubSpot(app=app, url=server.url, access_token=TOKEN)
        provision({"hubspot": HubSpotConnector(running.settings(requests_per_10s=1000))}, {"hubspot": app})
        yield running
    finally:
        server.stop()
    assert app.unimplemented == []
