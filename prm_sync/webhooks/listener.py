"""An HTTP listener that reads whole requests before any thread is spent on them.

A thread per connection (the stdlib ``ThreadingHTTPServer``) lets 300
half-sent requests hold 300 threads for as long as their senders like
("slow-loris"), and each dropped connection printed a traceback. Here one
selector thread accepts connections and buffers their bytes; a request goes
to the bounded worker pool only once its head and its ``Content-Length``
body are complete. A connection that has not delivered its request within
``read_timeout`` seconds of connecting is closed, and so is every one past
``max_connections``; when the pool's queue is full the request is answered
503 at once (both senders retry later). Dropped connections are logged at
debug level, never printed. This is the design of production WSGI servers
such as waitress, in the few lines a receiver of small POSTs needs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

log = logging.getLogger("prm_sync.webhooks")

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; HubSpot and Salesforce send a few hundred bytes
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 4\r\nRetry-After: 5\r\nConnection: close\r\n\r\nbusy"
_HEAD_TOO_LARGE = (b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@dataclass
class _Pending:
    """A connection whose request is still arriving."""

    sock: socket.socket
    address: tuple[str, int]
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    needed: int | None = None  # total bytes of head + body, once the head is in


def _content_length(head: bytes) -> int:
    """The declared body length; 0 when absent or unreadable (the handler then answers 411 or reads nothing)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return max(int(value.strip()), 0)
            except ValueError:
                return 0
    return 0


class BufferedHandler(BaseHTTPRequestHandler):
    """A request handler over a request already read into memory; answers one request, then closes."""

    def setup(self) -> None:
        self.connection = self.request
        self.rfile = io.BytesIO(self.server.take_buffer(self.request))  # type: ignore[attr-defined]
        self.wfile = self.request.makefile("wb")

    def finish(self) -> None:
        try:
            self.wfile.flush()
        finally:
            self.wfile.close()
            self.rfile.close()


class BoundedHTTPServer:
    """``serve_forever``/``shutdown``/``server_close`` like ``socketserver``, with bounded threads and time."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: Callable[..., BaseHTTPRequestHandler],
        *,
        workers: int = 8,
        queue: int = 64,
        read_timeout: float = 10.0,
        write_timeout: float = 10.0,
        max_connections: int = 256,
        max_body_bytes: int = 5_000_000,
    ) -> None:
        self.socket = socket.create_server(address, backlog=128)  # OSError: port in use, not this machine's host
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()[:2]
        self.handler = handler
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self.queue_limit = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prm-sync-webhook")
        self._in_flight = 0
        self._lock = threading.Lock()
        self._buffers: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    # -- the selector thread ---------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        pending: dict[socket.socket, _Pending] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    for key, _events in selector.select(timeout=poll_interval):
                        if key.fileobj is self.socket:
                            self._accept(selector, pending)
                        else:
                            self._receive(selector, pending, pending[key.fileobj])  # type: ignore[index]
                    self._expire(selector, pending)
            finally:
                for conn in list(pending.values()):
                    self._drop(selector, pending, conn, "server stopping")
                self._stopped.set()

    def _accept(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
        while True:
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, a connection reset before accept
                log.warning("webhooks: accept failed: %s", exc)
                return
            if len(pending) >= self.max_connections:
                log.warning("webhooks: %d connections are waiting for their request; closing a new one", len(pending))
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Pending(sock, address, time.monotonic() + self.read_timeout)
            pending[sock] = conn
            selector.register(sock, selectors.EVENT_READ)

    def _receive(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending], conn: _Pending) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(selector, pending, conn, f"read failed: {exc}")
            return
        if not data:
            self._drop(selector, pending, conn, "closed by the sender before its request was complete")
            return
        conn.buffer += data
        if conn.needed is None:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(conn.buffer) > MAX_HEAD_BYTES:
                    self._answer_and_drop(selector, pending, conn, _HEAD_TOO_LARGE, "request head too large")
                return
            length = _content_length(bytes(conn.buffer[:end]))
            # a body over the limit is not read: the handler answers 413 from the head alone
            conn.needed = end + 4 + (length if length <= self.max_body_bytes else 0)
        if len(conn.buffer) >= conn.needed:
            selector.unregister(conn.sock)
            del pending[conn.sock]
            self._dispatch(conn)

    def _dispatch(self, conn: _Pending) -> None:
        with self._lock:
            busy = self._in_flight >= self.queue_limit
            if not busy:
                self._in_flight += 1
        if busy:
            log.warning("webhooks: every worker is busy and the queue is full; answering 503")
            self._best_effort_send(conn.sock, _BUSY)
            conn.sock.close()
            return
        self._buffers[conn.sock] = bytes(conn.buffer[: conn.needed])
        self._pool.submit(self._work, conn.sock, conn.address)

    def _expire(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
        now = time.monotonic()
        for conn in [c for c in pending.values() if c.deadline <= now]:
            self._drop(selector, pending, conn, f"no complete request within {self.read_timeout:g} s")

    def _drop(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending], conn: _Pending,
              why: str) -> None:
        log.debug("webhooks: closing %s:%s: %s", conn.address[0], conn.address[1], why)
        pending.pop(conn.sock, None)
        with contextlib.suppress(KeyError, ValueError):  # never registered, or already closed
            selector.unregister(conn.sock)
        conn.sock.close()

    def _answer_and_drop(self, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending],
                         conn: _Pending, answer: bytes, why: str) -> None:
        self._best_effort_send(conn.sock, answer)
        self._drop(selector, pending, conn, why)

    @staticmethod
    def _best_effort_send(sock: socket.socket, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the sender is gone or not reading: nothing more to tell it
            sock.send(data)

    # -- the worker threads ------------------------------------------------------------
    def take_buffer(self, sock: socket.socket) -> bytes:
        return self._buffers.pop(sock, b"")

    def _work(self, sock: socket.socket, address: tuple[str, int]) -> None:
        try:
            sock.setblocking(True)
            sock.settimeout(self.write_timeout)  # a sender that stops reading cannot hold a worker
            self.handler(sock, address, self)
        except OSError as exc:  # reset, broken pipe, timeout while answering: the sender redelivers
            log.debug("webhooks: connection from %s:%s dropped while answering: %s", address[0], address[1], exc)
        except Exception:
            log.exception("webhooks: request from %s:%s failed", address[0], address[1])
        finally:
            self._buffers.pop(sock, None)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._in_flight -= 1

    # -- lifecycle ----------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread) and wait until it has."""
        self._stop.set()
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
