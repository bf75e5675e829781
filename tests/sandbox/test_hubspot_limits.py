"""HubSpot sandbox conformance: auth, rate limits, faults, properties API, state."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot.crm.objects.exceptions import ApiException, UnauthorizedException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from sandbox_fixtures.hubspot import RunningHubSpot, assert_matches_spec

from connectors.sandbox.http import SandboxServer
from connectors.sandbox.hubspot import HubSpotSandbox

RATE_HEADERS = [
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
]


def test_wrong_token_is_401_invalid_authentication(hubspot_sandbox: RunningHubSpot) -> None:
    basic = hubspot_sandbox.client(token="not-the-token").crm.objects.basic_api
    with pytest.raises(UnauthorizedException) as caught:
        basic.get_page("companies")
    body = json.loads(caught.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error" and body["correlationId"]
    missing = requests.get(f"{hubspot_sandbox.url}/crm/v3/objects/companies", timeout=5)
    assert missing.status_code == 401 and "credentials not found" in missing.json()["message"]


def test_every_answer_carries_rate_limit_headers(hubspot_sandbox: RunningHubSpot) -> None:
    basic = hubspot_sandbox.client().crm.objects.basic_api
    basic.get_page("companies")
    headers = basic.api_client.last_response.getheaders()
    assert all(h in headers for h in RATE_HEADERS)
    assert headers["X-HubSpot-RateLimit-Max"] == "190" and headers["X-HubSpot-RateLimit-Remaining"] == "189"
    with pytest.raises(ApiException) as caught:
        basic.get_by_id("companies", "404")
    assert all(h in caught.value.headers for h in RATE_HEADERS)


def test_injected_429_burst_is_observed_through_the_client(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.burst_429 = 1
    hubspot_sandbox.app.faults.retry_after_seconds = 3
    basic = hubspot_sandbox.client().crm.objects.basic_api
    with pytest.raises(ApiException) as caught:
        basic.get_page("companies")
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "3"
    body = json.loads(caught.value.body)
    assert body == {**body, "status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert basic.get_page("companies").results == []


def test_rolling_ten_second_window_refuses_then_recovers() -> None:
    app = HubSpotSandbox(ten_second_limit=3, access_token="t")
    now = [100.0]
    app.rate_clock = lambda: now[0]
    with SandboxServer(app) as server:
        url = f"{server.url}/crm/v3/objects/deals"
        headers = {"Authorization": "Bearer t"}
        statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = requests.get(url, headers=headers, timeout=5)
        assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert int(refused.headers["Retry-After"]) == 10
        now[0] += 10.5
        assert requests.get(url, headers=headers, timeout=5).status_code == 200


def test_daily_limit_answers_429_daily_policy() -> None:
    app = HubSpotSandbox(daily_limit=2, access_token="t")
    with SandboxServer(app) as server:
        url = f"{server.url}/crm/v3/objects/deals"
        headers = {"Authorization": "Bearer t"}
        first = requests.get(url, headers=headers, timeout=5)
        assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
        requests.get(url, headers=headers, timeout=5)
        spent = requests.get(url, headers=headers, timeout=5)
        assert spent.status_code == 429 and spent.json()["policyName"] == "DAILY"
        assert int(spent.headers["Retry-After"]) > 0


def test_fault_quota_remaining_exhausts_as_daily(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.quota_remaining = 1
    basic = hubspot_sandbox.client().crm.objects.basic_api
    basic.get_page("companies")
    assert basic.api_client.last_response.getheader("X-HubSpot-RateLimit-Daily-Remaining") == "0"
    with pytest.raises(ApiException) as caught:
        basic.get_page("companies")
    assert caught.value.status == 429 and json.loads(caught.value.body)["policyName"] == "DAILY"


def test_injected_503_is_hubspot_shaped(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.fail_next_5xx = 1
    basic = hubspot_sandbox.client().crm.objects.basic_api
    with pytest.raises(ApiException) as caught:
        basic.get_page("companies")
    assert caught.value.status == 503 and json.loads(caught.value.body)["status"] == "error"


def test_unimplemented_path_is_a_501_json_and_recorded(hubspot_sandbox: RunningHubSpot) -> None:
    response = requests.get(
        f"{hubspot_sandbox.url}/crm/v3/pipelines/deals",
        headers={"Authorization": f"Bearer {hubspot_sandbox.access_token}"},
        timeout=5,
    )
    assert response.status_code == 501 and response.json()["error"] == "NOT_IMPLEMENTED"
    assert hubspot_sandbox.app.unimplemented == ["GET /crm/v3/pipelines/deals"]
    hubspot_sandbox.app.unimplemented.clear()  # expected here; the fixture asserts nothing else was missed


def test_properties_api_lists_creates_and_enforces_unique_values(hubspot_sandbox: RunningHubSpot) -> None:
    client = hubspot_sandbox.client()
    core = client.crm.properties.core_api
    listed = core.get_all("companies")
    assert_matches_spec("crm_properties", "GET", "/crm/v3/properties/companies", 200, core.api_client.last_response.data)
    by_name = {p.name: p for p in listed.results}
    assert by_name["prm_id"].has_unique_value is True
    assert [o.value for o in by_name["partner_tier"].options] == ["registered", "silver", "gold", "platinum"]
    deals = {p.name: p for p in core.get_all("deals").results}
    assert deals["hs_is_closed_won"].modification_metadata.read_only_value is True

    groups = client.crm.properties.groups_api
    groups.create("companies", PropertyGroupCreate(name="erp", label="ERP"))
    assert "erp" in {g.name for g in groups.get_all("companies").results}
    created = core.create(
        "companies",
        PropertyCreate(name="erp_ref", label="ERP ref", type="string", field_type="text", group_name="erp", has_unique_value=True),
    )
    assert created.has_unique_value is True
    assert_matches_spec("crm_properties", "POST", "/crm/v3/properties/companies", 201, core.api_client.last_response.data)
    with pytest.raises(PropertiesApiException) as duplicate:
        core.create("companies", PropertyCreate(name="erp_ref", label="x", type="string", field_type="text", group_name="erp"))
    assert duplicate.value.status == 409
    with pytest.raises(PropertiesApiException) as unknown:
        core.get_by_name("companies", "nope")
    assert unknown.value.status == 404

    upsert = requests.post(
        f"{hubspot_sandbox.url}/crm/v3/objects/companies/batch/upsert",
        json={"inputs": [{"idProperty": "erp_ref", "id": "E-1", "properties": {"name": "Acme"}}]},
        headers={"Authorization": f"Bearer {hubspot_sandbox.access_token}"},
        timeout=5,
    )
    assert upsert.status_code == 200 and upsert.json()["results"][0]["properties"]["erp_ref"] == "E-1"


def test_state_round_trips_through_json(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    companies = app.insert_records("companies", [{"name": "Acme", "prm_id": "P-1"}, {"name": "Beta"}])
    contacts = app.insert_records("contacts", [{"email": "a@acme.com"}])
    app.assocs.add(app.assocs.definition("contacts", "companies", "HUBSPOT_DEFINED", 279), contacts[0], companies[0])
    app.archive_record("companies", companies[1])
    state = json.loads(json.dumps(app.dump_state()))

    restored = HubSpotSandbox()
    restored.load_state(state)
    assert restored.find_record("companies", "prm_id", "P-1") == app.get_record("companies", companies[0])
    assert restored.get_record("companies", companies[1]) is None
    assert restored.associations("companies", companies[0], "contacts") == contacts
    assert restored.insert_records("deals", [{"dealname": "next"}])[0] == str(int(contacts[0]) + 1)


def test_sixty_thousand_records_still_upsert_by_unique_property(hubspot_sandbox: RunningHubSpot) -> None:
    """At 60,000 records a batch upsert still finds each one (speed is the benchmarks' job)."""
    app = hubspot_sandbox.app
    app.insert_records("companies", [{"name": f"c{i}", "prm_id": f"P-{i}"} for i in range(60_000)])
    assert app.find_record("companies", "prm_id", "P-59999") is not None
    response = requests.post(
        f"{hubspot_sandbox.url}/crm/v3/objects/companies/batch/upsert",
        json={"inputs": [{"idProperty": "prm_id", "id": f"P-{i}", "properties": {"phone": "1"}} for i in range(100)]},
        headers={"Authorization": f"Bearer {hubspot_sandbox.access_token}"},
        timeout=10,
    )
    assert response.status_code == 200 and not any(r["new"] for r in response.json()["results"])
