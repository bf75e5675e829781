"""A failed record whose target came to agree is closed by the next run, and the audit log says why.

Left open, such a failure would wait in the queue for ever: there is nothing
left to write or read, so no run would ever succeed at it.
"""

from __future__ import annotations

from typing import Any

from prm_sync.model import Partner

SYSTEMS = ("salesforce", "hubspot")
ACCOUNT = "Id, Territory__c"


def open_failures(world: Any) -> list[dict[str, Any]]:
    listed = world.cli("failures", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return listed.json()


def test_a_rejected_write_fixed_at_the_source_closes_as_moot(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", territory="EMEA"))
    world.sync()

    # a territory longer than the 255 characters of its Salesforce text field: Salesforce refuses the account,
    # HubSpot takes it
    world.prm.edit("partner", "ptn_acme", territory="EMEA " + "and the rest of the world " * 10)
    report = world.sync(allow_failures=True)
    assert report.slice("salesforce", "partner").failed == 1
    [failure] = open_failures(world)
    assert (failure["system"], failure["record_key"], failure["operation"]) == ("salesforce", "ptn_acme", "upsert")

    # the channel manager puts the territory back: Salesforce already holds it, so nothing is left to write
    world.prm.edit("partner", "ptn_acme", territory="EMEA")
    world.sync()
    assert open_failures(world) == []
    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Territory__c"] == "EMEA"
    assert world.hubspot_by_prm_id("companies", "ptn_acme", ["territory"])["territory"] == "EMEA"
    audit = world.cli("audit", "ptn_acme", "--json")
    [moot] = [e for e in audit.json() if e["action"] == "failure.moot"]
    assert f"failed record {failure['id']}" in moot["text"]
    assert "already holds what the PRM holds" in moot["text"]
    world.assert_settled()


def test_a_record_that_failed_to_read_and_was_put_back_by_hand_closes_as_moot(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners"))
    world.sync()
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["name"])

    # a marketer blanks the company name: the partner cannot be read (a name is required)
    world.hubspot.crm.companies.basic_api.update(company["id"], {"properties": {"name": ""}})
    report = world.sync(allow_failures=True)
    assert report.slice("hubspot", "partner").failed == 1
    [failure] = open_failures(world)
    assert (failure["system"], failure["record_key"], failure["operation"]) == ("hubspot", company["id"], "read")

    # and types it back as it was: it now reads cleanly into what the PRM holds
    world.hubspot.crm.companies.basic_api.update(company["id"], {"properties": {"name": "Acme Partners"}})
    world.sync()
    assert open_failures(world) == []
    shown = world.cli("failures", "show", str(failure["id"]), "--json").json()
    assert shown["status"] == "resolved" and shown["resolution"].startswith("moot: ")
    world.assert_settled()


def test_replaying_a_failure_whose_cause_was_put_right_closes_it_as_moot(make_world: Any) -> None:
    """The admin replays the failure instead of waiting for the next sync: the replay closes it, and says why."""
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", territory="EMEA"))
    world.sync()
    world.prm.edit("partner", "ptn_acme", territory="EMEA " + "and the rest of the world " * 10)
    world.sync(allow_failures=True)
    [failure] = open_failures(world)
    assert (failure["system"], failure["record_key"]) == ("salesforce", "ptn_acme")

    world.prm.edit("partner", "ptn_acme", territory="EMEA")  # put right at the source
    replayed = world.cli("failures", "replay", str(failure["id"]), "--json")

    assert replayed.exit_code == 0, replayed.output
    [item] = replayed.json()["items"]
    assert item["outcome"] == "synced" and item["reason"].startswith("moot: "), item
    assert open_failures(world) == []
    shown = world.cli("failures", "show", str(failure["id"]), "--json").json()
    assert shown["status"] == "resolved" and shown["resolution"].startswith("moot: ")
    assert world.salesforce_by_prm_id("Account", "ptn_acme", ACCOUNT)["Territory__c"] == "EMEA"
    world.sync()  # the replay touched Salesforce only: HubSpot, which took the long value, gets EMEA back
    assert world.hubspot_by_prm_id("companies", "ptn_acme", ["territory"])["territory"] == "EMEA"
    world.assert_settled()
