"""Both sides edit the same partner field between two syncs: each field's rule decides.

The story: a partner exists in the PRM and both CRMs. A channel manager
changes a field in the PRM while a rep changes the same field in Salesforce
(or a marketer in HubSpot). The next sync settles it by the field's rule
(``mappings/*.yaml``), and both CRMs end up holding the winner.
"""

from __future__ import annotations

import time
from typing import Any

from prm_sync.model import Partner

SYSTEMS = ("salesforce", "hubspot")
ACCOUNT = "Id, Name, Phone, Website, Territory__c, BillingCity"
COMPANY = ["name", "phone", "website", "territory", "city"]


def test_prefer_prm_keeps_the_channel_managers_name(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", phone="+1 555 0100"))
    world.sync()
    account = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)

    world.prm.edit("partner", "ptn_acme", name="Acme Partners Group")
    world.salesforce.Account.update(account["Id"], {"Name": "ACME partners (rep)"})
    world.sync()

    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Name"] == "Acme Partners Group"
    assert world.hubspot_by_prm_id("companies", "ptn_acme", COMPANY)["name"] == "Acme Partners Group"
    world.assert_settled()


def test_prefer_remote_unless_blank_takes_the_reps_website_but_not_a_cleared_one(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", website="https://acme.example"),
                   Partner(id="ptn_bolt", name="Bolt Partners", website="https://bolt.example"))
    world.sync()
    acme = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)
    bolt = world.hubspot_by_prm_id("companies", "ptn_bolt", COMPANY)

    world.prm.edit("partner", "ptn_acme", website="https://acme-partners.example")
    world.salesforce.Account.update(acme["Id"], {"Website": "https://www.acme.example/partners"})
    world.prm.edit("partner", "ptn_bolt", website="https://bolt-partners.example")
    world.hubspot.crm.companies.basic_api.update(bolt["id"], {"properties": {"website": ""}})
    world.sync()

    for read in (lambda p: world.salesforce_by_prm_id("Account", p, ACCOUNT)["Website"],
                 lambda p: world.hubspot_by_prm_id("companies", p, COMPANY)["website"]):
        assert read("ptn_acme") == "https://www.acme.example/partners"  # the rep's, from Salesforce
        assert read("ptn_bolt") == "https://bolt-partners.example"  # a blank never wins
    world.assert_settled()


def test_prefer_remote_takes_the_crm_value(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.set_rule("hubspot", "partner", "city", "prefer_remote")
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", city="Boston"))
    world.sync()
    company = world.hubspot_by_prm_id("companies", "ptn_acme", COMPANY)

    world.prm.edit("partner", "ptn_acme", city="Cambridge")
    world.hubspot.crm.companies.basic_api.update(company["id"], {"properties": {"city": "Somerville"}})
    world.sync()

    assert world.hubspot_by_prm_id("companies", "ptn_acme", COMPANY)["city"] == "Somerville"
    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["BillingCity"] == "Somerville"
    assert world.prm.get("partner", "ptn_acme").city == "Somerville"
    world.assert_settled()


def test_manual_review_parks_the_field_until_a_person_decides(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.set_rule("salesforce", "partner", "territory", "manual_review")
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", territory="NA East"))
    world.sync()
    account = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)

    world.prm.edit("partner", "ptn_acme", territory="NA Central")
    world.salesforce.Account.update(account["Id"], {"Territory__c": "NA North"})
    world.sync()

    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Territory__c"] == "NA North"  # not overwritten
    listed = world.cli("review", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [item] = listed.json()
    assert (item["field"], item["prm_value"], item["remote_value"]) == ("territory", "NA Central", "NA North")

    resolved = world.cli("review", "resolve", str(item["id"]), "--take", "remote")
    assert resolved.exit_code == 0, resolved.output
    world.sync()
    assert world.prm.get("partner", "ptn_acme").territory == "NA North"
    assert world.hubspot_by_prm_id("companies", "ptn_acme", COMPANY)["territory"] == "NA North"
    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Territory__c"] == "NA North"
    world.assert_settled()


def test_newest_compares_when_each_side_changed_that_field(make_world: Any) -> None:
    """``newest`` on phone: the later phone edit wins, whatever else changed on the record afterwards."""
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", phone="+1 555 0100"),
                   Partner(id="ptn_bolt", name="Bolt Partners", phone="+1 555 0200"))
    world.sync()
    acme = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)
    bolt = world.hubspot_by_prm_id("companies", "ptn_bolt", COMPANY)

    # Acme: the channel manager's phone edit, then the rep's newer one, then another PRM edit (the name)
    world.prm.edit("partner", "ptn_acme", phone="+1 555 0101")
    time.sleep(0.05)
    world.salesforce.Account.update(acme["Id"], {"Phone": "+1 555 0199"})
    time.sleep(0.05)
    world.prm.edit("partner", "ptn_acme", name="Acme Partners Group")
    # Bolt: a marketer's phone edit in HubSpot, then a newer one in the PRM
    world.hubspot.crm.companies.basic_api.update(bolt["id"], {"properties": {"phone": "+1 555 0299"}})
    time.sleep(0.05)
    world.prm.edit("partner", "ptn_bolt", phone="+1 555 0201")
    world.sync()

    acme_sf = world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)
    assert (acme_sf["Phone"], acme_sf["Name"]) == ("+1 555 0199", "Acme Partners Group")
    assert world.hubspot_by_prm_id("companies", "ptn_acme", COMPANY)["phone"] == "+1 555 0199"
    assert world.hubspot_by_prm_id("companies", "ptn_bolt", COMPANY)["phone"] == "+1 555 0201"
    assert world.salesforce_by_prm_id("Account", "ptn_bolt", ACCOUNT)["Phone"] == "+1 555 0201"
    world.assert_settled()
