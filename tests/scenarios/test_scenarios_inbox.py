"""Change notifications drain without Dagster: the CLI syncs what the webhooks announced.

HubSpot sends a signed webhook and Salesforce an outbound message to
``prm-sync webhooks serve`` (started here on a free loopback port); the
events wait in the inbox until ``prm-sync webhooks drain`` or a plain
``prm-sync sync`` runs a targeted sync of exactly those records, and the
edit reaches the other CRM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from prm_sync.config.settings import WebhooksConfig
from prm_sync.model import Partner
from prm_sync.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_v3_signature, start_server

CLIENT_SECRET = "hs-app-client-secret-for-scenarios"
ORG_ID = "00D5g000004ABCDEA4"
SYSTEMS = ("salesforce", "hubspot")


@pytest.fixture
def receiver(make_world: Any) -> Iterator[tuple[Any, str]]:
    """A world and the webhook receiver writing into its store's inbox, on 127.0.0.1:0."""
    world = make_world(systems=SYSTEMS)
    settings = WebhooksConfig(salesforce={"organization_ids": [ORG_ID]})
    server, thread = start_server(world.env.runtime.store, settings, hubspot_secret=SecretStr(CLIENT_SECRET),
                                  host="127.0.0.1", port=0)
    try:
        yield world, server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def hubspot_webhook(url: str, company_id: str, event_id: int, *, action: str = "propertyChange") -> None:
    """What HubSpot posts when a company property changes (or the company is deleted), signed (v3) with the app's
    client secret."""
    event = {"eventId": event_id, "subscriptionId": 1, "portalId": 62515, "appId": 1,
             "occurredAt": int(time.time() * 1000), "subscriptionType": f"company.{action}",
             "attemptNumber": 0, "objectId": int(company_id), "changeSource": "CRM"}
    if action == "propertyChange":
        event["propertyName"] = "phone"
    body = json.dumps([event]).encode()
    target = f"{url}/webhooks/hubspot"
    stamp = str(int(time.time() * 1000))
    headers = {SIGNATURE_HEADER: hubspot_v3_signature("POST", target, body, stamp, CLIENT_SECRET),
               TIMESTAMP_HEADER: stamp, "Content-Type": "application/json"}
    assert requests.post(target, data=body, headers=headers, timeout=10).status_code == 200


def salesforce_outbound_message(url: str, account_id: str, notification_id: str) -> None:
    """What a Salesforce workflow's outbound message posts for a changed account."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k5g000000XyZaAAK</ActionId>"
        f"<Notification><Id>{notification_id}</Id>"
        '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{account_id}</sf:Id></sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()
    response = requests.post(f"{url}/webhooks/salesforce", data=body, timeout=10,
                             headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content


def test_webhook_events_drive_a_targeted_sync_from_the_cli(receiver: tuple[Any, str]) -> None:
    world, url = receiver
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners", phone="+1 555 0100"))
    world.sync()
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["phone"])
    account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id, Phone")

    # a marketer edits the phone in HubSpot; HubSpot notifies; the inbox is drained on its own
    world.hubspot.crm.companies.basic_api.update(company["id"], {"properties": {"phone": "+1 555 0142"}})
    hubspot_webhook(url, company["id"], event_id=1)
    drained = world.cli("webhooks", "drain", "--json")
    assert drained.exit_code == 0, drained.output
    assert (drained.json()["events"], drained.json()["targets"]["partner"]) == (1, 1)
    assert world.salesforce_by_prm_id("Account", "ptn_acme", "Id, Phone")["Phone"] == "+1 555 0142"
    assert world.cli("webhooks", "drain", "--json").json()["events"] == 0  # processed once

    # a rep edits it in Salesforce; the outbound message waits until the next plain sync, which takes it first
    world.salesforce.Account.update(account["Id"], {"Phone": "+1 555 0199"})
    salesforce_outbound_message(url, account["Id"], "04l5g00000AbCdEAAZ")
    synced = world.cli("sync", "--json")
    assert synced.exit_code == 0, synced.output
    inbox = synced.json()["inbox"]
    assert inbox["events"] == 1 and inbox["report"]["status"] == "succeeded"
    assert world.hubspot_by_prm_id("companies", "ptn_acme", ["phone"])["phone"] == "+1 555 0199"
    assert "inbox" not in world.cli("sync", "--json").json()  # nothing pending any more
    world.assert_settled()


def test_a_deletion_webhook_takes_the_partner_out_of_the_other_crm_at_once(receiver: tuple[Any, str]) -> None:
    """HubSpot's change feed has no deletes (they wait for the periodic sweep); its deletion webhook says so now."""
    world, url = receiver
    world.prm.save(Partner(id="ptn_acme", name="Acme Partners"), Partner(id="ptn_bolt", name="Bolt Systems"))
    world.sync()
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["name"])["id"]

    world.hubspot.crm.companies.basic_api.archive(company)  # a marketer deletes the partner company
    hubspot_webhook(url, company, event_id=2, action="deletion")
    drained = world.cli("webhooks", "drain", "--json")

    assert drained.exit_code == 0, drained.output
    assert drained.json()["report"]["status"] == "succeeded"
    assert world.prm.get("partner", "ptn_acme").status == "terminated"
    assert world.salesforce_by_prm_id("Account", "ptn_acme", "Partner_Status__c")["Partner_Status__c"] == "Terminated"
    assert world.salesforce_by_prm_id("Account", "ptn_bolt", "Partner_Status__c")["Partner_Status__c"] == "Active"
    world.assert_settled()


def test_a_partner_account_announced_by_an_outbound_message_is_adopted_and_reaches_hubspot_in_the_same_drain(
    receiver: tuple[Any, str],
) -> None:
    """The account has no PRM id yet, so the event names no PRM record: the drain still finishes the job."""
    world, url = receiver
    world.sync()
    account = world.salesforce.Account.create({"Name": "Northwind Partners", "IsPartner": True, "Type": "Partner",
                                               "Domain__c": "northwind.example"})["id"]
    salesforce_outbound_message(url, account, "04l5g00000AbCdEAAA")

    drained = world.cli("webhooks", "drain", "--json")

    assert drained.exit_code == 0, drained.output
    [partner] = world.prm.all("partner")
    assert world.salesforce_records(f"SELECT PRM_Id__c FROM Account WHERE Id = '{account}'") == [
        {"PRM_Id__c": partner.id}]  # our id written back
    assert world.hubspot_by_prm_id("companies", partner.id, ["name"])["name"] == "Northwind Partners"
    world.assert_settled()
