"""A vendor adopts prm-sync with partner accounts already in its CRM, and a partner list in CSV.

``prm-sync adopt`` prints who each existing account is before writing: the
one matching a PRM partner by domain or by name + country is linked to it,
new ones become PRM partners, and an account that could be two partners (or
a partner that already has an account) is reported, not guessed. Then the PRM
ids are on the accounts and the partners are in HubSpot too.
``prm-sync import`` loads partners and contacts from CSV, all or nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prm_sync.model import Partner

SYSTEMS = ("salesforce", "hubspot")


def _account(world: Any, name: str, **extra: Any) -> str:
    return str(world.salesforce.Account.create({"Name": name, "IsPartner": True, "Type": "Partner", **extra})["id"])


def test_adopting_a_seeded_org_matches_creates_and_reports(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators", domain="alpha.example"),
                   Partner(id="ptn_beta", name="Beta Systems GmbH", country="DE"),
                   Partner(id="ptn_twin1", name="Twin One", domain="twin.example"),
                   Partner(id="ptn_twin2", name="Twin Two", domain="twin.example"),
                   Partner(id="ptn_delta", name="Delta Partners", domain="delta.example"))
    delta = _account(world, "Delta (old name)", PRM_Id__c="ptn_delta")  # an earlier import wrote our id
    alpha = _account(world, "Alpha Integrators LLC", Domain__c="alpha.example")
    beta = _account(world, "BETA SYSTEMS", BillingCountry="DE")
    twin = _account(world, "Twin", Domain__c="twin.example")  # fits two PRM partners
    gamma = _account(world, "Gamma Resellers", Domain__c="gamma.example")
    gamma_dupe = _account(world, "Gamma Resellers Ltd", Domain__c="gamma.example")  # a second account for one

    planned = world.cli("adopt", "--system", "salesforce", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    plan = {row["remote_id"]: row for row in json.loads(planned.output)["plan"]["rows"]}
    assert (plan[delta]["action"], plan[delta]["record_id"]) == ("prm_id", "ptn_delta")
    assert (plan[alpha]["action"], plan[alpha]["record_id"]) == ("natural_key", "ptn_alpha")
    assert (plan[beta]["action"], plan[beta]["record_id"]) == ("natural_key", "ptn_beta")
    assert plan[twin]["action"] == "ambiguous" and plan[twin]["candidates"] == ["ptn_twin1", "ptn_twin2"]
    assert plan[gamma]["action"] == "new" and plan[gamma_dupe]["action"] == "linked_elsewhere"
    assert world.salesforce_records("SELECT Id FROM Account WHERE PRM_Id__c != null") == [{"Id": delta}]  # no write

    done = world.cli("adopt")  # every CRM mapping partners: the new partners reach HubSpot too
    assert done.exit_code == 0, done.output
    assert "need a person" in done.output

    ids = {r["Id"]: r["PRM_Id__c"] for r in world.salesforce_records("SELECT Id, PRM_Id__c FROM Account")}
    gamma_id = ids[gamma]
    assert ids[alpha] == "ptn_alpha" and ids[beta] == "ptn_beta" and gamma_id and gamma_id.startswith("ptn_")
    assert ids[delta] == "ptn_delta" and world.prm.find("partner", "salesforce", delta).id == "ptn_delta"
    assert ids[twin] is None and ids[gamma_dupe] is None  # left for a person
    assert world.prm.get("partner", gamma_id).name == "Gamma Resellers"
    assert world.hubspot_by_prm_id("companies", gamma_id, ["name"])["name"] == "Gamma Resellers"
    listed = world.cli("unmatched", "--json")
    assert sorted(r["remote_id"] for r in json.loads(listed.output)) == sorted([twin, gamma_dupe])
    world.assert_settled()


def test_import_loads_partners_and_contacts_or_nothing(make_world: Any, tmp_path: Path) -> None:
    world = make_world(systems=SYSTEMS)
    partners = tmp_path / "partners.csv"
    partners.write_text('name,domain,tier,country\n"Acme, Inc.",acme.example,gold,US\nBolt,bolt.example,silver,DE\n',
                        encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("first_name,last_name,email,partner_domain\nAnn,Lee,ann@acme.example,www.acme.example\n"
                        "Bo,,bo@bolt.example,bolt.example\nCy,Ng,cy@x.example,nowhere.example\n", encoding="utf-8")

    refused = world.cli("import", "--partners", str(partners), "--contacts", str(contacts))
    assert refused.exit_code == 2
    assert "contacts.csv:3" in refused.output and "last_name" in refused.output  # row numbers, every problem
    assert "contacts.csv:4" in refused.output and "no partner matches" in refused.output
    assert world.prm.all("partner") == []  # nothing half-written

    contacts.write_text("first_name,last_name,email,partner_domain\nAnn,Lee,ann@acme.example,www.acme.example\n",
                        encoding="utf-8")
    assert world.cli("import", "--partners", str(partners), "--contacts", str(contacts), "--dry-run").exit_code == 0
    assert world.prm.all("partner") == []
    loaded = world.cli("import", "--partners", str(partners), "--contacts", str(contacts), "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.output)["created"] == {"partner": 2, "partner_contact": 1}
    again = world.cli("import", "--partners", str(partners), "--json")  # a second import updates, never duplicates
    assert json.loads(again.output)["unchanged"] == {"partner": 2}

    world.sync()
    acme = next(p for p in world.prm.all("partner") if p.domain == "acme.example")
    assert world.salesforce_by_prm_id("Account", acme.id, "Name, Partner_Tier__c")["Partner_Tier__c"] == "Gold"
    [ann] = world.prm.all("partner_contact")
    assert ann.partner_id == acme.id
    world.assert_settled()


def test_import_refuses_a_file_that_is_not_utf8_or_badly_quoted(make_world: Any, tmp_path: Path) -> None:
    world = make_world(systems=("salesforce",))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,domain\nOk,ok.example\nM\xfcller,mueller.example\n".encode("latin-1"))
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('name,domain\n"Acme "Best" Partners,acme.example\n', encoding="utf-8")
    for path, words in ((latin, ["latin.csv:3", "UTF-8"]), (quoted, ["quoted.csv:2", "malformed CSV"])):
        result = world.cli("import", "--partners", str(path))
        assert result.exit_code == 2 and all(w in result.output for w in words), result.output
        assert "Traceback" not in result.output
    assert world.prm.all("partner") == []


def test_import_brings_registrations_that_name_their_partner_and_a_second_import_changes_nothing(
    make_world: Any, tmp_path: Path
) -> None:
    world = make_world(systems=("salesforce",))
    partners = tmp_path / "partners.csv"
    partners.write_text("name,domain,country\nAcme Integrators,acme.example,US\n", encoding="utf-8")
    registrations = tmp_path / "registrations.csv"
    registrations.write_text(
        "partner_domain,customer_name,customer_domain,customer_country,product_lines,amount,submitted_at\n"
        "www.acme.example,Initech Ltd,initech.example,US,platform;security,50000,2026-11-02T09:30:00Z\n",
        encoding="utf-8")

    loaded = world.cli("import", "--partners", str(partners), "--registrations", str(registrations), "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.output)["created"] == {"partner": 1, "deal_registration": 1}
    again = world.cli("import", "--partners", str(partners), "--registrations", str(registrations), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["unchanged"] == {"partner": 1, "deal_registration": 1}  # never duplicated

    world.sync()
    [partner] = world.prm.all("partner")
    [registration] = world.prm.all("deal_registration")
    assert registration.partner_id == partner.id and registration.product_lines == ["platform", "security"]
    account = world.salesforce_by_prm_id("Account", partner.id, "Id")["Id"]
    row = world.salesforce_by_prm_id("Deal_Registration__c", registration.id,
                                     "Partner__c, Customer_Name__c, Product_Lines__c, Conflict_Decision__c")
    assert (row["Partner__c"], row["Customer_Name__c"], row["Product_Lines__c"]) == (
        account, "Initech Ltd", "Platform;Security")
    assert row["Conflict_Decision__c"] == "Clear"  # imported registrations are checked like any other
    world.assert_settled()


def test_adopting_an_org_with_hundreds_of_partner_accounts_among_its_customers(make_world: Any) -> None:
    """The issue's vendor: a seeded org (the demo's customers and pipeline) with 320 partner accounts already in it.

    200 match a PRM partner by domain (written as people do: ``www.``, capitals), 100 are new,
    20 could each be two PRM partners. Adoption links, creates and reports exactly those; no
    customer account is touched and no partner is doubled.
    """
    from connectors.sandbox.seeding import seed_sandboxes

    world = make_world(systems=SYSTEMS)
    seed_sandboxes(world.env.cluster, world.env.data)  # customer accounts and opportunities, none a partner
    customers = len(world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = false"))
    assert customers > 0
    known = [Partner(id=f"ptn_known{i:03d}", name=f"Known Partner {i}", domain=f"known{i}.example") for i in range(200)]
    twins = [Partner(id=f"ptn_twin{i:02d}{side}", name=f"Twin {i} {side}", domain=f"twin{i}.example")
             for i in range(20) for side in "ab"]
    world.prm.save(*known, *twins)
    rows = [{"Name": f"KNOWN PARTNER {i} LLC", "Domain__c": f"www.Known{i}.example"} for i in range(200)]
    rows += [{"Name": f"New Partner {i}", "Domain__c": f"new{i}.example"} for i in range(100)]
    rows += [{"Name": f"Twin {i}", "Domain__c": f"twin{i}.example"} for i in range(20)]
    records = [{"attributes": {"type": "Account"}, **r, "IsPartner": True, "Type": "Partner"} for r in rows]
    ids = [result["id"] for start in range(0, len(records), 200)  # sObject Collections: 200 records a call
           for result in world.salesforce.restful("composite/sobjects", method="POST", json={
               "allOrNone": True, "records": records[start:start + 200]})]

    planned = world.cli("adopt", "--system", "salesforce", "--entity", "partner", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    plan = {row["remote_id"]: row for row in json.loads(planned.output)["plan"]["rows"]}
    assert set(plan) == set(ids)  # partner accounts only: the customers are not in the slice
    assert [plan[i]["record_id"] for i in ids[:200]] == [p.id for p in known]
    assert {plan[i]["action"] for i in ids[:200]} == {"natural_key"}
    assert {plan[i]["action"] for i in ids[200:300]} == {"new"}
    assert {plan[i]["action"] for i in ids[300:]} == {"ambiguous"}

    done = world.cli("adopt", "--entity", "partner")
    assert done.exit_code == 0, done.output
    accounts = {r["Id"]: r["PRM_Id__c"] for r in world.salesforce_records(
        "SELECT Id, PRM_Id__c FROM Account WHERE IsPartner = true")}
    assert [accounts[i] for i in ids[:200]] == [p.id for p in known]
    assert all(accounts[i] for i in ids[200:300]) and not any(accounts[i] for i in ids[300:])
    carried = [v for v in accounts.values() if v]
    assert len(carried) == len(set(carried))  # no PRM partner on two accounts
    partners = world.prm.all("partner")
    assert len(partners) == 200 + 40 + 100  # the new accounts became PRM partners, once each
    assert {p.domain for p in partners} >= {f"new{i}.example" for i in range(100)}
    assert len(world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = false")) == customers
    assert world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = false AND PRM_Id__c != null") == []
    assert sorted(r["remote_id"] for r in json.loads(world.cli("unmatched", "--json").output)) == sorted(ids[300:])
    assert world.hubspot_by_prm_id("companies", accounts[ids[250]], ["domain"])["domain"] == "new50.example"
