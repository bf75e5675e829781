"""A user merges two partner records in a CRM: the PRM follows the merge instead of re-creating the loser.

Salesforce: an admin merges duplicate partner accounts through the SOAP API's
``merge()`` (what the UI does); the loser is deleted with ``MasterRecordId``
set and its contacts move to the master. HubSpot: a marketer merges two
companies; HubSpot makes a new company that both old ids now answer with.
Duplicates with agreeing data become one PRM partner (its contacts and
registrations relinked, the loser's copies retired by ``on_delete``); partners
whose data differ become a review item, and nothing is re-created meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubspot.crm.companies import PublicMergeInput
from sandbox_fixtures.salesforce_soap import soap_merge

from connectors.base import Cursor
from prm_sync.model import DealRegistration, Partner, PartnerContact
from prm_sync.store import query_audit, review, state

SYSTEMS = ("salesforce", "hubspot")


def _two_duplicates(world: Any, *, registration: bool = False) -> None:
    if registration:  # the duplicate registered a deal before anyone noticed it was a duplicate
        world.prm.save(DealRegistration(id="reg_dupe", partner_id="ptn_dupe", customer_name="Initech",
                                        customer_domain="initech.example", product_lines=["platform"],
                                        submitted_at=datetime.now(UTC) - timedelta(days=1)))
    world.prm.save(
        Partner(id="ptn_keep", name="Adatum Partners", domain="adatum.example", phone="+1 555 0100"),
        Partner(id="ptn_dupe", name="Adatum Partners Inc.", domain="adatum.example", city="Boston"),
        PartnerContact(id="pcn_ann", partner_id="ptn_dupe", first_name="Ann", last_name="Lee", email="ann@adatum.example"),
    )
    world.sync()


def test_a_salesforce_merge_of_duplicate_partners_makes_one_partner_in_both_crms(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    _two_duplicates(world, registration=True)
    keep = world.salesforce_by_prm_id("Account", "ptn_keep", "Id")["Id"]
    dupe = world.salesforce_by_prm_id("Account", "ptn_dupe", "Id")["Id"]
    dupe_company = world.hubspot_by_prm_id("companies", "ptn_dupe", ["name"])["id"]

    result = soap_merge(world.salesforce, "Account", keep, [dupe])  # an admin merges the duplicates
    assert result.success
    report = world.sync()
    assert report.slice("salesforce", "partner").merged == 1
    assert "salesforce/partner merged 1" in world.cli("runs", "show", report.run_id).stdout

    assert [p.id for p in world.prm.all("partner")] == ["ptn_keep"]
    survivor = world.prm.get("partner", "ptn_keep")
    assert survivor.city == "Boston"  # a blank filled from the merged record
    assert world.prm.get("partner_contact", "pcn_ann").partner_id == "ptn_keep"
    # Salesforce: the contact sits on the surviving account; no account was re-created for the loser
    contact = world.salesforce_by_prm_id("Contact", "pcn_ann", "AccountId")
    assert contact["AccountId"] == keep
    assert world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = true") == [{"Id": keep}]
    # the duplicate's registration is the survivor's, in the PRM and in both CRMs
    assert world.prm.get("deal_registration", "reg_dupe").partner_id == "ptn_keep"
    assert world.salesforce_by_prm_id("Deal_Registration__c", "reg_dupe", "Partner__c")["Partner__c"] == keep
    assert world.hubspot_by_prm_id("p_deal_registrations", "reg_dupe", ["partner_prm_id"])["partner_prm_id"] == (
        "ptn_keep")
    # HubSpot: the duplicate company is archived (on_delete: archive), the contact is on the survivor's company
    keep_company = world.hubspot_by_prm_id("companies", "ptn_keep", ["name"])["id"]
    hs_contact = world.hubspot_by_prm_id("contacts", "pcn_ann", ["email"])["id"]
    links = world.hubspot.crm.associations.v4.basic_api.get_page("contacts", hs_contact, "companies").results
    assert [str(link.to_object_id) for link in links] == [keep_company]
    archived = world.hubspot.crm.companies.basic_api.get_page(archived=True).results
    assert [c.id for c in archived] == [dupe_company]
    world.assert_settled()


def test_a_hubspot_merge_follows_the_new_record_and_never_recreates_the_loser(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    _two_duplicates(world, registration=True)
    keep = world.hubspot_by_prm_id("companies", "ptn_keep", ["name"])["id"]
    dupe = world.hubspot_by_prm_id("companies", "ptn_dupe", ["name"])["id"]
    dupe_account = world.salesforce_by_prm_id("Account", "ptn_dupe", "Id")["Id"]

    merged = world.hubspot.crm.companies.basic_api.merge(
        PublicMergeInput(primary_object_id=keep, object_id_to_merge=dupe))  # a marketer merges the duplicates
    assert world.sync().slice("hubspot", "partner").merged == 1

    assert [p.id for p in world.prm.all("partner")] == ["ptn_keep"]
    assert world.prm.get("partner", "ptn_keep").external_ids["hubspot"] == merged.id
    company = world.hubspot_by_prm_id("companies", "ptn_keep", ["name", "city"])
    assert company["id"] == merged.id and company["city"] == "Boston"
    assert world.prm.get("partner_contact", "pcn_ann").partner_id == "ptn_keep"
    with world.env.runtime.store.session(readonly=True) as session:  # what we wrote to the merged-away id is kept
        written = [(e.action, e.record_id) for e in query_audit(session, remote_id=keep, system="hubspot")]
    assert ("push.create", "ptn_keep") in written
    keep_account = world.salesforce_by_prm_id("Account", "ptn_keep", "Id")["Id"]
    assert world.salesforce_by_prm_id("Contact", "pcn_ann", "AccountId")["AccountId"] == keep_account
    assert world.prm.get("deal_registration", "reg_dupe").partner_id == "ptn_keep"
    assert world.salesforce_by_prm_id("Deal_Registration__c", "reg_dupe", "Partner__c")["Partner__c"] == keep_account
    assert world.hubspot_by_prm_id("p_deal_registrations", "reg_dupe", ["partner_prm_id"])["partner_prm_id"] == (
        "ptn_keep")
    # Salesforce keeps the duplicate account, marked (on_delete: mark Partner_Status__c)
    [gone] = world.salesforce_records(f"SELECT Partner_Status__c FROM Account WHERE Id = '{dupe_account}'")
    assert gone["Partner_Status__c"] == "Terminated"
    world.prm.edit("partner", "ptn_keep", territory="EMEA")
    world.sync()  # the next edit updates the merged company: nothing re-created
    names = [c.properties["name"] for c in world.hubspot.crm.companies.basic_api.get_page(properties=["name"]).results]
    assert names == ["Adatum Partners"]
    world.assert_settled()


def test_a_merge_of_two_different_partners_waits_for_a_person(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_a", name="Alpine Systems", domain="alpine.example"),
                   Partner(id="ptn_b", name="Blue Yonder", domain="blueyonder.example"))
    world.sync()
    a = world.hubspot_by_prm_id("companies", "ptn_a", ["name"])["id"]
    b = world.hubspot_by_prm_id("companies", "ptn_b", ["name"])["id"]

    world.hubspot.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
    world.sync()
    world.prm.edit("partner", "ptn_b", territory="APJ")  # the PRM keeps editing the other partner
    world.sync()

    assert sorted(p.id for p in world.prm.all("partner")) == ["ptn_a", "ptn_b"]
    companies = world.hubspot.crm.companies.basic_api.get_page(properties=["name"]).results
    assert [c.properties["name"] for c in companies] == ["Alpine Systems"]  # the loser is not re-created
    with world.env.runtime.store.session(readonly=True) as session:
        [item] = review.list_open_reviews(session)
    assert (item.record_id, item.field, item.remote_value) == ("ptn_b", "merged_into", "ptn_a")
    assert set(item.prm_value["differs"]) == {"name", "domain"}

    resolved = world.cli("review", "resolve", str(item.id), "--take", "prm")  # they are two partners
    assert resolved.exit_code == 0, resolved.output
    world.sync()
    assert world.hubspot_by_prm_id("companies", "ptn_b", ["name"])["name"] == "Blue Yonder"  # written back
    world.assert_settled()


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
def test_reconcile_repair_follows_a_merge_the_sync_missed_instead_of_recreating_the_loser(
    make_world: Any, system: str
) -> None:
    world = make_world(systems=SYSTEMS)
    _two_duplicates(world)
    if system == "salesforce":
        keep = world.salesforce_by_prm_id("Account", "ptn_keep", "Id")["Id"]
        dupe = world.salesforce_by_prm_id("Account", "ptn_dupe", "Id")["Id"]
        assert soap_merge(world.salesforce, "Account", keep, [dupe]).success
        remote_object = "Account"
    else:
        keep = world.hubspot_by_prm_id("companies", "ptn_keep", ["name"])["id"]
        dupe = world.hubspot_by_prm_id("companies", "ptn_dupe", ["name"])["id"]
        world.hubspot.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id=keep, object_id_to_merge=dupe))
        remote_object = "companies"
    # the sync moved on without following it (a version before merge support did): its cursor is past the
    # merge by more than the overlap the next read looks back over, as if the merge were days old
    past = datetime.now(UTC) + timedelta(seconds=world.env.runtime.config.sync.overlap_seconds + 60)
    with world.env.runtime.store.session() as session:
        state.set_cursor(session, system, remote_object, "partner", Cursor(modstamp=past))

    found = world.cli("reconcile", "--json")
    assert found.exit_code == 4, found.output
    merged = [d for d in found.json()["samples"] if d["kind"] == "merged"]
    assert [(d["record_id"], d["remote_id"], d["action"]) for d in merged if d["record_id"] == "ptn_dupe"] == [
        ("ptn_dupe", dupe, "reread")]
    assert "missing_remote" not in found.json()["counts"]  # not "gone: re-create it"

    repaired = world.cli("reconcile", "--repair", "--json")  # both CRMs: the loser's other copy goes by on_delete
    assert repaired.exit_code == 0, repaired.output

    assert [p.id for p in world.prm.all("partner")] == ["ptn_keep"]  # the user's merge, followed
    assert world.prm.get("partner_contact", "pcn_ann").partner_id == "ptn_keep"
    live = [c.properties.get("prm_id") for c in world.hubspot.crm.companies.basic_api.get_page(
        properties=["prm_id"]).results]
    assert live == ["ptn_keep"]  # the loser is not re-created in HubSpot...
    accounts = world.salesforce_records("SELECT PRM_Id__c, Partner_Status__c FROM Account WHERE IsPartner = true")
    assert {a["PRM_Id__c"]: a["Partner_Status__c"] for a in accounts if a["Partner_Status__c"] != "Terminated"} == {
        "ptn_keep": "Active"}  # ...nor in Salesforce
    after = world.cli("reconcile", "--json").json()
    assert after["clean"] is True, after["samples"]
    world.assert_settled()
