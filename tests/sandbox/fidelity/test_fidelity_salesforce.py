"""The Salesforce sandbox against the REST API Developer Guide's documented request/response pairs.

Each row is one documented exchange (the guide's example request, with its
example values where it gives them) and what the guide says comes back:
status, shape and the fields a client relies on. Requests go out with plain
``requests`` (no simple-salesforce, no prm-sync connector), the way curl does
in the guide. ``{id}`` and ``{other}`` in a path or body are two Accounts the
test creates first; ``{missing}`` is a well-formed id of no record; ``{org}`` and
``{user}`` are the org's id and the session user's id (the identity URL's path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

V = "/services/data/v59.0"
MISSING = "001000000000000AAA"


@dataclass(frozen=True)
class Pair:
    id: str
    method: str
    path: str
    body: Any = None
    status: int = 200
    check: Callable[[Any], bool] = lambda body: True
    auth: bool = True


def _iso(moment: datetime) -> str:
    """Salesforce's datetime rendering (``2013-05-08T21:20:00.000+0000``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _error(code: str) -> Callable[[Any], bool]:
    return lambda b: isinstance(b, list) and b[0]["errorCode"] == code and b[0]["message"]


def _attributes(body: dict[str, Any], object_type: str = "Account") -> bool:
    return body["attributes"]["type"] == object_type and body["attributes"]["url"].startswith(f"{V}/sobjects/")


PAIRS = [
    Pair("the versions list needs no session and gives label, url and version", "GET", "/services/data/",
         auth=False, check=lambda b: {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in b
         and all(set(v) == {"label", "url", "version"} for v in b)),
    Pair("the resource list of a version names its resources by URL and the session's identity", "GET", f"{V}/",
         check=lambda b: {k: b[k] for k in ("sobjects", "query", "composite", "limits", "tooling", "jobs")}
         == {k: f"{V}/{k}" for k in ("sobjects", "query", "composite", "limits", "tooling", "jobs")}
         and "/id/00D" in b["identity"]),
    Pair("the identity URL answers who the session's user is, with the org's URL templates", "GET",
         "/id/{org}/{user}",
         check=lambda b: b["id"].endswith(f"/id/{b['organization_id']}/{b['user_id']}") and b["user_id"].startswith("005")
         and b["organization_id"].startswith("00D") and b["urls"]["rest"].endswith("/services/data/v{version}/")
         and b["urls"]["sobjects"].endswith("/services/data/v{version}/sobjects/") and b["active"] is True),
    Pair("the identity URL without a token is 403 Missing_OAuth_Token, in plain text", "GET", "/id/{org}/{user}",
         status=403, auth=False, check=lambda b: b == "Missing_OAuth_Token"),
    Pair("the identity URL of another org is 403 Wrong_Org", "GET", "/id/00D000000000001EAA/{user}", status=403,
         check=lambda b: b == "Wrong_Org"),
    Pair("the identity URL of an id that is not the session's user is 404 Bad_Id", "GET",
         "/id/{org}/005000000000009AAA", status=404, check=lambda b: b == "Bad_Id"),
    Pair("a retired API version is 410 GONE", "GET", "/services/data/v30.0/limits", status=410,
         check=_error("GONE")),
    Pair("a version the org does not serve is NOT_FOUND", "GET", "/services/data/v99.0/limits", status=404,
         check=_error("NOT_FOUND")),
    Pair("create answers 201 with id, success and errors", "POST", f"{V}/sobjects/Account/",
         {"Name": "Express Logistics and Transport"}, 201,
         lambda b: set(b) == {"id", "success", "errors"} and b["success"] is True and b["errors"] == []),
    Pair("a record by id carries attributes and the fields asked for", "GET", f"{V}/sobjects/Account/{{id}}?fields=Name",
         check=lambda b: _attributes(b) and b["Name"] == "Edge Communications" and "BillingCity" not in b),
    Pair("an update answers 204 with no body", "PATCH", f"{V}/sobjects/Account/{{id}}", {"BillingCity": "Austin"}, 204),
    Pair("a delete answers 204 with no body", "DELETE", f"{V}/sobjects/Account/{{other}}", status=204),
    Pair("an unknown record is 404 NOT_FOUND", "GET", f"{V}/sobjects/Account/{{missing}}", status=404,
         check=_error("NOT_FOUND")),
    Pair("a query answers totalSize, done and records with attributes", "GET",
         f"{V}/query/?q=SELECT+Name+FROM+Account+WHERE+Name+=+'Edge+Communications'",
         check=lambda b: b["totalSize"] == 1 and b["done"] is True and _attributes(b["records"][0])
         and b["records"][0]["Name"] == "Edge Communications"),
    Pair("a malformed query is 400 MALFORMED_QUERY", "GET", f"{V}/query/?q=SELECT+FROM+WHERE", status=400,
         check=_error("MALFORMED_QUERY")),
    Pair("collections retrieve by GET answers in id order with null for an unknown id", "GET",
         f"{V}/composite/sobjects/Account?ids={{other}},{{missing}},{{id}}&fields=id,name",
         check=lambda b: [r and r["Name"] for r in b] == ["Burlington Textiles", None, "Edge Communications"]
         and all(_attributes(r) and set(r) == {"attributes", "Id", "Name"} for r in b if r)),
    Pair("collections retrieve by POST takes ids and fields in the body", "POST", f"{V}/composite/sobjects/Account",
         {"ids": ["{id}", "not-an-id"], "fields": ["Name", "BillingCity"]},
         check=lambda b: b[1] is None and b[0]["Name"] == "Edge Communications" and "BillingCity" in b[0]),
    Pair("collections retrieve by POST, the guide's example: lower-case field names answer Id and Name", "POST",
         f"{V}/composite/sobjects/Account", {"ids": ["{id}", "{other}", "{missing}"], "fields": ["id", "name"]},
         check=lambda b: [r and r["Name"] for r in b] == ["Edge Communications", "Burlington Textiles", None]
         and all(set(r) == {"attributes", "Id", "Name"} for r in b if r)),
    Pair("collections retrieve with an unknown field is 400 INVALID_FIELD", "GET",
         f"{V}/composite/sobjects/Account?ids={{id}}&fields=Name,Colour__c", status=400, check=_error("INVALID_FIELD")),
    Pair("collections create answers one result per record, in order", "POST", f"{V}/composite/sobjects/",
         {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": "Pyramid Construction"},
                                          {"attributes": {"type": "Account"}, "BillingCity": "Paris"}]},
         check=lambda b: b[0]["success"] is True and b[1]["success"] is False
         and b[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"),
    Pair("updated records in a window are ids and latestDateCovered, which never passes now", "GET",
         f"{V}/sobjects/Account/updated/?start={{hour_ago}}&end={{tomorrow}}",
         check=lambda b: set(b) == {"ids", "latestDateCovered"} and len(b["ids"]) == 2
         and b["latestDateCovered"] < _iso(datetime.now(UTC) + timedelta(minutes=1))),
    Pair("deleted records in a window carry id and deletedDate", "GET",
         f"{V}/sobjects/Account/deleted/?start={{hour_ago}}&end={{tomorrow}}",
         check=lambda b: set(b) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
         and [set(r) for r in b["deletedRecords"]] == [{"id", "deletedDate"}]
         and b["latestDateCovered"] < _iso(datetime.now(UTC) + timedelta(minutes=1))),
    Pair("a replication window without end is 400 MISSING_ARGUMENT", "GET",
         f"{V}/sobjects/Account/updated/?start={{hour_ago}}", status=400, check=_error("MISSING_ARGUMENT")),
    Pair("describe global lists the org's objects with their URLs", "GET", f"{V}/sobjects/",
         check=lambda b: b["encoding"] == "UTF-8" and any(o["name"] == "Account"
                                                          and o["urls"]["sobject"] == f"{V}/sobjects/Account"
                                                          for o in b["sobjects"])),
    Pair("limits give Max and Remaining of the daily API requests", "GET", f"{V}/limits/",
         check=lambda b: b["DailyApiRequests"]["Max"] >= b["DailyApiRequests"]["Remaining"] > 0),
    Pair("a request without a valid session is 401 INVALID_SESSION_ID", "GET", f"{V}/limits/", status=401,
         auth=False, check=_error("INVALID_SESSION_ID")),
]


@pytest.fixture
def org(salesforce_sandbox: Any) -> tuple[requests.Session, str, dict[str, str]]:
    session = requests.Session()
    session.verify = salesforce_sandbox.ca_bundle
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the sandbox CA
    ids = salesforce_sandbox.app.insert_records(
        "Account", [{"Name": "Edge Communications"}, {"Name": "Burlington Textiles"}, {"Name": "Gone Inc"}]
    )
    auth = {"Authorization": f"Bearer {salesforce_sandbox.access_token}"}
    assert session.delete(f"{salesforce_sandbox.url}{V}/sobjects/Account/{ids[2]}", headers=auth).status_code == 204
    now = datetime.now(UTC)
    window = {"hour_ago": quote(_iso(now - timedelta(hours=1))), "tomorrow": quote(_iso(now + timedelta(days=1)))}
    oauth = salesforce_sandbox.app.oauth
    return session, salesforce_sandbox.url, {"id": ids[0], "other": ids[1], "missing": MISSING,
                                             "org": oauth.org_id, "user": oauth.integration_user.user_id, **window}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, record_id in ids.items():
        text = text.replace("{" + name + "}", record_id)
    return json.loads(text)


@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_documented_exchange(pair: Pair, org: tuple[requests.Session, str, dict[str, str]],
                             salesforce_sandbox: Any) -> None:
    session, url, ids = org
    headers = {"Authorization": f"Bearer {salesforce_sandbox.access_token}"} if pair.auth else {}
    response = session.request(pair.method, url + _fill(pair.path, ids), headers=headers,
                               json=_fill(pair.body, ids) if pair.body is not None else None)
    assert response.status_code == pair.status, response.text[:300]
    json_answer = (response.headers.get("Content-Type") or "").startswith("application/json")
    body = response.json() if response.content and json_answer else (response.text or None)
    if pair.status == 204:
        assert body is None
    assert pair.check(body), body
    if pair.path.startswith("/services/data/v"):  # the REST API's answers; the identity service is another
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "what"),
    [
        pytest.param("GET", f"{V}/limits/", {"Accept": "application/xml"}, None, "XML responses",
                     id="an XML answer is a JSON 501 naming it"),
        pytest.param("POST", f"{V}/sobjects/Account/", {"Content-Type": "application/xml"},
                     b"<Account><Name>Acme</Name></Account>", "XML request bodies",
                     id="an XML body is a JSON 501 naming it"),
    ],
)
def test_xml_which_the_real_api_speaks_is_a_named_501_not_a_json_answer(
    method: str, path: str, headers: dict[str, str], body: bytes | None, what: str,
    org: tuple[requests.Session, str, dict[str, str]], salesforce_sandbox: Any,
) -> None:
    session, url, _ = org
    response = session.request(method, url + path, data=body,
                               headers={"Authorization": f"Bearer {salesforce_sandbox.access_token}", **headers})
    assert response.status_code == 501 and what in response.json()["message"]
    assert salesforce_sandbox.app.unimplemented == [f"{method} {path} ({what})"]
    salesforce_sandbox.app.unimplemented.clear()  # seen and asserted: the strict fixture need not fail


def test_the_resource_lists_identity_url_leads_to_the_sessions_user(
    org: tuple[requests.Session, str, dict[str, str]], salesforce_sandbox: Any,
) -> None:
    session, url, ids = org
    auth = {"Authorization": f"Bearer {salesforce_sandbox.access_token}"}
    resources = session.get(f"{url}{V}/", headers=auth).json()
    assert resources["identity"].startswith("https://")  # absolute, unlike the other resources
    who = session.get(resources["identity"], headers=auth)
    assert who.status_code == 200, who.text
    body = who.json()
    assert (body["id"], body["organization_id"], body["user_id"]) == (resources["identity"], ids["org"], ids["user"])
    assert body["username"] == salesforce_sandbox.app.oauth.integration_user.username
