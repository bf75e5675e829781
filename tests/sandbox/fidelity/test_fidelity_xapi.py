"""The LRS sandbox against the xAPI 1.0.3 Communication specification's requirements on /statements.

Each row names the requirement (section of xAPI-Communication.md) and sends
one request with plain ``requests``; the multi-step requirements (PUT and
immutability, voiding, ``more`` paging) are tests of their own. The LRS is
filled through the API at known ``stored`` times (the server's clock is set
between POSTs): Alice completed course 1 at T1, passed course 2 at T2,
failed course 4 at T2+30 s (voided at T5), completed course 3 at T3; Bob
completed course 1 at T4.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

VERBS = "http://adlnet.gov/expapi/verbs/"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T = {n: T0 + timedelta(minutes=n) for n in range(1, 6)}


def stamp(n: int) -> str:
    return T[n].strftime("%Y-%m-%dT%H:%M:%S.000Z")


def statement(email: str, verb: str, course: int, statement_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": f"https://lms.example/courses/{course}"},
    }
    if statement_id:
        body["id"] = statement_id
    return body


@dataclass
class Lrs:
    url: str
    session: requests.Session
    ids: dict[str, str] = field(default_factory=dict)

    def get(self, params: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        return self.session.get(f"{self.url}/xAPI/statements", params=params, **kwargs)


@pytest.fixture
def lrs(lms_sandbox: Any) -> Lrs:
    session = requests.Session()
    basic = base64.b64encode(f"{lms_sandbox.key}:{lms_sandbox.secret}".encode()).decode()
    session.headers.update({"Authorization": f"Basic {basic}", "X-Experience-API-Version": "1.0.3"})
    world = Lrs(lms_sandbox.url, session)
    app = lms_sandbox.app
    plan = [
        ("alice_1", 1, statement("alice@example.com", "completed", 1)),
        ("alice_2", 2, statement("alice@example.com", "passed", 2)),
        ("alice_4", 2, statement("alice@example.com", "failed", 4)),
        ("alice_3", 3, statement("alice@example.com", "completed", 3)),
        ("bob_1", 4, statement("bob@example.com", "completed", 1)),
    ]
    for name, minute, body in plan:
        app.clock = T[minute] + (timedelta(seconds=30) if name == "alice_4" else timedelta())
        answer = session.post(f"{world.url}/xAPI/statements", json=body)
        assert answer.status_code == 200, answer.text
        world.ids[name] = answer.json()[0]
    app.clock = T[5]
    voiding = {"actor": {"mbox": "mailto:registrar@example.com"}, "verb": {"id": VERBS + "voided"},
               "object": {"objectType": "StatementRef", "id": world.ids["alice_4"]}}
    world.ids["voiding"] = session.post(f"{world.url}/xAPI/statements", json=voiding).json()[0]
    return world


@dataclass(frozen=True)
class Rule:
    id: str
    params: dict[str, str]
    status: int = 200
    check: Callable[[Any, dict[str, str]], bool] = lambda body, ids: True
    headers: dict[str, str | None] = field(default_factory=dict)  # None removes the session's header


def _ids(body: Any) -> list[str]:
    return [s["id"] for s in body["statements"]]


RULES = [
    Rule("3.3: a request without X-Experience-API-Version is 400", {}, 400,
         headers={"X-Experience-API-Version": None}),
    Rule("3.3: version 1.0 is accepted as 1.0.0", {"limit": "1"}, headers={"X-Experience-API-Version": "1.0"}),
    Rule("3.3: version 1.1.0 or greater is 400", {}, 400, headers={"X-Experience-API-Version": "1.1.0"}),
    Rule("3.3: a version before 1.0.0 is 400", {}, 400, headers={"X-Experience-API-Version": "0.95"}),
    Rule("4.0: credentials the LRS refuses are 401", {}, 401, headers={"Authorization": "Basic Og=="}),
    Rule("3.2: an unknown parameter is 400", {"learner": "alice"}, 400),
    Rule("3.2: a parameter differing only in case is 400", {"Verb": VERBS + "completed"}, 400),
    Rule("2.1.3: statementId with another filter is 400", {"statementId": "{alice_1}", "verb": VERBS + "passed"}, 400),
    Rule("2.1.3: statementId with voidedStatementId is 400",
         {"statementId": "{alice_1}", "voidedStatementId": "{alice_4}"}, 400),
    Rule("2.1.3: statementId returns that statement", {"statementId": "{alice_2}"},
         check=lambda b, ids: b["id"] == ids["alice_2"] and b["stored"] == stamp(2)),
    Rule("2.1.4: a voided statement is not returned by statementId", {"statementId": "{alice_4}"}, 404),
    Rule("2.1.4: a voided statement is returned by voidedStatementId", {"voidedStatementId": "{alice_4}"},
         check=lambda b, ids: b["id"] == ids["alice_4"]),
    Rule("2.1.3: results are newest first by stored, voided ones left out, voiding ones kept", {},
         check=lambda b, ids: _ids(b) == [ids[n] for n in ("voiding", "bob_1", "alice_3", "alice_2", "alice_1")]),
    Rule("2.1.3: ascending=true returns the oldest first", {"ascending": "true", "limit": "2"},
         check=lambda b, ids: _ids(b) == [ids["alice_1"], ids["alice_2"]] and b["more"]),
    Rule("2.1.3: since is exclusive", {"since": stamp(2), "ascending": "true"},
         check=lambda b, ids: _ids(b) == [ids["alice_3"], ids["bob_1"], ids["voiding"]]),
    Rule("2.1.3: until is inclusive", {"until": stamp(2), "ascending": "true"},
         check=lambda b, ids: _ids(b) == [ids["alice_1"], ids["alice_2"]]),
    Rule("2.1.3: agent returns the statements whose actor is that agent",
         {"agent": '{"mbox": "mailto:bob@example.com"}'}, check=lambda b, ids: _ids(b) == [ids["bob_1"]]),
    Rule("2.1.3: verb filters by verb id", {"verb": VERBS + "passed"}, check=lambda b, ids: _ids(b) == [ids["alice_2"]]),
    Rule("2.1.3: activity filters by the object's id", {"activity": "https://lms.example/courses/1", "ascending": "true"},
         check=lambda b, ids: _ids(b) == [ids["alice_1"], ids["bob_1"]]),
    Rule("2.1.3: limit caps the page and more points to the rest", {"limit": "1"},
         check=lambda b, ids: len(b["statements"]) == 1 and b["more"].startswith("/xAPI/statements")),
    Rule("2.1.3: no match is still 200 with an empty list and no more", {"verb": VERBS + "attended"},
         check=lambda b, ids: b == {"statements": [], "more": ""}),
]


def _fill(params: dict[str, str], ids: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        for name, statement_id in ids.items():
            value = value.replace("{" + name + "}", statement_id)
        out[key] = value
    return out


def _consistent_through(response: requests.Response) -> datetime:
    return datetime.fromisoformat(response.headers["X-Experience-API-Consistent-Through"].replace("Z", "+00:00"))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_statements_requirement(rule: Rule, lrs: Lrs) -> None:
    headers = {k: v for k, v in rule.headers.items() if v is not None}
    removed = [k for k, v in rule.headers.items() if v is None]
    session_headers = {k: v for k, v in lrs.session.headers.items() if k not in removed}
    response = requests.get(f"{lrs.url}/xAPI/statements", params=_fill(rule.params, lrs.ids),
                            headers={**session_headers, **headers})
    assert response.status_code == rule.status, response.text[:300]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"  # 3.3: on every answer
    body = response.json()
    if rule.status >= 400:
        assert body["message"]  # 3.2: a message explaining the cause
        return
    assert rule.check(body, lrs.ids), body
    assert _consistent_through(response) >= T[5]  # 2.1.3: on every Statement Resource answer


def test_about_is_public_and_names_the_versions(lrs: Lrs) -> None:
    response = requests.get(f"{lrs.url}/xAPI/about")
    assert response.status_code == 200 and "1.0.3" in response.json()["version"]


def test_put_stores_under_the_statement_id_and_a_different_statement_with_that_id_is_409(lrs: Lrs) -> None:
    new_id = str(uuid.uuid4())
    body = statement("carol@example.com", "completed", 7)
    put = lrs.session.put(f"{lrs.url}/xAPI/statements", params={"statementId": new_id}, json=body)
    assert put.status_code == 204 and put.content == b""  # 2.1.1: returns 204 No Content
    assert _consistent_through(put) >= T[5]
    stored = lrs.get({"statementId": new_id})
    assert stored.status_code == 200 and stored.json()["id"] == new_id
    assert stored.headers["Last-Modified"]  # 2.1.3.s2.b8
    again = lrs.session.put(f"{lrs.url}/xAPI/statements", params={"statementId": new_id}, json=body)
    assert again.status_code == 204  # the same statement again: no change, no error
    other = lrs.session.put(f"{lrs.url}/xAPI/statements", params={"statementId": new_id},
                            json=statement("carol@example.com", "failed", 7))
    assert other.status_code == 409  # 2.1.1.s2.b3: a different statement with that id
    assert lrs.get({"statementId": new_id}).json()["verb"]["id"] == VERBS + "completed"  # unchanged
    posted = lrs.session.post(f"{lrs.url}/xAPI/statements", json=statement("carol@example.com", "failed", 7, new_id))
    assert posted.status_code == 409  # 2.1.2.s2.b5: POST keeps the same rule
    missing = lrs.session.put(f"{lrs.url}/xAPI/statements", json=body)
    assert missing.status_code == 400  # statementId is required
    mismatch = lrs.session.put(f"{lrs.url}/xAPI/statements", params={"statementId": str(uuid.uuid4())},
                               json=statement("carol@example.com", "completed", 8, new_id))
    assert mismatch.status_code == 400  # the body's id must match the parameter


def test_post_returns_ids_in_order_and_a_batch_repeating_an_id_is_400(lrs: Lrs) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    batch = [statement("dan@example.com", "completed", 1, first), statement("dan@example.com", "passed", 2, second)]
    answer = lrs.session.post(f"{lrs.url}/xAPI/statements", json=batch)
    assert answer.status_code == 200 and answer.json() == [first, second]
    repeated = str(uuid.uuid4())
    twice = [statement("dan@example.com", "completed", 3, repeated), statement("dan@example.com", "failed", 3, repeated)]
    assert lrs.session.post(f"{lrs.url}/xAPI/statements", json=twice).status_code == 400  # 2.1.2.s2.b6
    assert lrs.get({"statementId": repeated}).status_code == 404  # 3.2.s3.b9: the whole batch is rejected


def test_statements_must_be_sent_as_json(lrs: Lrs) -> None:
    body = b'{"actor": {"mbox": "mailto:erin@example.com"}}'
    answer = lrs.session.post(f"{lrs.url}/xAPI/statements", data=body, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400  # 3.2.s3.b6
    broken = lrs.session.post(f"{lrs.url}/xAPI/statements", data=b"{not json",
                              headers={"Content-Type": "application/json"})
    assert broken.status_code == 400  # 3.2: malformed JSON is an invalid argument


def test_more_pages_through_every_statement_exactly_once(lrs: Lrs) -> None:
    seen: list[str] = []
    url = f"{lrs.url}/xAPI/statements?limit=2"
    for _ in range(10):
        page = lrs.session.get(url)
        assert page.status_code == 200 and _consistent_through(page) >= T[5]
        body = page.json()
        seen += _ids(body)
        if not body["more"]:
            break
        url = lrs.url + body["more"]
    assert seen == [lrs.ids[n] for n in ("voiding", "bob_1", "alice_3", "alice_2", "alice_1")]


def _rich(email: str, course: str, statement_id: str) -> dict[str, Any]:
    """A statement with names, language maps, a parent course and an instructor."""
    return {
        "id": statement_id,
        "actor": {"objectType": "Agent", "name": "Frank", "mbox": f"mailto:{email}"},
        "verb": {"id": VERBS + "completed", "display": {"en-US": "completed", "de-DE": "abgeschlossen"}},
        "object": {"objectType": "Activity", "id": f"https://lms.example/modules/{course}",
                   "definition": {"name": {"en-US": "Module", "fr-FR": "Module (fr)"},
                                  "type": "http://adlnet.gov/expapi/activities/module"}},
        "context": {"instructor": {"objectType": "Agent", "name": "Grace", "mbox": "mailto:grace@example.com"},
                    "contextActivities": {"parent": [{"objectType": "Activity",
                                                      "id": f"https://lms.example/courses/{course}",
                                                      "definition": {"name": {"en-US": "Course"}}}]}},
    }


def test_format_ids_keeps_only_what_identifies_agents_activities_and_verbs(lrs: Lrs) -> None:
    statement_id = str(uuid.uuid4())
    assert lrs.session.post(f"{lrs.url}/xAPI/statements", json=_rich("frank@example.com", "ids", statement_id)).ok
    got = lrs.get({"statementId": statement_id, "format": "ids"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["actor"] == {"objectType": "Agent", "mbox": "mailto:frank@example.com"}
    assert body["verb"] == {"id": VERBS + "completed"}
    assert body["object"] == {"objectType": "Activity", "id": "https://lms.example/modules/ids"}
    assert body["context"]["instructor"] == {"objectType": "Agent", "mbox": "mailto:grace@example.com"}
    assert body["context"]["contextActivities"]["parent"] == [
        {"objectType": "Activity", "id": "https://lms.example/courses/ids"}]
    exact = lrs.get({"statementId": statement_id}).json()  # the default is exact: everything as stored
    assert exact["actor"]["name"] == "Frank" and exact["verb"]["display"]["de-DE"] == "abgeschlossen"


def test_format_canonical_gives_one_language_per_map_by_accept_language(lrs: Lrs) -> None:
    statement_id = str(uuid.uuid4())
    assert lrs.session.post(f"{lrs.url}/xAPI/statements", json=_rich("frank@example.com", "canon", statement_id)).ok
    german = lrs.get({"statementId": statement_id, "format": "canonical"},
                     headers={"Accept-Language": "de-DE, en;q=0.5"}).json()
    assert german["verb"]["display"] == {"de-DE": "abgeschlossen"}
    assert german["object"]["definition"]["name"] == {"en-US": "Module"}  # no German: the next preference
    assert german["actor"]["name"] == "Frank"  # Agents stay as in exact
    french = lrs.get({"statementId": statement_id, "format": "canonical"}, headers={"Accept-Language": "fr"}).json()
    assert french["object"]["definition"]["name"] == {"fr-FR": "Module (fr)"}


def test_attachments_true_answers_in_the_multipart_format_with_the_result_first(lrs: Lrs) -> None:
    answer = lrs.get({"verb": VERBS + "passed", "attachments": "true"})
    assert answer.status_code == 200 and answer.headers["X-Experience-API-Version"] == "1.0.3"
    media, _, boundary = answer.headers["Content-Type"].partition("; boundary=")
    assert media == "multipart/mixed" and boundary
    parts = answer.content.split(b"--" + boundary.encode())
    assert parts[0] == b"" and parts[-1].strip() == b"--"
    head, _, data = parts[1].strip(b"\r\n").partition(b"\r\n\r\n")
    assert head.lower() == b"content-type: application/json"
    assert _ids(json.loads(data)) == [lrs.ids["alice_2"]]


def test_related_activities_and_related_agents_apply_the_filters_broadly(lrs: Lrs) -> None:
    statement_id = str(uuid.uuid4())
    assert lrs.session.post(f"{lrs.url}/xAPI/statements", json=_rich("frank@example.com", "wide", statement_id)).ok
    course = "https://lms.example/courses/wide"
    assert _ids(lrs.get({"activity": course}).json()) == []  # the course is only the parent
    assert _ids(lrs.get({"activity": course, "related_activities": "true"}).json()) == [statement_id]
    grace = '{"mbox": "mailto:grace@example.com"}'
    assert _ids(lrs.get({"agent": grace}).json()) == []  # Grace is only the instructor
    assert statement_id in _ids(lrs.get({"agent": grace, "related_agents": "true"}).json())
    refused = lrs.get({"related_agents": "sometimes"})
    assert refused.status_code == 400 and refused.json()["message"]


def test_every_answer_carries_the_version_header_even_a_refused_method(lrs: Lrs, lms_sandbox: Any) -> None:
    for method in ("DELETE", "PATCH"):  # statements are immutable: no such method on the resource
        answer = lrs.session.request(method, f"{lrs.url}/xAPI/statements")
        assert answer.status_code == 405 and answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert lms_sandbox.app.unimplemented == ["DELETE /xAPI/statements", "PATCH /xAPI/statements"]
    lms_sandbox.app.unimplemented.clear()  # seen and asserted: the strict fixture need not fail
