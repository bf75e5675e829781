"""Fixtures for the webhook tests: a temporary SQLite store, settings, and signed requests.

Time is injected (``NOW``); nothing reads the wall clock except the
end-to-end server tests, which sign with the real time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from prm_sync.config.settings import WebhooksConfig
from prm_sync.store.db import Store
from prm_sync.store.inbox import InboxEvent, list_unprocessed
from prm_sync.store.orm import InboxEventRow
from prm_sync.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRequest, hubspot_v3_signature

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CLIENT_SECRET = "hs-client-secret-5e1f0c9a-never-log-me"
ORG_ID_18 = "00D5g000004ABCDEA4"
HUBSPOT_URL = "https://hooks.example.com/webhooks/hubspot"


@pytest.fixture
def webhook_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path}/t.sqlite", auto_upgrade=True)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def settings() -> WebhooksConfig:
    return WebhooksConfig(
        public_base_url="https://hooks.example.com",
        hubspot={"custom_object_types": {"2-7654321": "p_deal_registrations"}},
        salesforce={"organization_ids": [ORG_ID_18]},
    )


@pytest.fixture
def secret() -> SecretStr:
    return SecretStr(CLIENT_SECRET)


class WebhookKit:
    """Builders for signed HubSpot requests and Salesforce envelopes, shared through the ``kit`` fixture.

    A fixture rather than an importable module: ``tests/`` is not a package and
    several folders have a ``conftest.py``, so ``from conftest import`` is ambiguous.
    """

    NOW = NOW
    CLIENT_SECRET = CLIENT_SECRET
    ORG_ID_18 = ORG_ID_18
    HUBSPOT_URL = HUBSPOT_URL

    @staticmethod
    def ms(moment: datetime) -> str:
        return str(int(moment.timestamp() * 1000))

    @staticmethod
    def hubspot_event(
        event_id: int, subscription_type: str = "company.propertyChange", **extra: Any
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": 4242,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(NOW.timestamp() * 1000) - 5000,
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": 1000 + event_id,
            "changeSource": "CRM",
        }
        if subscription_type.endswith("propertyChange"):
            event.update(propertyName="name", propertyValue=f"Acme {event_id}")
        event.update(extra)
        return event

    @staticmethod
    def hubspot_body(*events: dict[str, Any]) -> bytes:
        return json.dumps(list(events), separators=(",", ":")).encode("utf-8")

    @staticmethod
    def signed_hubspot_request(
        body: bytes,
        *,
        url: str = HUBSPOT_URL,
        at: datetime = NOW,
        secret: str = CLIENT_SECRET,
        signed_body: bytes | None = None,
    ) -> WebhookRequest:
        timestamp = WebhookKit.ms(at)
        signature = hubspot_v3_signature(
            "POST", url, body if signed_body is None else signed_body, timestamp, secret
        )
        return WebhookRequest(
            method="POST",
            url=url,
            headers={
                SIGNATURE_HEADER: signature,
                TIMESTAMP_HEADER: timestamp,
                "Content-Type": "application/json",
            },
            body=body,
        )

    @staticmethod
    def outbound_message(
        *notifications: tuple[str, str, str, dict[str, str | None]],
        org_id: str = ORG_ID_18,
        prolog: str = "",
    ) -> bytes:
        """A Salesforce ``notifications`` envelope; each notification is (notification id, type, sf id, fields)."""
        parts = []
        for notification_id, sobject_type, sf_id, fields in notifications:
            rendered = "".join(
                f'<sf:{k} xsi:nil="true"/>' if v is None else f"<sf:{k}>{v}</sf:{k}>"
                for k, v in fields.items()
            )
            parts.append(
                f"<Notification><Id>{notification_id}</Id>"
                f'<sObject xsi:type="sf:{sobject_type}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
                f"<sf:Id>{sf_id}</sf:Id>{rendered}</sObject></Notification>"
            )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k5g000000XyZaAAK</ActionId>"
            "<SessionId>00D5g000004ABCD!AQ4AQLIVE_SESSION_TOKEN</SessionId>"
            f"<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0/{org_id[:15]}</EnterpriseUrl>"
            f"<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/59.0/{org_id[:15]}</PartnerUrl>"
            f"{''.join(parts)}</notifications></soapenv:Body></soapenv:Envelope>"
        ).encode()

    @staticmethod
    def salesforce_request(body: bytes) -> WebhookRequest:
        return WebhookRequest(
            method="POST",
            url="https://hooks.example.com/webhooks/salesforce",
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            body=body,
        )

    @staticmethod
    def inbox(store: Store, source: str | None = None) -> list[InboxEvent]:
        with store.session(readonly=True) as session:
            return list_unprocessed(session, source=source)

    @staticmethod
    def inbox_count(store: Store) -> int:
        with store.session(readonly=True) as session:
            return session.scalar(select(func.count()).select_from(InboxEventRow)) or 0


@pytest.fixture
def kit() -> type[WebhookKit]:
    return WebhookKit
