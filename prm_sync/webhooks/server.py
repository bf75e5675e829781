"""The HTTP receiver: a small bounded server (``listener``) in front of the handlers.

Requests are small and the work is one short transaction, so no ASGI stack:
``BoundedHTTPServer`` reads each request whole on one selector thread (read
deadline, connection cap) and answers it on a small worker pool, so slow or
dropped senders cost neither threads nor tracebacks.
Run it behind a TLS-terminating proxy; set ``webhooks.public_base_url`` to
the scheme and host senders call, because HubSpot signs that URL, not the
one this process sees.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import SecretStr

from prm_sync.config.settings import WebhooksConfig
from prm_sync.errors import listen_error
from prm_sync.store.db import Store
from prm_sync.webhooks.envelope import HUBSPOT, SALESFORCE
from prm_sync.webhooks.errors import RejectReason
from prm_sync.webhooks.handlers import (
    WebhookRequest,
    WebhookResponse,
    handle_hubspot,
    handle_salesforce,
    rejection_response,
)
from prm_sync.webhooks.listener import BoundedHTTPServer, BufferedHandler

log = logging.getLogger("prm_sync.webhooks")

HUBSPOT_PATH = "/webhooks/hubspot"
SALESFORCE_PATH = "/webhooks/salesforce"
_ROUTES = {HUBSPOT_PATH: HUBSPOT, SALESFORCE_PATH: SALESFORCE}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookServer(BoundedHTTPServer):
    """Holds what the request handler needs; one instance per ``serve`` run."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: Store,
        settings: WebhooksConfig,
        hubspot_secret: SecretStr | None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(
            address,
            _RequestHandler,
            workers=settings.workers,
            read_timeout=settings.read_timeout_seconds,
            write_timeout=settings.read_timeout_seconds,
            max_connections=settings.max_connections,
            max_body_bytes=settings.max_body_bytes,
        )
        self.store = store
        self.settings = settings
        self.hubspot_secret = hubspot_secret
        self.clock = clock

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def dispatch(self, source: str, request: WebhookRequest) -> WebhookResponse:
        now = self.clock()
        if source == HUBSPOT:
            if self.hubspot_secret is None:
                # hubspot disabled: same answer as an unknown path, nothing to probe
                return WebhookResponse(status=404, content_type="text/plain", body=b"not found")
            return handle_hubspot(self.store, request, self.settings, now, client_secret=self.hubspot_secret)
        return handle_salesforce(self.store, request, self.settings, now)


class _RequestHandler(BufferedHandler):
    server: WebhookServer
    server_version = "prm-sync-webhooks"
    sys_version = ""

    def _send(self, response: WebhookResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _plain(self, status: int, text: str) -> None:
        self._send(WebhookResponse(status=status, content_type="text/plain", body=text.encode("ascii")))

    def _signed_url(self) -> str:
        base = self.server.settings.public_base_url
        if base:
            return base.rstrip("/") + self.path
        return f"http://{self.headers.get('Host', '')}{self.path}"

    def do_POST(self) -> None:
        source = _ROUTES.get(urlsplit(self.path).path)
        if source is None:
            self._plain(404, "not found")
            return
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self._plain(411, "length required")
            return
        if length > self.server.settings.max_body_bytes:
            self.close_connection = True  # the unread body must not be parsed as the next request
            self._send(rejection_response(source, RejectReason.too_large))
            return
        request = WebhookRequest(
            method="POST",
            url=self._signed_url(),
            headers={k: v for k, v in self.headers.items()},
            body=self.rfile.read(length),
        )
        try:
            response = self.server.dispatch(source, request)
        except Exception:
            # the store failed: 5xx makes both senders redeliver later; the body names nothing
            log.exception("%s webhook failed while storing", source)
            response = WebhookResponse(status=500, content_type="text/plain", body=b"internal error")
        self._send(response)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._plain(200, "ok")
        elif path in _ROUTES:
            self._plain(405, "method not allowed")
        else:
            self._plain(404, "not found")

    def log_message(self, format: str, *args: object) -> None:
        # the access log goes through logging (path and status only; headers carry the signature)
        log.debug("%s %s", self.address_string(), format % args)


def start_server(
    store: Store,
    settings: WebhooksConfig,
    *,
    hubspot_secret: SecretStr | None,
    host: str | None = None,
    port: int | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> tuple[WebhookServer, threading.Thread]:
    """Start serving on a background thread; stop with ``server.shutdown(); server.server_close()``."""
    address = (host or settings.host, settings.port if port is None else port)
    try:
        server = WebhookServer(address, store=store, settings=settings, hubspot_secret=hubspot_secret, clock=clock)
    except OSError as exc:  # a port in use, an address not of this machine, a name that does not resolve
        raise listen_error(*address, exc) from None
    thread = threading.Thread(target=server.serve_forever, name="prm-sync-webhooks", daemon=True)
    thread.start()
    return server, thread
