"""The receiver under a slow-loris attack: bounded threads, good requests still answered, nothing printed.

300 connections send half a request and stop, and one more trickles a byte
at a time. They must not hold a thread each; a signed HubSpot delivery sent
while they hang is stored; once ``read_timeout_seconds`` has passed the
receiver has closed every one of them, and neither that nor the senders
hanging up prints a traceback.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from prm_sync.webhooks import HUBSPOT_PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookServer, start_server
from prm_sync.webhooks.hubspot import hubspot_v3_signature

ATTACKERS = 300
WORKERS = 4
READ_TIMEOUT = 3.0
HALF_REQUEST = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: hooks.example.com\r\nContent-Length: 100\r\n"


@pytest.fixture
def receiver(webhook_store, settings, secret) -> Iterator[WebhookServer]:
    settings = settings.model_copy(update={"public_base_url": "https://hooks.example.com", "workers": WORKERS,
                                           "read_timeout_seconds": READ_TIMEOUT, "max_connections": 1000})
    server, thread = start_server(webhook_store, settings, hubspot_secret=secret, host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_by_server(sock: socket.socket) -> bool:
    """The server hung up: the read ends (or resets) instead of timing out."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _signed(kit, body: bytes) -> dict[str, str]:
    timestamp = kit.ms(datetime.now(UTC))
    url = "https://hooks.example.com" + HUBSPOT_PATH
    return {SIGNATURE_HEADER: hubspot_v3_signature("POST", url, body, timestamp, kit.CLIENT_SECRET),
            TIMESTAMP_HEADER: timestamp, "Content-Type": "application/json"}


def test_slow_loris_holds_no_threads_and_prints_nothing(
    kit, receiver, webhook_store, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="prm_sync.webhooks")
    threads_before = threading.active_count()
    attackers: list[socket.socket] = []
    try:
        for _ in range(ATTACKERS):
            sock = socket.create_connection(receiver.server_address, timeout=5)
            sock.sendall(HALF_REQUEST)
            attackers.append(sock)
        trickler = socket.create_connection(receiver.server_address, timeout=5)
        attackers.append(trickler)

        # while they hang, a real delivery is answered and stored
        body = kit.hubspot_body(kit.hubspot_event(1))
        with requests.Session() as http:
            http.trust_env = False
            started = time.monotonic()
            answer = http.post(receiver.url + HUBSPOT_PATH, data=body, headers=_signed(kit, body), timeout=5)
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - started < READ_TIMEOUT  # not queued behind the attackers
            assert http.get(receiver.url + "/healthz", timeout=5).text == "ok"
        assert kit.inbox_count(webhook_store) == 1
        assert threading.active_count() <= threads_before + WORKERS  # no thread per connection

        for byte in HALF_REQUEST[: int(READ_TIMEOUT / 0.1) + 5]:  # a byte every 0.1 s outlasts the deadline
            try:
                trickler.send(bytes([byte]))
            except OSError:
                break  # the receiver hung up on it
            time.sleep(0.1)

        deadline = time.monotonic() + READ_TIMEOUT + 5
        open_ones = list(attackers)
        while open_ones and time.monotonic() < deadline:
            open_ones = [s for s in open_ones if not _closed_by_server(s)]
        assert open_ones == [], f"{len(open_ones)} slow connections still open after the read timeout"
    finally:
        for sock in attackers:
            sock.close()  # the senders hang up too: quietly
    time.sleep(0.3)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Traceback" not in caplog.text
    assert "closing" in caplog.text and "no complete request within" in caplog.text  # logged at debug, not printed
    assert all(r.levelno <= logging.DEBUG for r in caplog.records if "closing" in r.getMessage())
