"""Streamed (chunked) uploads land every record, read back through each API.

The issue's acceptance: a Bulk API 2.0 CSV upload and a HubSpot batch upsert
sent with ``Transfer-Encoding: chunked`` (what ``http.client`` does with an
iterable body, and what streaming clients do) must land every row, not
answer 201 for an empty body.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fixtures.fidelity import marker

ROWS = 300


class Client:
    """``http.client`` with a body streamed in pieces (so it is sent chunked) and JSON answers."""

    def __init__(self, host: str, port: int, headers: dict[str, str], tls: ssl.SSLContext | None = None):
        cls = http.client.HTTPSConnection if tls else http.client.HTTPConnection
        self.conn = cls(host, port, timeout=10, **({"context": tls} if tls else {}))
        self.headers = headers

    def call(self, method: str, path: str, body: Any = None, *, stream: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, Any]:
        headers = dict(self.headers)
        payload: bytes | Iterator[bytes] | None = None
        if stream is not None:
            payload = (stream[i : i + 1000] for i in range(0, len(stream), 1000))
            headers["Content-Type"] = content_type
        elif body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=payload, headers=headers, encode_chunked=stream is not None)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def salesforce(salesforce_sandbox: Any) -> Iterator[Client]:
    server = salesforce_sandbox.server
    tls = ssl.create_default_context(cafile=salesforce_sandbox.ca_bundle)
    client = Client(server.host, server.port, {"Authorization": f"Bearer {salesforce_sandbox.access_token}"}, tls)
    yield client
    client.close()


@pytest.fixture
def hubspot(hubspot_sandbox: Any) -> Iterator[Client]:
    host, port = hubspot_sandbox.url.removeprefix("http://").split(":")
    client = Client(host, int(port), {"Authorization": f"Bearer {hubspot_sandbox.access_token}"})
    yield client
    client.close()


def test_chunked_bulk_csv_upload_lands_every_row(salesforce: Client) -> None:
    base = "/services/data/v59.0"
    prefix = marker()
    csv = "Name,BillingCity\n" + "".join(f"{prefix}-{i:04d},Chunkton\n" for i in range(ROWS))
    status, job = salesforce.call("POST", f"{base}/jobs/ingest", {"object": "Account", "operation": "insert",
                                                                   "contentType": "CSV", "lineEnding": "LF"})
    assert status == 200 and job["state"] == "Open"
    _, resources = salesforce.call("GET", f"{base}/")
    assert resources["identity"].endswith("/" + job["createdById"])  # the job is the session user's
    status, _ = salesforce.call("PUT", f"{base}/jobs/ingest/{job['id']}/batches", stream=csv.encode(),
                                content_type="text/csv")
    assert status == 201
    status, _ = salesforce.call("PATCH", f"{base}/jobs/ingest/{job['id']}", {"state": "UploadComplete"})
    assert status == 200
    info: dict[str, Any] = {}
    for _ in range(5):
        status, info = salesforce.call("GET", f"{base}/jobs/ingest/{job['id']}")
        if info["state"] == "JobComplete":
            break
    assert info["state"] == "JobComplete", info
    assert info["numberRecordsProcessed"] == ROWS and info["numberRecordsFailed"] == 0
    soql = quote(f"SELECT Name, BillingCity FROM Account WHERE Name LIKE '{prefix}-%' ORDER BY Name")
    status, result = salesforce.call("GET", f"{base}/query/?q={soql}")
    assert status == 200 and result["totalSize"] == ROWS
    assert [r["Name"] for r in result["records"]] == [f"{prefix}-{i:04d}" for i in range(ROWS)]
    assert {r["BillingCity"] for r in result["records"]} == {"Chunkton"}


def test_chunked_hubspot_batch_upsert_lands_every_record(hubspot: Client) -> None:
    prefix = marker()
    emails = [f"{prefix}-{i}@example.com" for i in range(100)]  # a batch holds at most 100 inputs
    inputs = [{"idProperty": "email", "id": e, "properties": {"firstname": f"Chunk {i}", "lastname": prefix}}
              for i, e in enumerate(emails)]
    status, body = hubspot.call("POST", "/crm/v3/objects/contacts/batch/upsert",
                                stream=json.dumps({"inputs": inputs}).encode())
    assert status == 200 and len(body["results"]) == 100 and all(r["new"] for r in body["results"])
    status, read = hubspot.call("POST", "/crm/v3/objects/contacts/batch/read", {
        "idProperty": "email", "properties": ["email", "firstname", "lastname"], "inputs": [{"id": e} for e in emails]})
    assert status == 200 and "errors" not in read
    got = {r["properties"]["email"]: r["properties"] for r in read["results"]}
    assert sorted(got) == sorted(emails)
    assert all(got[e]["firstname"] == f"Chunk {i}" and got[e]["lastname"] == prefix for i, e in enumerate(emails))
