"""The HTTP plumbing every sandbox shares: routing, faults, strict mode, serving.

A sandbox is a ``SandboxApp`` subclass that registers routes and answers
``SandboxRequest`` with ``SandboxResponse``. ``SandboxServer`` serves one app
on loopback (port 0 by default, optional TLS) in a background thread, so the
same object is a pytest fixture, a ``prm-sync sandbox up`` process and the
demo's backend. Nothing here knows about any vendor: what differs per
service (its error body, the content codings it accepts and sends) is a
hook or a class attribute of the app.

The request handler speaks HTTP/1.1 the way any standards-conforming client
expects (framing rules in ``framing.py``): chunked and ``Content-Length``
bodies, ``Expect: 100-continue`` (the interim answer goes out only once the
framing is known to be readable), keep-alive with pipelined requests, HEAD
on every GET route, compressed bodies both ways where the service does
that, and a malformed request answered in the service's own error shape.
"""

from __future__ import annotations

import json
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, Field

from connectors.sandbox.framing import (
    MIN_COMPRESS_BYTES,
    HttpError,
    body_framing,
    choose_coding,
    decode_content,
    encode_content,
    media_type,
    read_chunked,
    read_exact,
)

KEEP_ALIVE_SECONDS = 120  # an idle or stalled connection is closed after this long


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # filled from the route's named groups
    trailers: dict[str, str] = field(default_factory=dict)  # trailer fields of a chunked body, lower-cased

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def media_type(self) -> str | None:
        """The body's media type without parameters (``application/json``), None when not declared."""
        return media_type(self.headers.get("content-type"))


@dataclass
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
        data = json.dumps(payload, default=str).encode("utf-8")
        return cls(status, data, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain", headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(status, b"", dict(headers or {}))


_JACKSON_EXPECTATIONS = {
    "Expecting value": "expected a valid value (number, String, array, object, 'true', 'false' or 'null')",
    "Expecting ':' delimiter": "was expecting a colon to separate field name and value",
    "Expecting ',' delimiter": "was expecting comma to separate entries",
    "Expecting property name enclosed in double quotes": "was expecting double-quote to start field name",
    "Extra data": "expected end-of-input after the JSON value",
}


def json_error_position(exc: ValueError) -> tuple[int, int, str]:
    """(line, column, reason) of a JSON parse failure, worded as the Java services' Jackson parser does.

    Salesforce and HubSpot both parse with Jackson, and their documented error
    messages quote its reason ("Unexpected character ('x' (code 120)): ...").
    """
    if isinstance(exc, json.JSONDecodeError):
        line, column = exc.lineno, exc.colno
        if exc.pos >= len(exc.doc):
            return line, column, "Unexpected end-of-input: expected a complete JSON value"
        char = exc.doc[exc.pos]
        expected = _JACKSON_EXPECTATIONS.get(exc.msg, _JACKSON_EXPECTATIONS["Expecting value"])
        return line, column, f"Unexpected character ('{char}' (code {ord(char)})): {expected}"
    return 1, 1, f"Invalid UTF-8 in the request body: {exc}"


class DropConnection(Exception):
    """Raised by an app to close the socket without answering (lost confirmation)."""


class FaultConfig(BaseModel):
    """Faults an operator or a test switches on while the sandbox runs.

    Set with ``POST /__sandbox/faults`` (JSON body, partial updates) or
    ``app.faults = FaultConfig(...)`` in-process.
    """

    latency_ms: int = Field(0, ge=0, description="added to every request")
    error_rate_5xx: float = Field(0.0, ge=0, le=1, description="share of requests answered 503")
    fail_next_5xx: int = Field(0, ge=0, description="the next N requests get a 503")
    timeout_next: int = Field(0, ge=0, description="the next N requests hang for timeout_seconds then drop")
    timeout_seconds: float = Field(30.0, ge=0)
    burst_429: int = Field(0, ge=0, description="the next N requests get the system's rate-limit answer")
    retry_after_seconds: int = Field(1, ge=0)
    quota_remaining: int | None = Field(None, ge=0, description="requests left before quota exhaustion")
    drop_after_write: int = Field(0, ge=0, description="the next N successful writes lose their response")
    invalid_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="field -> values the sandbox refuses as a validation rule would (Salesforce: that "
        "record fails; HubSpot: a batch holding it is refused whole)",
    )
    stalled_bulk_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Salesforce Bulk API 2.0: field -> values whose internal batch (10,000 records) never "
        "finishes; the ingest job moves to Failed, earlier batches processed, that batch and the rest unprocessed",
    )
    seed: int = 0


Handler = Callable[[SandboxRequest], SandboxResponse]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


class SandboxApp:
    """Base of every sandbox: route table, fault injection, strict mode, call counts.

    Subclasses call ``self.route(...)`` in ``__init__`` and override
    ``rate_limited_response``/``quota_exhausted_response``/``unavailable_response``
    to answer in their system's wire format.
    """

    system: str = "sandbox"
    request_codings: tuple[str, ...] = ()  # Content-Encoding values the service decodes (else 415)
    ignores_content_coding = False  # True: Content-Encoding is not looked at, the body reaches the app as sent
    response_codings: tuple[str, ...] = ()  # codings it answers with when Accept-Encoding allows

    def __init__(self, *, strict: bool = False, access_token: str = "sandbox-token") -> None:
        self.strict = strict
        self.access_token = access_token
        self.faults = FaultConfig()
        self.routes: list[Route] = []
        self.unimplemented: list[str] = []  # strict mode: a test fails if this is not empty
        self.calls: Counter[str] = Counter()  # route name -> count (admin routes excluded)
        self.lock = threading.RLock()
        self._rng = random.Random(0)
        self.route("POST", r"/__sandbox/faults", self._set_faults, "admin.faults")
        self.route("GET", r"/__sandbox/faults", lambda r: SandboxResponse.json(200, self.faults.model_dump()), "admin.faults_get")
        self.route("GET", r"/__sandbox/calls", self._get_calls, "admin.calls")
        self.route("POST", r"/__sandbox/calls/reset", self._reset_calls, "admin.calls_reset")

    # -- routing -----------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, name: str | None = None) -> None:
        self.routes.append(Route(method.upper(), re.compile(f"^{pattern}$"), handler, name or pattern))

    def total_calls(self) -> int:
        return sum(self.calls.values())

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        path_matched = False
        methods = ("HEAD", "GET") if request.method == "HEAD" else (request.method,)  # HEAD is GET without a body
        for route in self.routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            path_matched = True
            if route.method not in methods:
                continue
            request.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            if route.name.startswith("admin."):
                return route.handler(request)
            with self.lock:
                self.calls[route.name] += 1
            fault = self._apply_faults(request)
            if fault is not None:
                return fault
            denied = self.authenticate(request) or self.refuse_request(request)
            if denied is not None:
                return denied
            return route.handler(request)
        return self.not_implemented(request, status=405 if path_matched else 501)

    def not_implemented(self, request: SandboxRequest, what: str | None = None, status: int = 501) -> SandboxResponse:
        """A JSON 501 (405 for a known path) naming what the sandbox lacks; strict tests fail on it."""
        message = f"{self.system} sandbox does not implement {request.method} {request.path}"
        if what:
            message += f" with {what}"
        with self.lock:
            self.unimplemented.append(f"{request.method} {request.path}" + (f" ({what})" if what else ""))
        return SandboxResponse.json(status, {"error": "NOT_IMPLEMENTED", "message": message})

    # -- hooks for subclasses ----------------------------------------------
    def http_error_response(self, status: int, message: str) -> SandboxResponse:
        """A request refused by the HTTP layer (framing, coding, syntax), in the service's error shape."""
        return SandboxResponse.json(status, {"error": HTTPStatus(status).phrase, "message": message})

    def refuse_request(self, request: SandboxRequest) -> SandboxResponse | None:
        """After authentication: the service's refusal of a request it will not route (a body's media
        type, a protocol version header), else None."""
        return None

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """Return an error response when the bearer token is wrong."""
        auth = request.header("authorization", "") or ""
        if auth != f"Bearer {self.access_token}":
            return SandboxResponse.json(401, {"message": "invalid token"})
        return None

    def rate_limited_response(self) -> SandboxResponse:
        return SandboxResponse.json(
            429, {"message": "rate limited"}, {"Retry-After": str(self.faults.retry_after_seconds)}
        )

    def quota_exhausted_response(self) -> SandboxResponse:
        return SandboxResponse.json(403, {"message": "quota exhausted"})

    def unavailable_response(self) -> SandboxResponse:
        return SandboxResponse.json(503, {"message": "service unavailable (injected)"})

    def consume_write_drop(self) -> bool:
        """Apps call this after a successful write: True means drop the answer."""
        with self.lock:
            if self.faults.drop_after_write > 0:
                self.faults.drop_after_write -= 1
                return True
        return False

    def invalid_value(self, field_name: str, value: Any) -> bool:
        bad = self.faults.invalid_values.get(field_name)
        return bad is not None and str(value) in bad

    # -- faults --------------------------------------------------------------
    def _apply_faults(self, request: SandboxRequest) -> SandboxResponse | None:
        f = self.faults
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000)
        with self.lock:
            if f.timeout_next > 0:
                f.timeout_next -= 1
                hang = f.timeout_seconds
            else:
                hang = None
        if hang is not None:
            time.sleep(hang)
            raise DropConnection
        with self.lock:
            if f.quota_remaining is not None:
                if f.quota_remaining <= 0:
                    return self.quota_exhausted_response()
                f.quota_remaining -= 1
            if f.burst_429 > 0:
                f.burst_429 -= 1
                return self.rate_limited_response()
            if f.fail_next_5xx > 0:
                f.fail_next_5xx -= 1
                return self.unavailable_response()
            if f.error_rate_5xx and self._rng.random() < f.error_rate_5xx:
                return self.unavailable_response()
        return None

    def _set_faults(self, request: SandboxRequest) -> SandboxResponse:
        update = request.json() or {}
        with self.lock:
            merged = {**self.faults.model_dump(), **update}
            self.faults = FaultConfig.model_validate(merged)
            self._rng = random.Random(self.faults.seed)
        return SandboxResponse.json(200, self.faults.model_dump())

    def _get_calls(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(200, {"total": self.total_calls(), "by_route": dict(self.calls)})

    def _reset_calls(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            self.calls.clear()
        return SandboxResponse.json(200, {"total": 0})

    # -- persistence (optional; apps override) --------------------------------
    def dump_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None


def _status_allows_body(status: int) -> bool:
    return status >= 200 and status not in (204, 304)


def _make_handler(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # avoid 40 ms delayed-ACK stalls between pipelined answers
        server_version = f"prm-sync-{app.system}-sandbox"
        timeout = KEEP_ALIVE_SECONDS
        _expect_continue = False

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def __getattr__(self, name: str) -> Any:
            # every method token reaches the app, which answers 405/501 in its own shape
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def parse_request(self) -> bool:
            self._expect_continue = False
            return super().parse_request()

        def handle_expect_100(self) -> bool:
            """Defer the interim 100 until the body's framing is known to be readable."""
            self._expect_continue = True
            return True

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Request-line and header errors from ``http.server``: the service's shape, never HTML."""
            self.close_connection = True
            if self.request_version == "HTTP/0.9":  # the default when the request line was unreadable
                self.request_version = "HTTP/1.1"
            text = message or HTTPStatus(code).phrase
            self._answer(app.http_error_response(code, f"{text}: {explain}" if explain else text))

        def _read_request(self) -> SandboxRequest:
            chunked, length, close_after = body_framing(
                self.headers.get_all("Transfer-Encoding") or [],
                self.headers.get_all("Content-Length") or [],
                self.request_version,
            )
            if close_after:
                self.close_connection = True
            if self._expect_continue and (chunked or length):
                self.send_response_only(100)
                self.end_headers()
            trailers: dict[str, str] = {}
            if chunked:
                body, trailers = read_chunked(self.rfile)
            else:
                body = read_exact(self.rfile, length)
            if not app.ignores_content_coding:
                body = decode_content(body, self.headers.get("Content-Encoding"), app.request_codings)
            parts = urlsplit(self.path)
            return SandboxRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                trailers=trailers,
            )

        def _handle(self) -> None:
            try:
                request = self._read_request()
            except HttpError as err:
                # a body left unread (or framed so it cannot be trusted) must not be parsed as the next request
                self.close_connection = self.close_connection or err.close
                response = app.http_error_response(err.status, err.message)
                response.headers.update(err.headers)
                self._answer(response)
                return
            except TimeoutError:
                self.close_connection = True
                self._answer(app.http_error_response(408, "the request body did not arrive in time"))
                return
            try:
                response = app.dispatch(request)
            except DropConnection:
                self.close_connection = True
                return
            except Exception as exc:  # a sandbox bug must show as a 500, not a hang
                response = SandboxResponse.json(500, {"error": "SANDBOX_ERROR", "message": repr(exc)})
            self._answer(response)

        def _answer(self, response: SandboxResponse) -> None:
            """Status, headers and body in one write; compressed when the client and the service agree."""
            body = response.body
            headers = dict(response.headers)
            if app.response_codings and len(body) >= MIN_COMPRESS_BYTES and "Content-Encoding" not in headers:
                headers["Vary"] = "Accept-Encoding"
                request_headers = getattr(self, "headers", None)  # absent when the request line was bad
                accept = request_headers.get("Accept-Encoding") if request_headers else None
                coding = choose_coding(accept, app.response_codings)
                if coding:
                    body = encode_content(body, coding)
                    headers["Content-Encoding"] = coding
            if self.request_version == "HTTP/0.9":  # a bare "GET /path": the body alone, as HTTP/0.9 has it
                self.wfile.write(body)
                return
            self.send_response(response.status)
            if _status_allows_body(response.status):
                headers = {"Content-Length": str(len(body)), **headers}
            elif body:
                body = b""
            if self.close_connection:
                headers["Connection"] = "close"
            for key, value in headers.items():
                self.send_header(key, value)
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(body)
            data = b"".join(self._headers_buffer)
            self._headers_buffer = []
            self.wfile.write(data)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class SandboxServer:
    """Serves one app on loopback in a daemon thread; ``stop()`` frees the port."""

    def __init__(
        self,
        app: SandboxApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        self.app = app
        self._httpd = _Server((host, port), _make_handler(app))
        self.scheme = "http"
        if tls_cert and tls_key:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_cert, tls_key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self.host, self.port = self._httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll: keeps fixture teardown fast
            name=f"{self.app.system}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
