"""Salesforce Outbound Messages: parsing, the org check, XML attacks, redelivery and the exact Ack."""

from __future__ import annotations

import pytest

from prm_sync.config.settings import WebhooksConfig
from prm_sync.webhooks import (
    ACK_ENVELOPE,
    RejectReason,
    WebhookRejected,
    handle_salesforce,
    parse_outbound_message,
)

EXPECTED_ACK = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
      <Ack>true</Ack>
    </notificationsResponse>
  </soapenv:Body>
</soapenv:Envelope>
"""

ACCOUNT = ("04l5g00000AAAA1AAA", "Account", "0015g00000ABCDEAA1", {"Name": "Acme &amp; Co", "Website": None})
REGISTRATION = (
    "04l5g00000AAAA2AAA",
    "Deal_Registration__c",
    "a015g00000XYZ01AAA",
    {"Status__c": "Submitted"},
)


def test_parse_reads_org_action_and_records(kit) -> None:
    message = parse_outbound_message(kit.outbound_message(ACCOUNT, REGISTRATION))
    assert message.organization_id == kit.ORG_ID_18
    assert message.action_id == "04k5g000000XyZaAAK"
    account, registration = message.notifications
    assert (account.id, account.sobject.type, account.sobject.id) == ACCOUNT[:3]
    assert account.sobject.fields == {"Name": "Acme & Co", "Website": None}
    assert registration.sobject.type == "Deal_Registration__c"


def test_valid_message_is_stored_and_acknowledged_exactly(kit, webhook_store, settings) -> None:
    response = handle_salesforce(
        webhook_store, kit.salesforce_request(kit.outbound_message(ACCOUNT, REGISTRATION)), settings, kit.NOW
    )
    assert response.status == 200
    assert response.content_type == "text/xml; charset=utf-8"
    assert response.body == EXPECTED_ACK == ACK_ENVELOPE
    events = kit.inbox(webhook_store, "salesforce")
    assert [e.delivery_id for e in events] == [ACCOUNT[0], REGISTRATION[0]]
    payload = events[0].payload
    assert (payload["system"], payload["remote_object"], payload["remote_ids"]) == (
        "salesforce",
        "Account",
        [ACCOUNT[2]],
    )
    assert payload["event"]["fields"]["Name"] == "Acme & Co"


def test_session_id_is_never_stored(kit, webhook_store, settings) -> None:
    handle_salesforce(webhook_store, kit.salesforce_request(kit.outbound_message(ACCOUNT)), settings, kit.NOW)
    (event,) = kit.inbox(webhook_store)
    assert "LIVE_SESSION_TOKEN" not in repr(event.payload)


def test_redelivery_is_acknowledged_but_stored_once(kit, webhook_store, settings) -> None:
    request = kit.salesforce_request(kit.outbound_message(ACCOUNT))
    first = handle_salesforce(webhook_store, request, settings, kit.NOW)
    again = handle_salesforce(
        webhook_store, kit.salesforce_request(kit.outbound_message(ACCOUNT, REGISTRATION)), settings, kit.NOW
    )
    assert (first.accepted, again.accepted, again.duplicates) == (1, 1, 1)
    assert again.body == EXPECTED_ACK
    assert kit.inbox_count(webhook_store) == 2


def test_wrong_org_gets_a_403_soap_fault(kit, webhook_store, settings) -> None:
    body = kit.outbound_message(ACCOUNT, org_id="00D000000000001AAA")
    response = handle_salesforce(webhook_store, kit.salesforce_request(body), settings, kit.NOW)
    assert response.status == 403
    assert b"<soapenv:Fault>" in response.body and b"<faultstring>Forbidden</faultstring>" in response.body
    assert b"00D" not in response.body  # nothing about which org was expected
    assert kit.inbox_count(webhook_store) == 0


def test_no_configured_org_refuses_everything(kit, webhook_store) -> None:
    response = handle_salesforce(
        webhook_store, kit.salesforce_request(kit.outbound_message(ACCOUNT)), WebhooksConfig(), kit.NOW
    )
    assert response.status == 403


def test_a_15_character_org_id_matches_the_18_character_form(kit, webhook_store) -> None:
    settings = WebhooksConfig(salesforce={"organization_ids": [kit.ORG_ID_18[:15]]})
    response = handle_salesforce(
        webhook_store, kit.salesforce_request(kit.outbound_message(ACCOUNT)), settings, kit.NOW
    )
    assert response.status == 200


def test_org_ids_are_validated_in_config() -> None:
    with pytest.raises(ValueError, match="not a Salesforce organization id"):
        WebhooksConfig(salesforce={"organization_ids": ["acme"]})


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


@pytest.mark.parametrize(
    "prolog",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param('<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', id="xxe-file"),
        pytest.param('<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd">', id="external-dtd"),
        pytest.param(
            '<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>', id="parameter-entity"
        ),
    ],
)
def test_doctype_and_entities_are_refused(kit, webhook_store, settings, prolog: str) -> None:
    body = kit.outbound_message(ACCOUNT, prolog=prolog)
    with pytest.raises(WebhookRejected) as caught:
        parse_outbound_message(body)
    assert caught.value.reason is RejectReason.unsafe_xml
    response = handle_salesforce(webhook_store, kit.salesforce_request(body), settings, kit.NOW)
    assert response.status == 400
    assert b"passwd" not in response.body and b"lol" not in response.body
    assert kit.inbox_count(webhook_store) == 0


def test_entity_reference_inside_a_field_is_refused(kit, webhook_store, settings) -> None:
    body = kit.outbound_message(
        ("04l5g00000AAAA3AAA", "Account", "0015g00000ABCDEAA2", {"Name": "&xxe;"}),
        prolog='<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
    )
    response = handle_salesforce(webhook_store, kit.salesforce_request(body), settings, kit.NOW)
    assert response.status == 400
    assert kit.inbox_count(webhook_store) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<notxml", id="broken"),
        pytest.param(b"<a/>", id="not-soap"),
        pytest.param(
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>',
            id="no-notifications",
        ),
    ],
)
def test_malformed_messages_are_a_400(kit, webhook_store, settings, body: bytes) -> None:
    response = handle_salesforce(webhook_store, kit.salesforce_request(body), settings, kit.NOW)
    assert response.status == 400
    assert b"<soapenv:Fault>" in response.body


def test_more_than_100_notifications_is_refused(kit) -> None:
    many = [(f"04l5g00000N{i:05d}AA", "Contact", f"0035g00000C{i:05d}AA", {}) for i in range(101)]
    with pytest.raises(WebhookRejected) as caught:
        parse_outbound_message(kit.outbound_message(*many))
    assert caught.value.reason is RejectReason.malformed_body
    assert len(parse_outbound_message(kit.outbound_message(*many[:100])).notifications) == 100
