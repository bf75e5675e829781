"""The HubSpot sandbox against HubSpot's published OpenAPI documents (tests/specs/hubspot/).

Each row is one request a client can build from the documents, sent with
plain ``requests`` (no hubspot-api-client, no prm-sync connector). The answer
must validate against the operation's response schema (openapi-core; error
answers against the documents' ``Error`` schema) and carry what the
documents' descriptions promise. The world is made through the API first:
company "acme" with two contacts (one primary) and a deal (primary), company
"lonely" with nothing, company "gone" archived.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sandbox_fixtures.hubspot import assert_matches_spec


@dataclass(frozen=True)
class Pair:
    id: str
    method: str
    path: str  # {acme}, {lonely}, {gone}, {alice}, {bob}, {deal} are the world's ids
    spec: str
    body: Any = None
    status: int = 200
    check: Callable[[Any, dict[str, str]], bool] = lambda body, ids: True


def _assoc(body: dict[str, Any], key: str) -> list[tuple[str, str]]:
    return [(r["id"], r["type"]) for r in body["associations"][key]["results"]]


PAIRS = [
    Pair("a company read by id with associations=contacts,deals lists both, typed as v3 names", "GET",
         "/crm/v3/objects/companies/{acme}?associations=contacts,deals", "crm_companies",
         check=lambda b, ids: sorted(_assoc(b, "contacts")) == sorted([
             (ids["alice"], "company_to_contact"), (ids["alice"], "company_to_contact_unlabeled"),
             (ids["bob"], "company_to_contact_unlabeled")])
         and _assoc(b, "deals") == [(ids["deal"], "company_to_deal"), (ids["deal"], "company_to_deal_unlabeled")]),
    Pair("associations may be repeated parameters; unknown types are ignored", "GET",
         "/crm/v3/objects/deals/{deal}?associations=companies&associations=tickets,line_items", "crm_deals",
         check=lambda b, ids: set(b["associations"]) == {"companies"}
         and _assoc(b, "companies") == [(ids["acme"], "deal_to_company"), (ids["acme"], "deal_to_company_unlabeled")]),
    Pair("a record without associations of the asked type has no associations key", "GET",
         "/crm/v3/objects/companies/{lonely}?associations=contacts", "crm_companies",
         check=lambda b, ids: "associations" not in b and b["id"] == ids["lonely"]),
    Pair("without associations= a read carries no associations", "GET", "/crm/v3/objects/companies/{acme}",
         "crm_companies", check=lambda b, ids: "associations" not in b),
    Pair("a list with associations= gives each record its own", "GET",
         "/crm/v3/objects/contacts?limit=100&associations=companies&properties=email", "crm_contacts",
         check=lambda b, ids: {r["id"]: sorted(t for _, t in _assoc(r, "companies")) for r in b["results"]}
         == {ids["alice"]: ["contact_to_company", "contact_to_company_unlabeled"],
             ids["bob"]: ["contact_to_company_unlabeled"]}),
    Pair("a list pages with paging.next.after and keeps associations on every page", "GET",
         "/crm/v3/objects/companies?limit=1&associations=contacts", "crm_companies",
         check=lambda b, ids: len(b["results"]) == 1 and b["paging"]["next"]["after"] == b["results"][0]["id"]),
    Pair("an archived company is read with archived=true, without associations", "GET",
         "/crm/v3/objects/companies/{gone}?archived=true&associations=contacts", "crm_companies",
         check=lambda b, ids: b["archived"] is True and "archivedAt" in b and "associations" not in b),
    Pair("archived=true lists only archived records", "GET",
         "/crm/v3/objects/companies?archived=true&associations=contacts", "crm_companies",
         check=lambda b, ids: [r["id"] for r in b["results"]] == [ids["gone"]]),
    Pair("an unknown id is 404 OBJECT_NOT_FOUND", "GET", "/crm/v3/objects/companies/999999999", "crm_companies",
         status=404, check=lambda b, ids: b["category"] == "OBJECT_NOT_FOUND"),
    Pair("create answers 201 with the stored properties", "POST", "/crm/v3/objects/companies", "crm_companies",
         {"properties": {"name": "Biglytics", "domain": "biglytics.net"}}, 201,
         lambda b, ids: b["properties"]["name"] == "Biglytics" and b["archived"] is False),
    Pair("update answers 200 with the new value", "PATCH", "/crm/v3/objects/companies/{lonely}", "crm_companies",
         {"properties": {"city": "Cambridge"}}, check=lambda b, ids: b["properties"]["city"] == "Cambridge"),
    Pair("batch read by a unique property answers status, results and timestamps", "POST",
         "/crm/v3/objects/contacts/batch/read", "crm_contacts",
         {"idProperty": "email", "properties": ["email"], "inputs": [{"id": "alice@acme.example"}],
          "propertiesWithHistory": []},
         check=lambda b, ids: b["status"] == "COMPLETE" and b["results"][0]["id"] == ids["alice"]),
    Pair("batch read with an unknown id is 207 with the error naming it", "POST",
         "/crm/v3/objects/contacts/batch/read", "crm_contacts",
         {"properties": ["email"], "inputs": [{"id": "{alice}"}, {"id": "424242"}], "propertiesWithHistory": []},
         207, lambda b, ids: b["errors"][0]["context"]["ids"] == ["424242"] and len(b["results"]) == 1),
    Pair("search answers total and results sorted as asked", "POST", "/crm/v3/objects/contacts/search",
         "crm_contacts", {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN",
                                                          "value": "*@acme.example"}]}],
                          "sorts": [{"propertyName": "email", "direction": "ASCENDING"}],
                          "properties": ["email"], "limit": 10, "after": "0"},
         check=lambda b, ids: b["total"] == 2 and [r["id"] for r in b["results"]] == [ids["alice"], ids["bob"]]),
    Pair("properties of an object type list name, type and fieldType", "GET", "/crm/v3/properties/companies",
         "crm_properties", check=lambda b, ids: any(p["name"] == "name" and p["type"] == "string"
                                                     for p in b["results"])),
    Pair("a property made in companyinformation, the group HubSpot's example uses, answers 201 in that group",
         "POST", "/crm/v3/properties/companies", "crm_properties",
         {"name": "partner_level", "label": "Partner level", "type": "enumeration", "fieldType": "select",
          "groupName": "companyinformation", "options": [{"label": "Gold", "value": "gold", "displayOrder": 0,
                                                          "hidden": False}]}, 201,
         lambda b, ids: b["groupName"] == "companyinformation" and b["hubspotDefined"] is False
         and b["modificationMetadata"]["archivable"] is True),
    Pair("a portal's company property groups are HubSpot's defaults", "GET", "/crm/v3/properties/companies/groups",
         "crm_properties", check=lambda b, ids: {"companyinformation", "company_activity", "socialmediainformation"}
         <= {g["name"] for g in b["results"]} and "information" not in {g["name"] for g in b["results"]}),
    Pair("a built-in company property reports companyinformation", "GET", "/crm/v3/properties/companies/domain",
         "crm_properties", check=lambda b, ids: b["groupName"] == "companyinformation" and b["hubspotDefined"]),
    Pair("a built-in contact property reports contactinformation", "GET", "/crm/v3/properties/contacts/email",
         "crm_properties", check=lambda b, ids: b["groupName"] == "contactinformation"),
    Pair("a built-in deal property reports dealinformation", "GET", "/crm/v3/properties/deals/dealstage",
         "crm_properties", check=lambda b, ids: b["groupName"] == "dealinformation"),
    Pair("every built-in company property is in one of the portal's groups", "GET", "/crm/v3/properties/companies",
         "crm_properties", check=lambda b, ids: {p["groupName"] for p in b["results"] if p["hubspotDefined"]}
         == {"companyinformation"}),
    Pair("a property update changes what it names and answers the property", "PATCH",
         "/crm/v3/properties/companies/legacy_code", "crm_properties", {"label": "Old ERP code"},
         check=lambda b, ids: b["label"] == "Old ERP code" and b["type"] == "string"),
    Pair("options on a text property are refused", "PATCH", "/crm/v3/properties/companies/legacy_code",
         "crm_properties", {"options": [{"label": "A", "value": "a", "displayOrder": 0, "hidden": False}]}, 400,
         lambda b, ids: b["category"] == "VALIDATION_ERROR"),
    Pair("updating a property that does not exist is 404", "PATCH", "/crm/v3/properties/companies/no_such_thing",
         "crm_properties", {"label": "x"}, 404, lambda b, ids: b["category"] == "OBJECT_NOT_FOUND"),
    Pair("archiving a custom property moves it to the recycling bin: 204", "DELETE",
         "/crm/v3/properties/companies/legacy_code", "crm_properties", status=204),
    Pair("archiving a HubSpot-defined property is refused", "DELETE", "/crm/v3/properties/companies/name",
         "crm_properties", status=400, check=lambda b, ids: b["category"] == "VALIDATION_ERROR"),
    Pair("archiving a property that does not exist is 404", "DELETE", "/crm/v3/properties/companies/no_such_thing",
         "crm_properties", status=404, check=lambda b, ids: b["category"] == "OBJECT_NOT_FOUND"),
    Pair("an archive answers 204", "DELETE", "/crm/v3/objects/companies/{lonely}", "crm_companies", status=204),
    Pair("a body that is not JSON is 400 VALIDATION_ERROR naming line and column", "POST",
         "/crm/v3/objects/companies", "crm_companies", b'{"properties": {"name": oops}}', 400,
         lambda b, ids: b["category"] == "VALIDATION_ERROR"
         and b["message"].startswith("Invalid input JSON on line 1, column 25")),
]


@pytest.fixture
def portal(hubspot_sandbox: Any) -> tuple[requests.Session, str, dict[str, str]]:
    """The world of the module docstring, made through the documented endpoints."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {hubspot_sandbox.access_token}"
    url = hubspot_sandbox.url

    def create(object_type: str, properties: dict[str, str]) -> str:
        response = session.post(f"{url}/crm/v3/objects/{object_type}", json={"properties": properties})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def link(from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None) -> None:
        if type_id is None:
            response = session.put(f"{url}/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
        else:
            types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]
            response = session.put(f"{url}/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}",
                                   json=types)
        assert response.status_code in (200, 201), response.text

    ids = {
        "acme": create("companies", {"name": "Acme", "domain": "acme.example"}),
        "lonely": create("companies", {"name": "Lonely", "domain": "lonely.example"}),
        "gone": create("companies", {"name": "Gone", "domain": "gone.example"}),
        "alice": create("contacts", {"email": "alice@acme.example", "firstname": "Alice"}),
        "bob": create("contacts", {"email": "bob@acme.example", "firstname": "Bob"}),
        "deal": create("deals", {"dealname": "Acme renewal", "pipeline": "default", "dealstage": "qualifiedtobuy"}),
    }
    made = session.post(f"{url}/crm/v3/properties/companies", json={
        "name": "legacy_code", "label": "Legacy code", "type": "string", "fieldType": "text",
        "groupName": "companyinformation"})
    assert made.status_code == 201, made.text
    coded = session.patch(f"{url}/crm/v3/objects/companies/{ids['acme']}", json={"properties": {"legacy_code": "L-1"}})
    assert coded.status_code == 200, coded.text
    link("contacts", ids["alice"], "companies", ids["acme"])
    link("contacts", ids["alice"], "companies", ids["acme"], 1)  # Alice's primary company
    link("contacts", ids["bob"], "companies", ids["acme"])
    link("deals", ids["deal"], "companies", ids["acme"])
    link("deals", ids["deal"], "companies", ids["acme"], 5)  # the deal's primary company
    link("contacts", ids["alice"], "companies", ids["gone"])
    assert session.delete(f"{url}/crm/v3/objects/companies/{ids['gone']}").status_code == 204
    return session, url, ids


def _fill(text: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    return text


@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_documented_exchange(pair: Pair, portal: tuple[requests.Session, str, dict[str, str]]) -> None:
    session, url, ids = portal
    data = None
    if isinstance(pair.body, bytes):
        data = pair.body
    elif pair.body is not None:
        data = _fill(json.dumps(pair.body), ids).encode()
    path = _fill(pair.path, ids)
    response = session.request(pair.method, url + path, data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == pair.status, response.text[:300]
    if pair.status == 204:
        assert response.content == b""
        return
    assert_matches_spec(pair.spec, pair.method, path.split("?")[0], response.status_code, response.content)
    assert pair.check(response.json(), ids), response.json()


def test_past_500_associated_records_the_rest_pages_through_the_v4_list(hubspot_sandbox: Any) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {hubspot_sandbox.access_token}"
    url = hubspot_sandbox.url
    company = session.post(f"{url}/crm/v3/objects/companies", json={"properties": {"name": "Big"}}).json()["id"]
    contacts: list[str] = []
    for start in range(0, 501, 100):
        inputs = [{"properties": {"email": f"c{i}@big.example"}} for i in range(start, min(start + 100, 501))]
        created = session.post(f"{url}/crm/v3/objects/contacts/batch/create", json={"inputs": inputs}).json()
        contacts += [r["id"] for r in created["results"]]
        links = [{"from": {"id": c}, "to": {"id": company}} for c in contacts[start:]]
        answer = session.post(f"{url}/crm/v4/associations/contacts/companies/batch/associate/default",
                              json={"inputs": links})
        assert answer.status_code in (200, 201), answer.text
    path = f"/crm/v3/objects/companies/{company}"
    first = session.get(f"{url}{path}?associations=contacts")
    assert_matches_spec("crm_companies", "GET", path, 200, first.content)
    page = first.json()["associations"]["contacts"]
    assert len({r["id"] for r in page["results"]}) == 500
    rest = session.get(f"{url}/{page['paging']['next']['link']}").json()
    shown = {r["id"] for r in page["results"]} | {str(r["toObjectId"]) for r in rest["results"]}
    assert shown == set(contacts)


def test_an_archived_property_is_gone_from_reads_and_writes_and_listed_as_archived(
    portal: tuple[requests.Session, str, dict[str, str]],
) -> None:
    session, url, ids = portal
    acme = f"{url}/crm/v3/objects/companies/{ids['acme']}"
    assert session.get(f"{acme}?properties=legacy_code").json()["properties"]["legacy_code"] == "L-1"
    assert session.delete(f"{url}/crm/v3/properties/companies/legacy_code").status_code == 204
    gone = session.get(f"{url}/crm/v3/properties/companies/legacy_code")
    assert gone.status_code == 404 and gone.json()["category"] == "OBJECT_NOT_FOUND"
    live = session.get(f"{url}/crm/v3/properties/companies").json()["results"]
    assert "legacy_code" not in {p["name"] for p in live}
    binned = session.get(f"{url}/crm/v3/properties/companies?archived=true")
    assert_matches_spec("crm_properties", "GET", "/crm/v3/properties/companies", 200, binned.content)
    [archived] = [p for p in binned.json()["results"] if p["name"] == "legacy_code"]
    assert archived["archived"] is True and archived["archivedAt"]
    assert session.get(f"{url}/crm/v3/properties/companies/legacy_code?archived=true").json()["archived"] is True
    assert "legacy_code" not in session.get(f"{acme}?properties=legacy_code").json()["properties"]
    write = session.patch(acme, json={"properties": {"legacy_code": "L-2"}})
    assert write.status_code == 400 and "PROPERTY_DOESNT_EXIST" in write.text
