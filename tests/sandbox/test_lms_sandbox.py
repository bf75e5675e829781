"""Conformance of the xAPI LRS sandbox, through plain ``requests``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.sandbox.http import SandboxServer
from connectors.sandbox.lms import VERB_PREFIX, LmsSandbox, make_statement

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HEADERS_VERSION = {"X-Experience-API-Version": "1.0.3"}


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **HEADERS_VERSION}


def _get(sandbox: Any, path: str, **params: str) -> requests.Response:
    return requests.get(
        f"{sandbox.url}{path}", params=params, headers=_headers(sandbox.access_token), timeout=5
    )


def _seed(
    app: LmsSandbox, count: int, *, start: datetime = T0, step: timedelta = timedelta(seconds=1)
) -> list[str]:
    ids = []
    for n in range(count):
        app.clock = start + n * step
        ids += app.insert_statements(
            [make_statement(f"user{n}@acme.test", f"https://lms.test/course/{n % 3}")]
        )
    return ids


def test_version_header_is_required(lms_sandbox: Any) -> None:
    response = requests.get(
        f"{lms_sandbox.url}/xAPI/statements",
        headers={"Authorization": f"Bearer {lms_sandbox.access_token}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "X-Experience-API-Version" in response.json()["message"]


@pytest.mark.parametrize(
    "auth, status",
    [
        pytest.param(lambda t: {"Authorization": f"Bearer {t}"}, 200, id="bearer"),
        pytest.param(lambda t: {}, 401, id="missing"),
        pytest.param(lambda t: {"Authorization": "Bearer wrong"}, 401, id="wrong-bearer"),
    ],
)
def test_bearer_auth(lms_sandbox: Any, auth: Any, status: int) -> None:
    response = requests.get(
        f"{lms_sandbox.url}/xAPI/statements",
        headers={**auth(lms_sandbox.access_token), **HEADERS_VERSION},
        timeout=5,
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        pytest.param(lambda s: (s.key, s.secret), 200, id="issued-key-and-secret"),
        pytest.param(lambda s: (s.key, "nope"), 401, id="wrong-secret"),
        pytest.param(lambda s: ("anyone", s.secret), 401, id="wrong-key"),
        pytest.param(lambda s: ("anyone", s.access_token), 401, id="token-as-password"),
    ],
)
def test_basic_auth_with_the_issued_key_and_secret(lms_sandbox: Any, credentials: Any, status: int) -> None:
    response = requests.get(
        f"{lms_sandbox.url}/xAPI/statements", auth=credentials(lms_sandbox), headers=HEADERS_VERSION, timeout=5
    )
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_bearer_is_refused_when_the_lrs_issued_none() -> None:
    app = LmsSandbox(access_token=None, key="k", secret="s")
    server = SandboxServer(app).start()
    try:
        bearer = requests.get(f"{server.url}/xAPI/statements", headers={"Authorization": "Bearer ", **HEADERS_VERSION},
                              timeout=5)
        basic = requests.get(f"{server.url}/xAPI/statements", auth=("k", "s"), headers=HEADERS_VERSION, timeout=5)
    finally:
        server.stop()
    assert (bearer.status_code, basic.status_code) == (401, 200)


def test_about_is_public(lms_sandbox: Any) -> None:
    response = requests.get(f"{lms_sandbox.url}/xAPI/about", timeout=5)
    assert response.json()["version"] == ["1.0.3"]


def test_post_then_get_by_id(lms_sandbox: Any) -> None:
    statement = make_statement("ana@acme.test", "https://lms.test/course/sec-101", verb="passed", scaled=0.92)
    posted = requests.post(
        f"{lms_sandbox.url}/xAPI/statements",
        json=[statement],
        headers=_headers(lms_sandbox.access_token),
        timeout=5,
    )
    assert posted.status_code == 200
    (statement_id,) = posted.json()
    body = _get(lms_sandbox, "/xAPI/statements", statementId=statement_id).json()
    assert body["id"] == statement_id
    assert body["verb"]["id"] == VERB_PREFIX + "passed"
    assert body["stored"].endswith("Z") and body["authority"]["objectType"] == "Agent"


def test_post_rejects_statement_without_actor_identifier(lms_sandbox: Any) -> None:
    statement = make_statement("x@acme.test", "https://lms.test/c")
    statement["actor"] = {"name": "nobody"}
    response = requests.post(
        f"{lms_sandbox.url}/xAPI/statements",
        json=statement,
        headers=_headers(lms_sandbox.access_token),
        timeout=5,
    )
    assert response.status_code == 400
    assert "actor" in response.json()["message"]


def test_same_id_with_different_content_conflicts(lms_sandbox: Any) -> None:
    statement_id = str(uuid.uuid4())
    lms_sandbox.app.insert_statements(
        [make_statement("a@acme.test", "https://lms.test/c", statement_id=statement_id)]
    )
    other = make_statement("a@acme.test", "https://lms.test/other", statement_id=statement_id)
    response = requests.post(
        f"{lms_sandbox.url}/xAPI/statements",
        json=other,
        headers=_headers(lms_sandbox.access_token),
        timeout=5,
    )
    assert response.status_code == 409


def test_paging_with_more_returns_everything_once(lms_sandbox: Any) -> None:
    ids = _seed(lms_sandbox.app, 7)
    seen: list[str] = []
    body = _get(lms_sandbox, "/xAPI/statements", limit="3", ascending="true").json()
    pages = 1
    while True:
        seen += [s["id"] for s in body["statements"]]
        if not body["more"]:
            break
        body = requests.get(
            lms_sandbox.url + body["more"], headers=_headers(lms_sandbox.access_token), timeout=5
        ).json()
        pages += 1
    assert seen == ids
    assert pages == 3


def test_default_order_is_newest_first(lms_sandbox: Any) -> None:
    ids = _seed(lms_sandbox.app, 3)
    body = _get(lms_sandbox, "/xAPI/statements").json()
    assert [s["id"] for s in body["statements"]] == list(reversed(ids))
    assert body["more"] == ""


def test_since_is_exclusive_and_until_inclusive(lms_sandbox: Any) -> None:
    ids = _seed(lms_sandbox.app, 5)
    since = (T0 + timedelta(seconds=1)).isoformat()
    until = (T0 + timedelta(seconds=3)).isoformat()
    body = _get(lms_sandbox, "/xAPI/statements", since=since, until=until, ascending="true").json()
    assert [s["id"] for s in body["statements"]] == ids[2:4]


def test_verb_and_agent_filters(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    passed = app.insert_statements([make_statement("bo@acme.test", "https://lms.test/c", verb="passed")])
    app.insert_statements([make_statement("bo@acme.test", "https://lms.test/c", verb="failed")])
    app.insert_statements([make_statement("cy@acme.test", "https://lms.test/c", verb="passed")])
    agent = json.dumps({"objectType": "Agent", "mbox": "mailto:bo@acme.test"})
    body = _get(lms_sandbox, "/xAPI/statements", verb=VERB_PREFIX + "passed", agent=agent).json()
    assert [s["id"] for s in body["statements"]] == passed


def test_voided_statement_is_excluded_but_voiding_statement_is_listed(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    (target,) = app.insert_statements([make_statement("dee@acme.test", "https://lms.test/c")])
    voiding = {
        "actor": {"objectType": "Agent", "mbox": "mailto:admin@lms.test"},
        "verb": {"id": VERB_PREFIX + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }
    (voiding_id,) = app.insert_statements([voiding])
    listed = [s["id"] for s in _get(lms_sandbox, "/xAPI/statements").json()["statements"]]
    assert listed == [voiding_id]
    assert _get(lms_sandbox, "/xAPI/statements", statementId=target).status_code == 404
    assert _get(lms_sandbox, "/xAPI/statements", voidedStatementId=target).json()["id"] == target


def test_a_voiding_statement_cannot_be_voided(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    (target,) = app.insert_statements([make_statement("e@acme.test", "https://lms.test/c")])
    ref = {"actor": {"mbox": "mailto:admin@lms.test"}, "verb": {"id": VERB_PREFIX + "voided"}}
    (voiding_id,) = app.insert_statements([{**ref, "object": {"objectType": "StatementRef", "id": target}}])
    response = requests.post(
        f"{lms_sandbox.url}/xAPI/statements",
        json={**ref, "object": {"objectType": "StatementRef", "id": voiding_id}},
        headers=_headers(lms_sandbox.access_token),
        timeout=5,
    )
    assert response.status_code == 400


def test_stored_is_shared_by_a_batch_and_never_goes_back(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    app.clock = T0
    first = app.insert_statements([make_statement(f"u{n}@acme.test", "https://lms.test/c") for n in range(2)])
    app.clock = T0 - timedelta(hours=1)
    (late,) = app.insert_statements([make_statement("late@acme.test", "https://lms.test/c")])
    stored = {s["id"]: s["stored"] for s in app.dump_state()["statements"]}
    assert stored[first[0]] == stored[first[1]] == stored[late] == "2024-05-01T12:00:00.000Z"


def test_activities_return_definition_or_bare_activity(lms_sandbox: Any) -> None:
    lms_sandbox.app.add_course("https://lms.test/course/sec", "Security Fundamentals", "security")
    known = _get(lms_sandbox, "/xAPI/activities", activityId="https://lms.test/course/sec").json()
    unknown = _get(lms_sandbox, "/xAPI/activities", activityId="https://lms.test/none").json()
    assert known["definition"]["name"]["en-US"] == "Security Fundamentals"
    assert known["definition"]["extensions"]["https://prm-sync.dev/xapi/product-line"] == "security"
    assert unknown == {"objectType": "Activity", "id": "https://lms.test/none"}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"bogus": "1"}, id="unknown-parameter"),
        pytest.param({"limit": "-1"}, id="negative-limit"),
        pytest.param({"since": "yesterday"}, id="bad-since"),
        pytest.param({"agent": "not json"}, id="bad-agent"),
    ],
)
def test_bad_queries_are_400(lms_sandbox: Any, params: dict[str, str]) -> None:
    lms_sandbox.app.insert_statements([make_statement("f@acme.test", "https://lms.test/c")])
    assert _get(lms_sandbox, "/xAPI/statements", **params).status_code == 400


def test_faults_rate_limit_quota_and_unavailable(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    requests.post(
        f"{lms_sandbox.url}/__sandbox/faults", json={"burst_429": 1, "retry_after_seconds": 7}, timeout=5
    )
    limited = _get(lms_sandbox, "/xAPI/statements")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    app.faults.fail_next_5xx = 1
    assert _get(lms_sandbox, "/xAPI/statements").status_code == 503
    app.faults.quota_remaining = 0
    exhausted = _get(lms_sandbox, "/xAPI/statements")
    assert (exhausted.status_code, exhausted.json()["error"]) == (403, "quota_exceeded")


def test_drop_after_write_stores_but_loses_the_answer(lms_sandbox: Any) -> None:
    lms_sandbox.app.faults.drop_after_write = 1
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{lms_sandbox.url}/xAPI/statements",
            json=make_statement("g@acme.test", "https://lms.test/c"),
            headers=_headers(lms_sandbox.access_token),
            timeout=5,
        )
    assert len(lms_sandbox.app.statements) == 1


def test_dump_and_load_state_round_trip() -> None:
    app = LmsSandbox()
    app.add_course("https://lms.test/c", "Course", "platform")
    _seed(app, 2)
    copy = LmsSandbox()
    copy.load_state(json.loads(json.dumps(app.dump_state())))
    assert copy.dump_state() == app.dump_state()
