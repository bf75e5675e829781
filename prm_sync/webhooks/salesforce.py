"""Salesforce Outbound Messages: the SOAP ``notifications`` call and its acknowledgement.

Outbound Messages are not signed. What we can check is the sending org's id
against ``webhooks.salesforce.organization_ids`` (plus, outside this code,
TLS with Salesforce's client certificate or an IP allow-list at the proxy).
Salesforce delivers at least once and retries for 24 hours until it gets
the exact ``<Ack>true</Ack>`` response below, so each Notification Id is
stored once and a redelivery is acknowledged again without a new row.

The message's ``SessionId`` is a live Salesforce session: it is never kept,
logged or written to the inbox.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from pydantic import BaseModel, Field, ValidationError

from prm_sync.webhooks.envelope import SALESFORCE, InboxPayload
from prm_sync.webhooks.errors import RejectReason, WebhookRejected
from prm_sync.webhooks.xmlsafe import parse_untrusted_xml

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_NOTIFICATIONS = 100

# the acknowledgement from Salesforce's outbound messaging documentation; anything else is retried
ACK_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
    b"  <soapenv:Body>\n"
    b'    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    b"      <Ack>true</Ack>\n"
    b"    </notificationsResponse>\n"
    b"  </soapenv:Body>\n"
    b"</soapenv:Envelope>\n"
)

_FAULT_TEMPLATE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
    "  <soapenv:Body>\n"
    "    <soapenv:Fault>\n"
    "      <faultcode>soapenv:{code}</faultcode>\n"
    "      <faultstring>{text}</faultstring>\n"
    "    </soapenv:Fault>\n"
    "  </soapenv:Body>\n"
    "</soapenv:Envelope>\n"
)
_FAULT_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 413: "Request Too Large"}


def soap_fault(status: int) -> bytes:
    """A SOAP 1.1 fault that says no more than the HTTP status does."""
    code = "Server" if status >= 500 else "Client"
    text = _FAULT_TEXT.get(status, "Internal Server Error" if status >= 500 else "Rejected")
    return _FAULT_TEMPLATE.format(code=code, text=text).encode("utf-8")


class SObjectRecord(BaseModel):
    """The record snapshot a notification carries: only the fields chosen in the outbound message setup."""

    type: str = Field(description="sObject API name from xsi:type, e.g. Account, Deal_Registration__c")
    id: str
    fields: dict[str, str | None] = Field(default_factory=dict)


class OutboundNotification(BaseModel):
    id: str = Field(description="Notification Id: the delivery key, repeated on every retry")
    sobject: SObjectRecord


class OutboundMessage(BaseModel):
    organization_id: str
    action_id: str
    enterprise_url: str | None = None
    partner_url: str | None = None
    notifications: list[OutboundNotification] = Field(min_length=1, max_length=MAX_NOTIFICATIONS)

    def payloads(self) -> list[tuple[str, InboxPayload]]:
        """(delivery id, inbox payload) per notification."""
        return [
            (
                n.id,
                InboxPayload(
                    system=SALESFORCE,
                    remote_object=n.sobject.type,
                    action="notification",
                    remote_ids=[n.sobject.id],
                    event={
                        "organization_id": self.organization_id,
                        "action_id": self.action_id,
                        "notification_id": n.id,
                        "sobject_type": n.sobject.type,
                        "fields": n.sobject.fields,
                    },
                ),
            )
            for n in self.notifications
        ]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(parent: ET.Element, name: str) -> str | None:
    child = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    if child is None or child.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return (child.text or "").strip() or None


def _sobject(element: ET.Element) -> SObjectRecord:
    declared = element.get(f"{{{XSI_NS}}}type", "")
    fields: dict[str, str | None] = {}
    for child in element:
        nil = child.get(f"{{{XSI_NS}}}nil") == "true"
        fields[_local(child.tag)] = None if nil else (child.text or "")
    return SObjectRecord(type=declared.rpartition(":")[2], id=fields.pop("Id", None) or "", fields=fields)


def parse_outbound_message(body: bytes) -> OutboundMessage:
    """The ``notifications`` call in a SOAP envelope; ``WebhookRejected`` if unsafe or not that shape."""
    root = parse_untrusted_xml(body)
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise WebhookRejected(RejectReason.malformed_body)
    call = root.find(f"{{{SOAP_ENV_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if call is None:
        raise WebhookRejected(RejectReason.malformed_body)
    notifications = []
    for element in call.findall(f"{{{OUTBOUND_NS}}}Notification"):
        sobject = element.find(f"{{{OUTBOUND_NS}}}sObject")
        notifications.append(
            {"id": _text(element, "Id"), "sobject": None if sobject is None else _sobject(sobject)}
        )
    try:
        message = OutboundMessage(
            organization_id=_text(call, "OrganizationId"),
            action_id=_text(call, "ActionId"),
            enterprise_url=_text(call, "EnterpriseUrl"),
            partner_url=_text(call, "PartnerUrl"),
            notifications=notifications,
        )
    except ValidationError:
        raise WebhookRejected(RejectReason.malformed_body) from None
    if any(not n.id or not n.sobject.id or not n.sobject.type for n in message.notifications):
        raise WebhookRejected(RejectReason.malformed_body)
    return message


def organization_allowed(organization_id: str, allowed: Sequence[str]) -> bool:
    """Compare on the case-sensitive 15-character id, so 15- and 18-character forms both match."""
    key = organization_id[:15]
    return len(organization_id) in (15, 18) and any(key == a[:15] for a in allowed)
