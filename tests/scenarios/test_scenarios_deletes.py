"""Deletes both ways, by each system's ``on_delete`` policy.

Shipped policies: a Salesforce partner account is marked (``Partner_Status__c
= Terminated``: deleting an Account would take its contacts and opportunities
with it), a HubSpot partner company is archived, contacts are archived in
both. A partner deleted in one CRM is terminated in the PRM (marked, not
lost), which the other CRM then applies its own policy to.
"""

from __future__ import annotations

from typing import Any

from prm_sync.model import Partner, PartnerContact

SYSTEMS = ("salesforce", "hubspot")
ACCOUNT = "Id, Partner_Status__c, IsDeleted"


def _world(make_world: Any) -> Any:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", domain="acme.example"),
                   Partner(id="ptn_bolt", name="Bolt Partners", domain="bolt.example"),
                   PartnerContact(id="pcn_joe", partner_id="ptn_bolt", last_name="Joe", email="joe@bolt.example"))
    world.sync()
    return world


def _companies(world: Any, *, archived: bool = False) -> list[str]:
    page = world.hubspot.crm.companies.basic_api.get_page(properties=["prm_id"], archived=archived).results
    return sorted(c.properties.get("prm_id") or "" for c in page)


def test_a_partner_deleted_in_salesforce_is_terminated_and_archived_in_hubspot(make_world: Any) -> None:
    world = _world(make_world)
    account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id")["Id"]

    world.salesforce.Account.delete(account)  # a rep deletes the partner account
    world.sync()

    assert world.prm.get("partner", "ptn_acme").status == "terminated"  # marked in the PRM, not lost
    assert _companies(world) == ["ptn_bolt"]
    assert _companies(world, archived=True) == ["ptn_acme"]
    assert world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = true") == [
        {"Id": world.salesforce_by_prm_id("Account", "ptn_bolt", "Id")["Id"]}]  # not re-created in Salesforce
    world.assert_settled()


def test_a_partner_archived_in_hubspot_is_terminated_and_marked_in_salesforce(make_world: Any) -> None:
    world = _world(make_world)
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["name"])["id"]

    world.hubspot.crm.companies.basic_api.archive(company)
    world.sync(full=True)  # HubSpot's deletes are found by the sweep (due on --full, or on its interval)

    assert world.prm.get("partner", "ptn_acme").status == "terminated"
    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Partner_Status__c"] == "Terminated"
    assert _companies(world) == ["ptn_bolt"]  # not re-created in HubSpot
    world.assert_settled()


def test_deactivated_and_deleted_in_the_prm_reach_both_crms_by_policy(make_world: Any) -> None:
    world = _world(make_world)
    joe_company_contact = world.hubspot_by_prm_id("contacts", "pcn_joe", ["email"])["id"]
    joe_contact = world.salesforce_by_prm_id("Contact", "pcn_joe", "Id")["Id"]

    world.prm.edit("partner", "ptn_acme", status="terminated")  # a channel manager ends the partnership
    with world.env.runtime.store.session() as session:  # and deletes a contact who left
        from prm_sync.store import records
        records.delete_record(session, "partner_contact", "pcn_joe")
    world.sync()

    acme = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)
    assert acme["Partner_Status__c"] == "Terminated" and acme["IsDeleted"] is False  # marked, kept
    assert _companies(world) == ["ptn_bolt"] and _companies(world, archived=True) == ["ptn_acme"]
    assert world.salesforce_records(f"SELECT Id FROM Contact WHERE Id = '{joe_contact}'") == []  # archived
    gone = world.salesforce.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{joe_contact}'",
                                      include_deleted=True)["records"]
    assert gone[0]["IsDeleted"] is True  # in the Recycle Bin: recoverable
    archived = world.hubspot.crm.contacts.basic_api.get_page(archived=True).results
    assert [c.id for c in archived] == [joe_company_contact]
    world.assert_settled()


def test_delete_and_ignore_policies_remove_one_copy_for_good_and_leave_the_other(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.set_policy("salesforce", "partner", on_delete="delete")  # Bulk API 2.0 hardDelete: not recoverable
    world.set_policy("hubspot", "partner", on_delete="ignore")  # HubSpot's copy is left as it is
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", domain="acme.example"),
                   Partner(id="ptn_bolt", name="Bolt Partners", domain="bolt.example"))
    world.sync()
    account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id")["Id"]
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["name", "hs_lastmodifieddate"])

    with world.env.runtime.store.session() as session:  # a channel manager deletes the partner from the PRM
        from prm_sync.store import records
        records.delete_record(session, "partner", "ptn_acme")
    report = world.sync()

    assert report.slice("salesforce", "partner").deleted == 1 and report.slice("hubspot", "partner").deleted == 0
    gone = world.salesforce.query_all(f"SELECT Id FROM Account WHERE Id = '{account}'", include_deleted=True)
    assert gone["records"] == []  # not even in the Recycle Bin
    kept = world.hubspot_by_prm_id("companies", "ptn_acme", ["name", "hs_lastmodifieddate"])
    assert kept == company  # untouched: same values, same modification time
    assert _companies(world) == ["ptn_acme", "ptn_bolt"] and _companies(world, archived=True) == []
    world.assert_settled()


def test_a_mark_on_a_mapped_field_is_not_read_back_as_an_edit(make_world: Any) -> None:
    """RevOps marks retired HubSpot partners ``partner_status: suspended`` (a field the mapping also reads): the PRM
    keeps its own status (terminated) instead of taking the mark back, and a marketer's later edit still counts."""
    world = make_world(systems=SYSTEMS)
    world.set_policy("hubspot", "partner", on_delete={"mark": {"partner_status": "suspended"}})
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners"), Partner(id="ptn_bolt", name="Bolt Partners"))
    world.sync()
    account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id")["Id"]

    world.salesforce.Account.delete(account)  # a rep deletes the partner account
    world.sync()

    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["partner_status"])
    assert company["partner_status"] == "suspended"  # marked, by the HubSpot policy
    assert world.prm.get("partner", "ptn_acme").status == "terminated"
    world.assert_settled()
    assert world.prm.get("partner", "ptn_acme").status == "terminated"

    world.hubspot.crm.companies.basic_api.update(company["id"], {"properties": {"partner_status": "active"}})
    world.sync()  # the partnership resumes, said in HubSpot
    assert world.prm.get("partner", "ptn_acme").status == "active"
    world.assert_settled()
