"""Request in, response out: the webhook logic without an HTTP server.

The receiver, tests and a Dagster sensor all call ``handle_hubspot`` /
``handle_salesforce`` with a ``WebhookRequest``; each verifies the sender,
writes accepted events to the inbox in one transaction, and returns the
``WebhookResponse`` to send. A rejection is logged with its reason code only
(never the secret, the signature or the body) and answered with a bare
status so a prober learns nothing about which check failed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from prm_sync.config.settings import WebhooksConfig
from prm_sync.errors import MissingSecretError
from prm_sync.store.db import Store
from prm_sync.store.inbox import add_event
from prm_sync.webhooks.envelope import HUBSPOT, SALESFORCE, InboxPayload
from prm_sync.webhooks.errors import RejectReason, WebhookRejected
from prm_sync.webhooks.hubspot import SIGNATURE_HEADER, TIMESTAMP_HEADER, HubSpotEventBatch, verify_hubspot_v3
from prm_sync.webhooks.salesforce import (
    ACK_ENVELOPE,
    SOAP_CONTENT_TYPE,
    organization_allowed,
    parse_outbound_message,
    soap_fault,
)

log = logging.getLogger("prm_sync.webhooks")

JSON_CONTENT_TYPE = "application/json"
_STATUS_TEXT = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 413: "too_large"}


class WebhookRequest(BaseModel):
    """What a handler needs from an HTTP request.

    ``url`` is the full URL the sender called (scheme, host, path, query), as
    it appears in the sender's configuration: HubSpot signs it.
    """

    model_config = ConfigDict(frozen=True)

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @field_validator("headers", mode="before")
    @classmethod
    def _lowercase_keys(cls, value: Mapping[str, str]) -> dict[str, str]:
        # http header names are case-insensitive; HubSpot's own docs spell v3 both ways
        return {str(k).lower(): str(v) for k, v in dict(value).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WebhookResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: int
    content_type: str
    body: bytes
    accepted: int = 0  # new inbox rows
    duplicates: int = 0  # redeliveries acknowledged without a new row


def _json_response(status: int, payload: dict[str, Any], **counts: int) -> WebhookResponse:
    return WebhookResponse(
        status=status, content_type=JSON_CONTENT_TYPE, body=json.dumps(payload).encode("utf-8"), **counts
    )


def _store_payloads(
    store: Store, source: str, payloads: list[tuple[str, InboxPayload]], now: datetime
) -> tuple[int, int]:
    accepted = 0
    with store.session() as session:
        for delivery_id, payload in payloads:
            if add_event(session, source, delivery_id, payload.model_dump(mode="json"), now=now):
                accepted += 1
    return accepted, len(payloads) - accepted


def hubspot_client_secret(settings: WebhooksConfig) -> SecretStr:
    """The client secret from the environment variable the config names."""
    value = os.environ.get(settings.hubspot.client_secret_env)
    if not value:
        raise MissingSecretError(settings.hubspot.client_secret_env, "HubSpot webhook signature v3")
    return SecretStr(value)


def handle_hubspot(
    store: Store,
    request: WebhookRequest,
    settings: WebhooksConfig,
    now: datetime,
    *,
    client_secret: SecretStr | None = None,
) -> WebhookResponse:
    """Verify a HubSpot webhook request and put its events in the inbox.

    ``client_secret`` defaults to the environment variable in
    ``settings.hubspot.client_secret_env`` (the receiver resolves it once at
    start-up). A replayed request inside the time window stores nothing new:
    each event is keyed by its ids.
    """
    secret = client_secret or hubspot_client_secret(settings)
    try:
        verify_hubspot_v3(
            request.method,
            request.url,
            request.body,
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
            secret,
            now,
            max_age=settings.hubspot.max_age_seconds,
        )
        batch = HubSpotEventBatch.parse(request.body)
    except WebhookRejected as exc:
        log.warning("hubspot webhook rejected: %s", exc.reason.value)
        return _json_response(exc.status, {"error": _STATUS_TEXT[exc.status]})
    custom = settings.hubspot.custom_object_types
    payloads = [(event.delivery_id, event.to_payload(custom)) for event in batch.events]
    accepted, duplicates = _store_payloads(store, HUBSPOT, payloads, now)
    log.info("hubspot webhook: %d events stored, %d redeliveries", accepted, duplicates)
    return _json_response(
        200, {"accepted": accepted, "duplicates": duplicates}, accepted=accepted, duplicates=duplicates
    )


def handle_salesforce(
    store: Store, request: WebhookRequest, settings: WebhooksConfig, now: datetime
) -> WebhookResponse:
    """Check an Outbound Message's org, store each notification once, and acknowledge.

    The Ack goes out only after the inbox commit: if the store fails the
    caller answers 500 and Salesforce redelivers.
    """
    try:
        message = parse_outbound_message(request.body)
        if not organization_allowed(message.organization_id, settings.salesforce.organization_ids):
            raise WebhookRejected(RejectReason.wrong_organization)
    except WebhookRejected as exc:
        log.warning("salesforce outbound message rejected: %s", exc.reason.value)
        return WebhookResponse(status=exc.status, content_type=SOAP_CONTENT_TYPE, body=soap_fault(exc.status))
    accepted, duplicates = _store_payloads(store, SALESFORCE, message.payloads(), now)
    log.info("salesforce outbound message: %d notifications stored, %d redeliveries", accepted, duplicates)
    return WebhookResponse(
        status=200,
        content_type=SOAP_CONTENT_TYPE,
        body=ACK_ENVELOPE,
        accepted=accepted,
        duplicates=duplicates,
    )


def rejection_response(source: str, reason: RejectReason) -> WebhookResponse:
    """The response for a request refused before a handler ran (e.g. too large), in the sender's format."""
    exc = WebhookRejected(reason)
    log.warning("%s webhook rejected: %s", source, reason.value)
    if source == SALESFORCE:
        return WebhookResponse(status=exc.status, content_type=SOAP_CONTENT_TYPE, body=soap_fault(exc.status))
    return _json_response(exc.status, {"error": _STATUS_TEXT[exc.status]})
