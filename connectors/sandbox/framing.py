"""HTTP/1.1 message framing and content codings for the sandboxes' server.

Why a module of its own: ``http.server`` parses the request line and the
header fields but leaves the body to the handler, and a handler that reads
``Content-Length`` only drops chunked bodies and then parses the leftover
bytes as the next request on the connection. Everything here follows
RFC 9112 (framing) and RFC 9110 (content codings, ``Accept-Encoding``):

* ``read_body`` reads exactly one request's content: ``Transfer-Encoding:
  chunked`` (chunk extensions ignored, trailer fields kept apart, a bad chunk
  size or a short read is a 400), or ``Content-Length`` (a malformed or
  conflicting value is a 400), or nothing. When the framing cannot be
  trusted, the error says the connection must close so no leftover bytes
  are ever read as another request. Chunked is the only transfer coding
  (another one is 501, as nginx answers).
* ``decode_content`` undoes ``Content-Encoding`` (gzip, deflate) for the
  services that accept compressed requests, bounded so a small bomb cannot
  inflate past the body limit; anything else is 415 with the codings the
  service does accept.
* ``choose_coding`` / ``encode_content`` compress a response only when the
  client asked for it (``Accept-Encoding`` with q-values) and the service
  does so; level 1 keeps the common path cheap.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import BinaryIO

MAX_BODY_BYTES = 200 * 1024 * 1024  # above Bulk API 2.0's 150 MB upload limit
MAX_LINE = 65536  # longest chunk-size or trailer line (http.server's own line limit)
MAX_TRAILERS = 100
MIN_COMPRESS_BYTES = 1024  # smaller answers gain nothing from compression
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class HttpError(Exception):
    """A request the HTTP layer answers itself, before any sandbox route sees it.

    ``close`` is True when the request's framing cannot be trusted (or its
    body was left unread): the connection is closed after the answer.
    """

    def __init__(self, status: int, message: str, *, close: bool = True, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.headers = headers or {}


def _codings(values: Iterable[str]) -> list[str]:
    return [part.strip().lower() for value in values for part in value.split(",") if part.strip()]


def body_framing(
    transfer_encoding: list[str], content_length: list[str], request_version: str
) -> tuple[bool, int, bool]:
    """Decide how the body is delimited: (chunked, length, close afterwards).

    Raises ``HttpError`` for framing RFC 9112 §6 says cannot be trusted.
    """
    if transfer_encoding:
        codings = _codings(transfer_encoding)
        if request_version < "HTTP/1.1":
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing
            raise HttpError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
        if not codings or codings[-1] != "chunked":
            raise HttpError(400, "chunked must be the final transfer coding of a request")
        if len(codings) > 1:  # like nginx: chunked is the one transfer coding HTTP/1.1 requires
            raise HttpError(501, f"transfer coding {codings[0]!r} is not implemented")
        # with Content-Length too, chunked wins and the connection closes afterwards (§6.3)
        return True, 0, bool(content_length)
    if not content_length:
        return False, 0, False
    values = {v.strip() for raw in content_length for v in raw.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HttpError(400, f"invalid Content-Length: {', '.join(content_length)}")
    length = int(values.pop())
    if length > MAX_BODY_BYTES:
        raise HttpError(413, f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}")
    return False, length, False


def read_exact(rfile: BinaryIO, length: int) -> bytes:
    data = rfile.read(length) if length else b""
    if len(data) != length:
        raise HttpError(400, f"request body ended after {len(data)} of {length} bytes")
    return data


def _line(rfile: BinaryIO, what: str) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise HttpError(400, f"{what} line too long")
    if not line.endswith(b"\n"):
        raise HttpError(400, f"request body ended inside a {what} line")
    return line.rstrip(b"\r\n")


def read_chunked(rfile: BinaryIO, limit: int = MAX_BODY_BYTES) -> tuple[bytes, dict[str, str]]:
    """Decode a chunked body (RFC 9112 §7.1); returns the content and the trailer fields."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = _line(rfile, "chunk-size")
        size_text = line.split(b";", 1)[0].strip(b" \t")  # chunk extensions are ignored
        if not _HEX.fullmatch(size_text):
            raise HttpError(400, f"invalid chunk size {size_text[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise HttpError(413, f"chunked request body exceeds the limit of {limit} bytes")
        parts.append(read_exact(rfile, size))
        if _line(rfile, "chunk-data end") != b"":
            raise HttpError(400, "chunk data is not followed by CRLF")
    trailers: dict[str, str] = {}
    for _ in range(MAX_TRAILERS + 1):
        line = _line(rfile, "trailer")
        if not line:
            return b"".join(parts), trailers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(400, f"malformed trailer field {line[:40]!r}")
        trailers[name.lower()] = value.strip()
    raise HttpError(400, "too many trailer fields")


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    try:
        decoder = zlib.decompressobj(_DECODERS[coding])
        out = decoder.decompress(data, limit + 1)
    except zlib.error:
        if coding != "deflate":
            raise HttpError(400, f"request body is not valid {coding} data", close=False) from None
        decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # some clients send raw deflate without the zlib wrapper
        try:
            out = decoder.decompress(data, limit + 1)
        except zlib.error:
            raise HttpError(400, "request body is not valid deflate data", close=False) from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise HttpError(413, f"decoded request body exceeds the limit of {limit} bytes", close=False)
    if not decoder.eof:
        raise HttpError(400, f"request body ends inside its {coding} stream", close=False)
    return out


def decode_content(body: bytes, content_encoding: str | None, accepted: tuple[str, ...]) -> bytes:
    """Undo ``Content-Encoding`` when the service accepts it; 415 names what it does accept."""
    codings = [c for c in _codings([content_encoding or ""]) if c != "identity"]
    if not codings:
        return body
    for coding in reversed(codings):
        if coding not in accepted or coding not in _DECODERS:
            offered = ", ".join(accepted) or "identity"
            raise HttpError(
                415,
                f"Content-Encoding {coding!r} is not supported (accepted: {offered})",
                close=False,
                headers={"Accept-Encoding": offered},
            )
        body = _inflate(body, coding, MAX_BODY_BYTES)
    return body


def _qvalue(params: list[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def choose_coding(accept_encoding: str | None, offered: tuple[str, ...]) -> str | None:
    """The content coding to answer with: the first offered one the client accepts (q > 0)."""
    if not accept_encoding or not offered:
        return None
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = item.split(";")
        name = name.strip().lower()
        if name:
            weights[name] = _qvalue(params)
    for coding in offered:
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return None


def encode_content(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    else:  # deflate: the zlib format, as RFC 9110 §8.4.1.2 defines it
        compressor = zlib.compressobj(1)
    return compressor.compress(body) + compressor.flush()


def media_type(content_type: str | None) -> str | None:
    """``application/json`` from ``Application/JSON; charset=UTF-8``; None when absent."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None
