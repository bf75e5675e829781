"""HTTP/1.1 edge cases every sandbox must answer like its real service (RFC 9110/9112).

Each test runs once per sandbox (the ``target`` fixture) with requests written
byte by byte, so framing is exactly what the test says: nothing a client
library would smooth over.
"""

from __future__ import annotations

import gzip
import http.client
import json

import pytest
from fixtures.fidelity import BUILDERS, Target, assert_service_error, marker
from fixtures.rawhttp import chunked


@pytest.fixture(params=list(BUILDERS))
def target(request: pytest.FixtureRequest) -> Target:
    """Each sandbox in turn (strict: an unimplemented request fails the test at teardown)."""
    fixture, build = BUILDERS[request.param]
    return build(request.getfixturevalue(fixture))


@pytest.fixture(params=[name for name in BUILDERS if name != "erp"])
def resource_target(request: pytest.FixtureRequest) -> Target:
    """The sandboxes with GET resources (Odoo's external API is POST /jsonrpc only)."""
    fixture, build = BUILDERS[request.param]
    return build(request.getfixturevalue(fixture))


def test_a_chunked_body_with_extensions_and_trailers_lands(target: Target) -> None:
    name = marker()
    body = chunked(target.write_bytes(name), size=5, trailers={"X-Checksum": "ignored"})
    response = target.exchange(
        target.request("POST", target.write_path, body, {"Transfer-Encoding": "chunked"})
    )
    assert response.status < 300, response.body[:300]
    assert target.landed(name)


def test_pipelined_writes_are_answered_in_order_and_all_land(target: Target) -> None:
    names = [marker() for _ in range(3)]
    first = target.request("POST", target.write_path, target.write_bytes(names[0]))
    second = target.request(
        "POST", target.write_path, chunked(target.write_bytes(names[1])), {"Transfer-Encoding": "chunked"}
    )
    third = target.request("POST", target.write_path, target.write_bytes(names[2]))
    with target.connect() as conn:
        conn.send(first + second + third)  # one write: the server must frame each request itself
        statuses = [conn.read_response().status for _ in names]
    assert all(s < 300 for s in statuses), statuses
    assert all(target.landed(n) for n in names)


def test_expect_100_continue_gets_the_interim_answer_before_the_body_is_sent(target: Target) -> None:
    name = marker()
    body = target.write_bytes(name)
    head = target.request("POST", target.write_path, body, {"Expect": "100-continue"})[: -len(body)]
    with target.connect() as conn:
        conn.send(head)
        assert conn.read_interim() == 100
        conn.send(body)
        response = conn.read_response()
    assert response.status < 300
    assert target.landed(name)


def test_a_bad_chunk_size_is_a_400_in_the_service_shape_and_closes_the_connection(target: Target) -> None:
    data = target.request("POST", target.write_path, b"zz\r\nnot hex\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"})
    with target.connect() as conn:
        conn.send(data)
        response = conn.read_response()
        assert_service_error(target, response, 400)
        assert response.header("connection") == "close"
        assert conn.closed_by_peer()


def test_a_transfer_coding_other_than_chunked_is_501_and_closes_the_connection(target: Target) -> None:
    name = marker()
    body = chunked(gzip.compress(target.write_bytes(name)))
    with target.connect() as conn:
        conn.send(target.request("POST", target.write_path, body, {"Transfer-Encoding": "gzip, chunked"}))
        response = conn.read_response()
        assert_service_error(target, response, 501)
        assert conn.closed_by_peer()
    assert not target.landed(name)


def test_a_truncated_body_is_a_400_in_the_service_shape(target: Target) -> None:
    name = marker()
    body = target.write_bytes(name)
    with target.over_plain_tcp() as plain, plain.connect() as conn:
        conn.send(plain.request("POST", plain.write_path, body, {"Content-Length": str(len(body) + 50)}))
        conn.finish_sending()
        response = conn.read_response()
    assert_service_error(target, response, 400)
    assert not target.landed(name)


def test_a_body_left_unread_never_becomes_the_next_request(target: Target) -> None:
    smuggled = f"GET {target.read_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    refused = target.request(
        "POST", target.write_path, smuggled, {"Authorization": "Bearer wrong"}, content_type="text/plain"
    )
    with target.connect() as conn:
        conn.send(refused + target.read_request())
        first, second = conn.read_response(), conn.read_response()
        assert first.status >= 400
        assert second.status == 200  # the read got the second answer, not the smuggled GET
        conn.finish_sending()
        assert conn.closed_by_peer()  # and there is no third answer


def test_transfer_encoding_wins_over_content_length_and_the_connection_closes(target: Target) -> None:
    name = marker()
    body = chunked(target.write_bytes(name))
    data = target.request("POST", target.write_path, body, {"Transfer-Encoding": "chunked", "Content-Length": "3"})
    with target.connect() as conn:
        conn.send(data)
        response = conn.read_response()
        assert response.status < 300 and response.header("connection") == "close"
        assert conn.closed_by_peer()
    assert target.landed(name)


def test_unparsable_json_gets_the_service_documented_error(target: Target) -> None:
    response = target.exchange(target.request("POST", target.write_path, b'{"broken": x}'))
    body = assert_service_error(target, response, 400)
    expected = {
        "salesforce": lambda b: b[0]["errorCode"] == "JSON_PARSER_ERROR" and "[line:1, column:12]" in b[0]["message"],
        "hubspot": lambda b: b["category"] == "VALIDATION_ERROR"
        and b["message"].startswith("Invalid input JSON on line 1, column 12: Unexpected character ('x'"),
        "lms": lambda b: "not valid JSON" in b["message"],
        "erp": lambda b: b == "Invalid JSON data",
    }
    assert expected[target.system](body), body


def test_a_body_of_the_wrong_media_type_gets_the_service_documented_error(target: Target) -> None:
    response = target.exchange(
        target.request("POST", target.write_path, target.write_bytes(marker()), content_type="text/plain")
    )
    status = {"salesforce": 415, "hubspot": 415, "lms": 400, "erp": 400}[target.system]
    body = assert_service_error(target, response, status)
    expected = {
        "salesforce": lambda b: b[0]["errorCode"] == "UNSUPPORTED_MEDIA_TYPE",
        "hubspot": lambda b: b["message"] == "HTTP 415 Unsupported Media Type",
        "lms": lambda b: "application/json" in b["message"],
        "erp": lambda b: "but &#39;/jsonrpc&#39; is type=&#39;json&#39;." in b,
    }
    assert expected[target.system](body), body


def test_a_gzip_request_body_lands_where_the_service_accepts_it_and_is_refused_elsewhere(target: Target) -> None:
    name = marker()
    body = gzip.compress(target.write_bytes(name))
    response = target.exchange(target.request("POST", target.write_path, body, {"Content-Encoding": "gzip"}))
    if target.decodes_gzip:
        assert response.status < 300 and target.landed(name)
        return
    assert not target.landed(name)
    if target.system == "erp":  # Odoo never looks at Content-Encoding: the bytes are not JSON
        assert assert_service_error(target, response, 400) == "Invalid JSON data"
    else:
        assert_service_error(target, response, 415)
        assert response.header("accept-encoding") == "identity"


def test_answers_are_gzip_compressed_only_when_asked_and_where_the_service_does(target: Target) -> None:
    for _ in range(20):  # enough records for an answer above the compression threshold
        target.exchange(target.request("POST", target.write_path, target.write_bytes(marker())))
    plain = target.exchange(target.read_request())
    asked = target.exchange(target.read_request({"Accept-Encoding": "gzip;q=1.0, br;q=0"}))
    refused = target.exchange(target.read_request({"Accept-Encoding": "gzip;q=0, identity"}))
    assert plain.status == asked.status == refused.status == 200 and len(plain.body) >= 1024
    assert plain.header("content-encoding") is None and refused.header("content-encoding") is None
    if target.compresses:
        assert asked.header("content-encoding") == "gzip" and asked.header("vary") == "Accept-Encoding"
        assert int(asked.header("content-length") or 0) == len(asked.body) < len(plain.body)
        assert json.loads(gzip.decompress(asked.body)) == json.loads(plain.body)
    else:
        assert asked.header("content-encoding") is None


def test_a_malformed_request_line_is_answered_in_the_service_shape_not_an_html_page(target: Target) -> None:
    with target.connect() as conn:
        conn.send(b"THIS IS NOT HTTP\r\n\r\n")
        response = conn.read_response()
    body = assert_service_error(target, response, 400)
    if target.system == "erp":
        assert "<title>400 Bad Request</title>" in body  # werkzeug's page, which is what Odoo answers


def test_head_answers_the_get_headers_without_a_body(resource_target: Target) -> None:
    target = resource_target
    with target.connect() as conn:
        conn.send(target.request("GET", target.read_path) + target.request("HEAD", target.read_path))
        got = conn.read_response()
        head = conn.read_response(head_only=True)
        conn.send(target.request("GET", target.read_path))
        after = conn.read_response()  # no stray body bytes were left on the connection
    assert head.status == got.status == after.status == 200
    assert head.header("content-length") == got.header("content-length")


def test_http_client_from_the_standard_library_can_stream_a_chunked_body(target: Target) -> None:
    name = marker()
    connection_class = http.client.HTTPSConnection if target.tls else http.client.HTTPConnection
    kwargs = {"context": target.tls} if target.tls else {}
    conn = connection_class(target.host, target.port, timeout=10, **kwargs)
    try:
        payload = target.write_bytes(name)
        pieces = (payload[i : i + 16] for i in range(0, len(payload), 16))  # a generator: http.client chunks it
        headers = {**target.base_headers, "Content-Type": "application/json"}
        conn.request("POST", target.write_path, body=pieces, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status < 300
    assert target.landed(name)
