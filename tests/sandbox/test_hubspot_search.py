"""HubSpot sandbox conformance: CRM search through hubspot-api-client's search_api."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hubspot.crm.objects import PublicObjectSearchRequest
from hubspot.crm.objects.exceptions import ApiException
from sandbox_fixtures.hubspot import RunningHubSpot, assert_matches_spec

DEALS = [
    {"dealname": "Acme renewal", "amount": "100", "dealstage": "closedwon", "closedate": "2024-01-10T00:00:00Z"},
    {"dealname": "Beta expansion", "amount": "250", "dealstage": "qualifiedtobuy", "closedate": "2024-02-01T00:00:00Z"},
    {"dealname": "Gamma new logo", "dealstage": "closedlost"},
]
JAN_15_MS = str(int(datetime(2024, 1, 15, tzinfo=UTC).timestamp() * 1000))

CASES = [
    ("EQ", "dealstage", {"value": "closedwon"}, ["Acme renewal"]),
    ("NEQ", "dealstage", {"value": "closedwon"}, ["Beta expansion", "Gamma new logo"]),
    ("LT", "amount", {"value": "250"}, ["Acme renewal"]),
    ("LTE", "amount", {"value": "250"}, ["Acme renewal", "Beta expansion"]),
    ("GT", "amount", {"value": "100"}, ["Beta expansion"]),
    ("GTE", "amount", {"value": "100"}, ["Acme renewal", "Beta expansion"]),
    ("BETWEEN", "amount", {"value": "50", "highValue": "200"}, ["Acme renewal"]),
    ("IN", "dealstage", {"values": ["closedwon", "closedlost"]}, ["Acme renewal", "Gamma new logo"]),
    ("NOT_IN", "dealstage", {"values": ["closedwon"]}, ["Beta expansion", "Gamma new logo"]),
    ("HAS_PROPERTY", "amount", {}, ["Acme renewal", "Beta expansion"]),
    ("NOT_HAS_PROPERTY", "amount", {}, ["Gamma new logo"]),
    ("CONTAINS_TOKEN", "dealname", {"value": "renewal"}, ["Acme renewal"]),
    ("CONTAINS_TOKEN", "dealname", {"value": "exp*"}, ["Beta expansion"]),
    ("NOT_CONTAINS_TOKEN", "dealname", {"value": "renewal"}, ["Beta expansion", "Gamma new logo"]),
    ("GTE", "closedate", {"value": JAN_15_MS}, ["Beta expansion"]),
    ("LT", "closedate", {"value": "2024-01-15T00:00:00Z"}, ["Acme renewal"]),
]


def _search(sandbox: RunningHubSpot, object_type: str, **body: object) -> object:
    api = sandbox.client().crm.objects.search_api
    return api.do_search(object_type, public_object_search_request=PublicObjectSearchRequest(**body))


def _names(answer: object) -> list[str]:
    return sorted(r.properties["dealname"] for r in answer.results)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("operator", "prop", "extra", "expected"),
    CASES,
    ids=[f"{op}-{prop}-{next(iter(extra.values()), '')}" for op, prop, extra, _ in CASES],
)
def test_search_operator(
    hubspot_sandbox: RunningHubSpot, operator: str, prop: str, extra: dict[str, object], expected: list[str]
) -> None:
    hubspot_sandbox.app.insert_records("deals", DEALS)
    flt = {"propertyName": prop, "operator": operator, **extra}
    answer = _search(hubspot_sandbox, "deals", filter_groups=[{"filters": [flt]}], properties=["dealname"], limit=10)
    assert _names(answer) == expected


def test_filter_groups_are_ored_and_filters_anded(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records("deals", DEALS)
    groups = [
        {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "100"}, {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
        {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedlost"}]},
    ]
    answer = _search(hubspot_sandbox, "deals", filter_groups=groups, properties=["dealname"], limit=10)
    assert _names(answer) == ["Acme renewal", "Gamma new logo"]


def test_multi_select_values_match_each_option(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records(
        "deal_registrations", [{"prm_id": "R1", "product_lines": "platform;security"}, {"prm_id": "R2", "product_lines": "analytics"}]
    )
    flt = {"propertyName": "product_lines", "operator": "IN", "values": ["security"]}
    answer = _search(hubspot_sandbox, "2-9000001", filter_groups=[{"filters": [flt]}], properties=["prm_id"], limit=10)
    assert [r.properties["prm_id"] for r in answer.results] == ["R1"]


def test_sorting_paging_and_total_match_the_published_schema(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records("companies", [{"name": f"c{i:02d}", "phone": str(i)} for i in range(25)])
    api = hubspot_sandbox.client().crm.objects.search_api
    seen: list[str] = []
    after = None
    while True:
        request = PublicObjectSearchRequest(
            sorts=[{"propertyName": "name", "direction": "DESCENDING"}], properties=["name"], limit=10, after=after
        )
        answer = api.do_search("companies", public_object_search_request=request)
        assert answer.total == 25
        assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/companies/search", 200, api.api_client.last_response.data)
        seen += [r.properties["name"] for r in answer.results]
        if answer.paging is None:
            break
        after = answer.paging.next.after
    assert seen == [f"c{i:02d}" for i in reversed(range(25))]


@pytest.mark.parametrize(
    "body",
    [
        {"filter_groups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}]}] * 6},
        {"filter_groups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7}]},
        {"limit": 201},
        {"sorts": [{"propertyName": "name"}, {"propertyName": "phone"}]},
        {"filter_groups": [{"filters": [{"propertyName": "colour", "operator": "EQ", "value": "red"}]}]},
    ],
    ids=["six-groups", "seven-filters", "limit-201", "two-sorts", "unknown-property"],
)
def test_search_request_limits_are_enforced(hubspot_sandbox: RunningHubSpot, body: dict[str, object]) -> None:
    with pytest.raises(ApiException) as caught:
        _search(hubspot_sandbox, "companies", **body)
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_paging_past_10000_results_is_a_400(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records("contacts", [{"firstname": "x"} for _ in range(10_050)])
    near = _search(hubspot_sandbox, "contacts", limit=200, after="9800")
    assert near.total == 10_050 and len(near.results) == 200  # type: ignore[attr-defined]
    with pytest.raises(ApiException) as caught:
        _search(hubspot_sandbox, "contacts", limit=200, after="10000")
    assert caught.value.status == 400 and "10000" in json.loads(caught.value.body)["message"]


def test_archived_records_are_not_searchable(hubspot_sandbox: RunningHubSpot) -> None:
    ids = hubspot_sandbox.app.insert_records("deals", DEALS)
    hubspot_sandbox.app.archive_record("deals", ids[0])
    answer = _search(hubspot_sandbox, "deals", properties=["dealname"], limit=10)
    assert _names(answer) == ["Beta expansion", "Gamma new logo"]


def test_lastmodifieddate_accepts_epoch_and_iso_and_ties_share_a_stamp(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.clock = lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    app.insert_records("companies", [{"name": "a"}, {"name": "b"}])
    app.clock = lambda: datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    app.insert_records("companies", [{"name": "c"}])
    stamp_ms = str(int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000))
    by_epoch = _search(hubspot_sandbox, "companies", filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": stamp_ms}]}], limit=10)
    by_iso = _search(hubspot_sandbox, "companies", filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "2024-05-01T12:00:00.000Z"}]}], properties=["name"], limit=10)
    assert by_epoch.total == 2  # type: ignore[attr-defined]
    assert [r.properties["name"] for r in by_iso.results] == ["c"]  # type: ignore[attr-defined]
