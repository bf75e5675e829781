"""HubSpot sandbox conformance: objects v3 basic and batch endpoints through hubspot-api-client.

Every answer is also checked against HubSpot's published OpenAPI document
where the operation exists there (batch upsert is newer than the specs).
"""

from __future__ import annotations

import json

import pytest
import requests
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.exceptions import ApiException
from sandbox_fixtures.hubspot import RunningHubSpot, assert_matches_spec


def _upsert_inputs(rows: list[tuple[str, dict[str, str]]]) -> BatchInputSimplePublicObjectBatchInputUpsert:
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id_property="prm_id", id=k, properties=p) for k, p in rows]
    )


API_ERRORS = (ApiException, CompaniesApiException)


def _error(exc: ApiException) -> dict[str, object]:
    return json.loads(exc.body)


def test_batch_upsert_creates_then_updates_by_unique_property(hubspot_sandbox: RunningHubSpot) -> None:
    batch = hubspot_sandbox.client().crm.companies.batch_api
    first = batch.upsert(_upsert_inputs([("P-1", {"name": "Acme", "partner_tier": "gold"})]))
    second = batch.upsert(_upsert_inputs([("P-1", {"name": "Acme Corp"}), ("P-2", {"name": "Beta"})]))

    assert first.status == "COMPLETE" and first.results[0].new is True
    by_key = {r.properties["prm_id"]: r for r in second.results}
    assert by_key["P-1"].new is False and by_key["P-1"].id == first.results[0].id
    assert by_key["P-2"].new is True
    stored = hubspot_sandbox.app.get_record("companies", first.results[0].id)
    assert stored is not None and stored["name"] == "Acme Corp" and stored["partner_tier"] == "gold"


BAD_PROPERTIES = [
    pytest.param({"partner_tier": "diamond"}, "INVALID_OPTION", id="an option not in the list"),
    pytest.param({"nope": "x"}, "PROPERTY_DOESNT_EXIST", id="an unknown property"),
    pytest.param({"annualrevenue": "ten"}, "INVALID_FLOAT", id="a number that does not parse"),
    pytest.param({"annualrevenue": "1e400"}, "INVALID_FLOAT", id="a number past a double"),
    pytest.param({"annualrevenue": "NaN"}, "INVALID_FLOAT", id="not a number"),
    pytest.param({"annualrevenue": " 12"}, "LEADING_TRAILING_WHITESPACE", id="a number with a leading space"),
    pytest.param({"partner_tier": "gold "}, "LEADING_TRAILING_WHITESPACE", id="an option with a trailing space"),
    pytest.param({"name": "N" * 65_537}, "MAX_CHARACTERS_EXCEEDED", id="a text past 65,536 characters"),
]


@pytest.mark.parametrize(("properties", "code"), BAD_PROPERTIES)
def test_one_invalid_value_refuses_the_whole_batch_upsert_and_writes_nothing(
    hubspot_sandbox: RunningHubSpot, properties: dict[str, str], code: str
) -> None:
    """HubSpot validates every input first: a batch with one bad value is a 400 naming no input."""
    batch = hubspot_sandbox.client().crm.companies.batch_api
    with pytest.raises(API_ERRORS) as caught:
        batch.upsert(_upsert_inputs([("P-1", {"name": "Good"}), ("P-2", properties), ("P-3", {"name": "Also good"})]))

    assert caught.value.status == 400
    body = _error(caught.value)
    assert body["category"] == "VALIDATION_ERROR" and str(body["message"]).startswith("Property values were not valid")
    assert [e["code"] for e in body["errors"]] == [code]  # type: ignore[index,union-attr]
    assert "ids" not in body.get("context", {})  # type: ignore[operator]
    assert hubspot_sandbox.app.all_records("companies") == []


def test_batch_create_with_an_unparsable_number_is_a_400_matching_the_published_schema(
    hubspot_sandbox: RunningHubSpot,
) -> None:
    batch = hubspot_sandbox.client().crm.objects.batch_api
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"dealname": "ok", "dealstage": "closedwon"}),
            SimplePublicObjectBatchInputForCreate(properties={"dealname": "bad", "amount": "ten"}),
        ]
    )
    with pytest.raises(API_ERRORS) as caught:
        batch.create("deals", body)

    assert caught.value.status == 400 and _error(caught.value)["errors"][0]["code"] == "INVALID_FLOAT"  # type: ignore[index]
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/deals/batch/create", 400, caught.value.body)
    assert hubspot_sandbox.app.all_records("deals") == []


def test_a_problem_only_the_write_finds_fails_its_input_alone_with_a_207(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records("contacts", [{"email": "ann@example.com"}])
    batch = hubspot_sandbox.client().crm.objects.batch_api
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "bob@example.com"}),
            SimplePublicObjectBatchInputForCreate(properties={"email": "ann@example.com"}),
        ]
    )
    answer = batch.create("contacts", body)

    raw = batch.api_client.last_response
    assert raw.status == 207 and answer.num_errors == 1
    assert [r.properties["email"] for r in answer.results] == ["bob@example.com"]
    assert answer.errors[0].category == "VALIDATION_ERROR" and answer.errors[0].context["ids"] == ["1"]
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/contacts/batch/create", 207, raw.data)


def test_more_than_100_inputs_is_a_400_validation_error(hubspot_sandbox: RunningHubSpot) -> None:
    batch = hubspot_sandbox.client().crm.companies.batch_api
    rows = [(f"P-{i}", {"name": f"n{i}"}) for i in range(101)]
    with pytest.raises(API_ERRORS) as caught:
        batch.upsert(_upsert_inputs(rows))

    assert caught.value.status == 400
    body = _error(caught.value)
    assert body["category"] == "VALIDATION_ERROR" and "101" in str(body["message"])
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/companies/batch/create", 400, caught.value.body)
    assert hubspot_sandbox.app.all_records("companies") == []


def test_upsert_id_property_must_have_unique_values(hubspot_sandbox: RunningHubSpot) -> None:
    batch = hubspot_sandbox.client().crm.companies.batch_api
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id_property="name", id="Acme", properties={})]
    )
    with pytest.raises(API_ERRORS) as caught:
        batch.upsert(body)
    assert caught.value.status == 400 and "hasUniqueValue" in _error(caught.value)["message"]


def test_duplicate_unique_value_is_409_alone_and_validation_error_in_a_batch(hubspot_sandbox: RunningHubSpot) -> None:
    client = hubspot_sandbox.client()
    hubspot_sandbox.app.insert_records("contacts", [{"email": "ann@example.com"}])
    with pytest.raises(API_ERRORS) as caught:
        client.crm.objects.basic_api.create(
            "contacts", SimplePublicObjectInputForCreate(properties={"email": "ANN@example.com"})
        )
    assert caught.value.status == 409 and _error(caught.value)["category"] == "CONFLICT"

    batch = client.crm.objects.batch_api
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[SimplePublicObjectBatchInputForCreate(properties={"email": "ann@example.com"})]
    )
    answer = batch.create("contacts", body)
    assert answer.results == [] and answer.errors[0].category == "VALIDATION_ERROR"


def test_basic_create_get_update_archive_and_list_archived(hubspot_sandbox: RunningHubSpot) -> None:
    basic = hubspot_sandbox.client().crm.objects.basic_api
    created = basic.create("companies", SimplePublicObjectInputForCreate(properties={"name": "Acme", "prm_id": "P-9"}))
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/companies", 201, basic.api_client.last_response.data)

    fetched = basic.get_by_id("companies", "P-9", id_property="prm_id", properties=["name", "is_partner"])
    assert fetched.id == created.id and fetched.properties["is_partner"] is None
    assert_matches_spec(
        "crm_objects", "GET", f"/crm/v3/objects/companies/{created.id}", 200, basic.api_client.last_response.data
    )
    updated = basic.update("companies", created.id, SimplePublicObjectInput(properties={"is_partner": True}))
    assert updated.properties["is_partner"] == "true"

    basic.archive("companies", created.id)
    live = basic.get_page("companies", limit=10)
    archived = basic.get_page("companies", limit=10, archived=True)
    assert live.results == []
    assert [r.id for r in archived.results] == [created.id] and archived.results[0].archived is True
    assert archived.results[0].archived_at is not None
    assert_matches_spec("crm_objects", "GET", "/crm/v3/objects/companies", 200, basic.api_client.last_response.data)
    with pytest.raises(API_ERRORS) as caught:
        basic.get_by_id("companies", created.id)
    assert caught.value.status == 404


def test_list_pages_with_after_and_limit_over_100_is_refused(hubspot_sandbox: RunningHubSpot) -> None:
    basic = hubspot_sandbox.client().crm.objects.basic_api
    ids = hubspot_sandbox.app.insert_records("contacts", [{"firstname": f"c{i}"} for i in range(250)])
    seen: list[str] = []
    after = None
    while True:
        answer = basic.get_page("contacts", limit=100, after=after)
        seen += [r.id for r in answer.results]
        if answer.paging is None:
            break
        after = answer.paging.next.after
    assert seen == ids
    with pytest.raises(API_ERRORS) as caught:
        basic.get_page("contacts", limit=101)
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["deal_registrations", "2-9000001", "p_deal_registrations", "p1234567_deal_registrations"])
def test_custom_object_is_addressable_by_every_documented_name(hubspot_sandbox: RunningHubSpot, name: str) -> None:
    basic = hubspot_sandbox.client().crm.objects.basic_api
    created = basic.create(name, SimplePublicObjectInputForCreate(properties={"prm_id": "R-1", "product_lines": "platform;security"}))
    listed = basic.get_page("2-9000001", properties=["product_lines"])
    assert [r.id for r in listed.results] == [created.id]
    assert listed.results[0].properties["product_lines"] == "platform;security"


def test_batch_read_by_id_property_reports_missing_ids(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.add_unique_property("deals")
    hubspot_sandbox.app.insert_records("deals", [{"prm_id": "D-1", "dealname": "One"}])
    batch = hubspot_sandbox.client().crm.objects.batch_api
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "D-1"}, {"id": "D-404"}], properties=["dealname"], properties_with_history=[], id_property="prm_id"
    )
    answer = batch.read("deals", body)
    assert batch.api_client.last_response.status == 207
    assert answer.results[0].properties["dealname"] == "One"
    assert answer.errors[0].category == "OBJECT_NOT_FOUND" and answer.errors[0].context["ids"] == ["D-404"]
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/deals/batch/read", 207, batch.api_client.last_response.data)


def test_calculated_deal_properties_are_read_only(hubspot_sandbox: RunningHubSpot) -> None:
    basic = hubspot_sandbox.client().crm.objects.basic_api
    with pytest.raises(API_ERRORS) as caught:
        basic.create("deals", SimplePublicObjectInputForCreate(properties={"dealname": "x", "hs_is_closed_won": "true"}))
    assert caught.value.status == 400 and "READ_ONLY_VALUE" in caught.value.body


def test_injected_invalid_values_refuse_the_batch_like_a_validation_rule(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.invalid_values = {"territory": ["Mordor"]}
    batch = hubspot_sandbox.client().crm.companies.batch_api
    with pytest.raises(API_ERRORS) as caught:
        batch.upsert(_upsert_inputs([("P-1", {"territory": "Mordor"}), ("P-2", {"territory": "Shire"})]))
    assert caught.value.status == 400 and _error(caught.value)["errors"][0]["code"] == "INVALID_VALUE"  # type: ignore[index]
    answer = batch.upsert(_upsert_inputs([("P-2", {"territory": "Shire"})]))
    assert [r.properties["prm_id"] for r in answer.results] == ["P-2"]


def test_dropped_answer_after_write_still_commits(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.drop_after_write = 1
    url = f"{hubspot_sandbox.url}/crm/v3/objects/companies/batch/upsert"
    body = {"inputs": [{"idProperty": "prm_id", "id": "P-1", "properties": {"name": "Acme"}}]}
    headers = {"Authorization": f"Bearer {hubspot_sandbox.access_token}"}
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=body, headers=headers, timeout=5)
    again = requests.post(url, json=body, headers=headers, timeout=5).json()
    assert again["results"][0]["new"] is False
    assert len(hubspot_sandbox.app.all_records("companies")) == 1
