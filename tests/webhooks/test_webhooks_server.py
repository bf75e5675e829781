"""The HTTP receiver end to end on port 0, and the guarantee that the client secret never leaks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from prm_sync.webhooks import (
    HUBSPOT_PATH,
    SALESFORCE_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookServer,
    start_server,
)
from prm_sync.webhooks.hubspot import hubspot_v3_signature


@pytest.fixture
def receiver(webhook_store, settings, secret) -> Iterator[WebhookServer]:
    settings = settings.model_copy(
        update={"public_base_url": "https://hooks.example.com", "max_body_bytes": 64 * 1024}
    )
    server, thread = start_server(webhook_store, settings, hubspot_secret=secret, host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment for loopback
    try:
        yield session
    finally:
        session.close()


def _hubspot_headers(
    kit, body: bytes, *, secret: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    timestamp = kit.ms(at or datetime.now(UTC))
    # signed over the public URL hubspot calls, not the loopback address the test posts to
    url = "https://hooks.example.com" + HUBSPOT_PATH
    return {
        SIGNATURE_HEADER: hubspot_v3_signature("POST", url, body, timestamp, secret or kit.CLIENT_SECRET),
        TIMESTAMP_HEADER: timestamp,
        "Content-Type": "application/json",
    }


def test_hubspot_end_to_end(kit, receiver, http, webhook_store) -> None:
    body = kit.hubspot_body(kit.hubspot_event(1), kit.hubspot_event(2, "deal.propertyChange"))
    response = http.post(
        receiver.url + HUBSPOT_PATH, data=body, headers=_hubspot_headers(kit, body), timeout=5
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0}
    replay = http.post(receiver.url + HUBSPOT_PATH, data=body, headers=_hubspot_headers(kit, body), timeout=5)
    assert replay.json() == {"accepted": 0, "duplicates": 2}
    assert kit.inbox_count(webhook_store) == 2


def test_hubspot_rejections_over_http(kit, receiver, http, webhook_store) -> None:
    body = kit.hubspot_body(kit.hubspot_event(1))
    tampered = http.post(
        receiver.url + HUBSPOT_PATH,
        data=body.replace(b"Acme", b"Evil"),
        headers=_hubspot_headers(kit, body),
        timeout=5,
    )
    unsigned = http.post(receiver.url + HUBSPOT_PATH, data=body, timeout=5)
    stale = http.post(
        receiver.url + HUBSPOT_PATH,
        data=body,
        headers=_hubspot_headers(kit, body, at=datetime.fromtimestamp(time.time() - 600, UTC)),
        timeout=5,
    )
    for response in (tampered, unsigned, stale):
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    assert kit.inbox_count(webhook_store) == 0


def test_salesforce_end_to_end(kit, receiver, http, webhook_store) -> None:
    body = kit.outbound_message(
        ("04l5g00000AAAA1AAA", "Opportunity", "0065g00000OPP01AAA", {"StageName": "Closed Won"})
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    response = http.post(receiver.url + SALESFORCE_PATH, data=body, headers=headers, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert b"<Ack>true</Ack>" in response.content
    wrong_org = kit.outbound_message(
        ("04l5g00000AAAA2AAA", "Account", "0015g00000ACC01AAA", {}), org_id="00D000000000001AAA"
    )
    refused = http.post(receiver.url + SALESFORCE_PATH, data=wrong_org, headers=headers, timeout=5)
    assert refused.status_code == 403
    assert [e.delivery_id for e in kit.inbox(webhook_store)] == ["04l5g00000AAAA1AAA"]


def test_routing_and_limits(kit, receiver, http) -> None:
    assert http.post(receiver.url + "/webhooks/other", data=b"x", timeout=5).status_code == 404
    assert http.get(receiver.url + HUBSPOT_PATH, timeout=5).status_code == 405
    assert http.get(receiver.url + "/healthz", timeout=5).text == "ok"
    too_big = http.post(receiver.url + SALESFORCE_PATH, data=b"x" * (65 * 1024), timeout=5)
    assert too_big.status_code == 413


def test_hubspot_endpoint_is_off_without_a_secret(kit, webhook_store, settings, http) -> None:
    server, thread = start_server(webhook_store, settings, hubspot_secret=None, host="127.0.0.1", port=0)
    try:
        body = kit.hubspot_body(kit.hubspot_event(1))
        response = http.post(
            server.url + HUBSPOT_PATH, data=body, headers=_hubspot_headers(kit, body), timeout=5
        )
        assert response.status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert kit.inbox_count(webhook_store) == 0


def test_client_secret_never_appears_in_responses_or_logs(
    kit, receiver, http, webhook_store, settings, secret, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    body = kit.hubspot_body(kit.hubspot_event(1))
    good = _hubspot_headers(kit, body)
    wrong = _hubspot_headers(kit, body, secret="not-the-secret")
    responses = [
        http.post(receiver.url + HUBSPOT_PATH, data=body, headers=good, timeout=5),
        http.post(receiver.url + HUBSPOT_PATH, data=body + b" ", headers=good, timeout=5),
        http.post(receiver.url + HUBSPOT_PATH, data=body, headers=wrong, timeout=5),
        http.post(receiver.url + HUBSPOT_PATH, data=b"{", headers=_hubspot_headers(kit, b"{"), timeout=5),
        http.post(receiver.url + HUBSPOT_PATH, data=body, timeout=5),
    ]
    assert [r.status_code for r in responses] == [200, 401, 401, 400, 401]
    texts = [r.text + json.dumps(dict(r.headers)) for r in responses]
    records = [r.getMessage() + str(r.exc_info or "") for r in caplog.records]
    assert any("bad_signature" in m for m in records)  # the reason is logged ...
    for text in [*texts, *records, caplog.text]:
        assert kit.CLIENT_SECRET not in text  # ... the secret never
        assert good[SIGNATURE_HEADER] not in text and wrong[SIGNATURE_HEADER] not in text
    assert kit.CLIENT_SECRET not in repr(settings) and kit.CLIENT_SECRET not in repr(secret)
