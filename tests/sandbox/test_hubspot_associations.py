"""HubSpot sandbox conformance: associations v4 and merges."""

from __future__ import annotations

import pytest
import requests
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.exceptions import ApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from sandbox_fixtures.hubspot import RunningHubSpot, assert_matches_spec


def _seed(sandbox: RunningHubSpot) -> tuple[list[str], list[str]]:
    companies = sandbox.app.insert_records("companies", [{"name": "Acme"}, {"name": "Beta"}])
    contacts = sandbox.app.insert_records("contacts", [{"email": "a@acme.com"}, {"email": "b@acme.com"}])
    return companies, contacts


def test_labels_report_hubspots_default_type_ids(hubspot_sandbox: RunningHubSpot) -> None:
    definitions = hubspot_sandbox.client().crm.associations.v4.schema.definitions_api
    pairs = {
        ("companies", "contacts"): 280,
        ("contacts", "companies"): 279,
        ("deals", "companies"): 341,
        ("companies", "deals"): 342,
        ("deal_registrations", "companies"): 101,
        ("2-9000001", "deals"): 107,
    }
    for (a, b), type_id in pairs.items():
        labels = definitions.get_all(a, b).results
        unlabelled = [x for x in labels if x.label is None]
        assert [x.type_id for x in unlabelled] == [type_id], (a, b)
    registration_labels = {x.label for x in definitions.get_all("deal_registrations", "companies").results}
    assert {"Registering partner", "End customer"} <= registration_labels


def test_single_put_and_default_put_are_readable_from_both_sides(hubspot_sandbox: RunningHubSpot) -> None:
    companies, contacts = _seed(hubspot_sandbox)
    basic = hubspot_sandbox.client().crm.associations.v4.basic_api
    spec = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)]
    created = basic.create("contacts", contacts[0], "companies", companies[0], spec)
    default = basic.create_default("contacts", contacts[1], "companies", companies[0])

    assert created.from_object_id == contacts[0] and created.to_object_type_id == "0-2"
    assert default.status == "COMPLETE" and default.results[0].association_spec.association_type_id == 279
    from_company = basic.get_page("companies", companies[0], "contacts")
    assert sorted(r.to_object_id for r in from_company.results) == sorted(contacts)
    assert from_company.results[0].association_types[0].type_id == 280
    assert hubspot_sandbox.app.associations("contacts", contacts[0], "companies") == [companies[0]]

    basic.archive("contacts", contacts[0], "companies", companies[0])
    assert hubspot_sandbox.app.associations("companies", companies[0], "contacts") == [contacts[1]]


def test_wrong_type_id_and_missing_record_are_refused(hubspot_sandbox: RunningHubSpot) -> None:
    companies, contacts = _seed(hubspot_sandbox)
    basic = hubspot_sandbox.client().crm.associations.v4.basic_api
    wrong = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=341)]
    with pytest.raises(ApiException) as caught:
        basic.create("contacts", contacts[0], "companies", companies[0], wrong)
    assert caught.value.status == 400
    with pytest.raises(ApiException) as missing:
        basic.create_default("contacts", "999999", "companies", companies[0])
    assert missing.value.status == 404


def test_batch_create_read_and_archive(hubspot_sandbox: RunningHubSpot) -> None:
    companies, _ = _seed(hubspot_sandbox)
    regs = hubspot_sandbox.app.insert_records("deal_registrations", [{"prm_id": "R1"}, {"prm_id": "R2"}])
    batch = hubspot_sandbox.client().crm.associations.v4.batch_api
    types = [{"associationCategory": "USER_DEFINED", "associationTypeId": 103}]
    created = batch.create(
        "deal_registrations",
        "companies",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {"from": {"id": regs[0]}, "to": {"id": companies[0]}, "types": types},
                {"from": {"id": regs[1]}, "to": {"id": "424242"}, "types": types},
            ]
        ),
    )
    assert batch.api_client.last_response.status == 207
    assert created.results[0].labels == ["Registering partner"]
    assert created.errors[0].context["ids"] == [regs[1], "424242"]

    read = batch.get_page(
        "companies", "deal_registrations", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": companies[0]}])
    )
    assert read.results[0].to[0].to_object_id == regs[0]
    assert read.results[0].to[0].association_types[0].type_id == 104

    batch.archive(
        "deal_registrations",
        "companies",
        BatchInputPublicAssociationMultiArchive(inputs=[{"from": {"id": regs[0]}, "to": [{"id": companies[0]}]}]),
    )
    assert hubspot_sandbox.app.associations("companies", companies[0], "deal_registrations") == []


def test_merge_endpoint_makes_a_new_record_from_both(hubspot_sandbox: RunningHubSpot) -> None:
    """HubSpot's documented merge: a new record and id; the primary's values, blanks filled from the other."""
    companies, contacts = _seed(hubspot_sandbox)
    app = hubspot_sandbox.app
    app.update_record("companies", companies[0], {"prm_id": "P-A", "domain": "acme.com"})
    app.update_record("companies", companies[1], {"phone": "555", "prm_id": "P-B", "domain": "beta.com"})
    app.assocs.add(app.assocs.definition("contacts", "companies", "HUBSPOT_DEFINED", 279), contacts[0], companies[1])
    response = requests.post(
        f"{hubspot_sandbox.url}/crm/v3/objects/companies/merge",
        json={"primaryObjectId": companies[0], "objectIdToMerge": companies[1]},
        headers={"Authorization": f"Bearer {hubspot_sandbox.access_token}"},
        timeout=5,
    )
    assert response.status_code == 200
    assert_matches_spec("crm_objects", "POST", "/crm/v3/objects/companies/merge", 200, response.content)
    body = response.json()
    new_id, survivor = body["id"], body["properties"]
    assert new_id not in companies
    assert survivor["hs_merged_object_ids"].split(";") == companies
    assert (survivor["name"], survivor["domain"], survivor["prm_id"]) == ("Acme", "acme.com", "P-A")  # the primary's
    assert survivor["phone"] == "555"  # blank on the primary: the other record's value
    assert app.get_record("companies", companies[0]) is None and app.get_record("companies", companies[1]) is None
    assert app.associations("contacts", contacts[0], "companies") == [new_id]
    basic = hubspot_sandbox.client().crm.objects.basic_api
    for old in companies:  # both original ids answer with the merged record
        assert basic.get_by_id("companies", old).id == new_id
    assert basic.get_by_id("companies", "P-A", id_property="prm_id").id == new_id
    with pytest.raises(ObjectsApiException) as gone:  # the secondary's unique value went with it
        basic.get_by_id("companies", "P-B", id_property="prm_id")
    assert gone.value.status == 404
    assert basic.get_page("companies", archived=True).results == []  # merged is not deleted


def test_a_merged_record_keeps_one_primary_company(hubspot_sandbox: RunningHubSpot) -> None:
    companies, contacts = _seed(hubspot_sandbox)
    app = hubspot_sandbox.app
    primary = app.assocs.definition("contacts", "companies", "HUBSPOT_DEFINED", 1)
    plain = app.assocs.definition("contacts", "companies", "HUBSPOT_DEFINED", 279)
    for contact, company in zip(contacts, companies, strict=True):
        app.assocs.add(primary, contact, company)
        app.assocs.add(plain, contact, company)
    merged = app.merge("contacts", contacts[0], contacts[1])
    links = app.assocs.targets("contacts", merged, "companies")
    assert links[companies[0]] == {("HUBSPOT_DEFINED", 1), ("HUBSPOT_DEFINED", 279)}
    assert links[companies[1]] == {("HUBSPOT_DEFINED", 279)}  # the secondary's primary label is dropped


def test_merge_helper_chains_merged_ids(hubspot_sandbox: RunningHubSpot) -> None:
    ids = hubspot_sandbox.app.insert_records("contacts", [{"firstname": n} for n in "abc"])
    first = hubspot_sandbox.app.merge("contacts", ids[1], ids[2])
    survivor = hubspot_sandbox.app.merge("contacts", ids[0], first)
    record = hubspot_sandbox.app.get_record("contacts", survivor)
    assert record is not None and record["hs_merged_object_ids"].split(";") == [ids[0], ids[1], ids[2], first]
    assert hubspot_sandbox.app.find_record("contacts", "hs_object_id", ids[2])["hs_object_id"] == survivor
