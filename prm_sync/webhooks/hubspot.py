"""HubSpot webhooks: signature v3 verification and the event array.

HubSpot signs ``method + uri + body + timestamp`` with the app's client
secret (HMAC-SHA256, base64) and sends it in ``X-HubSpot-Signature-v3`` with
the millisecond timestamp in ``X-HubSpot-Request-Timestamp``. The ``uri`` is
the full URL HubSpot called (scheme, host, path and query exactly as
configured in the app), not the path this process sees behind a proxy: the
receiver rebuilds it from ``webhooks.public_base_url``.

HubSpot's v3 instructions say to decode a fixed set of percent-encoded
characters in the URI before signing (``%3A`` ``%2F`` ``%3F`` ``%40`` ``%21``
``%24`` ``%27`` ``%28`` ``%29`` ``%2A`` ``%2C`` ``%3B``); anything else, ``%20``
included, stays encoded. ``normalise_uri`` does exactly that, in one pass so
an encoded percent sign (``%253A``) is never decoded twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from pydantic.alias_generators import to_camel

from prm_sync.webhooks.envelope import HUBSPOT, InboxPayload
from prm_sync.webhooks.errors import RejectReason, WebhookRejected

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
DEFAULT_MAX_AGE_SECONDS = 300

_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_DECODE_RE = re.compile("|".join(re.escape(k) for k in _DECODED), re.IGNORECASE)

# subscription prefixes of the standard objects -> object names the mappings use
_STANDARD_OBJECTS = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
}
# objectTypeId of standard objects, for the generic ``object.*`` subscriptions
_STANDARD_TYPE_IDS = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
}
_DELETING_ACTIONS = frozenset({"deletion", "privacyDeletion"})


def normalise_uri(uri: str) -> str:
    """The URI as HubSpot's v3 signature covers it: the documented characters decoded."""
    return _DECODE_RE.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def _secret_bytes(client_secret: str | Any) -> bytes:
    # accepts str or pydantic SecretStr without ever formatting the secret
    raw = client_secret.get_secret_value() if hasattr(client_secret, "get_secret_value") else client_secret
    return str(raw).encode("utf-8")


def hubspot_v3_signature(method: str, uri: str, body: bytes, timestamp: str, client_secret: str | Any) -> str:
    """The signature HubSpot would send for this request (also used by tests and sandboxes to sign)."""
    message = (
        method.upper().encode("utf-8") + normalise_uri(uri).encode("utf-8") + body + timestamp.encode("utf-8")
    )
    digest = hmac.new(_secret_bytes(client_secret), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_hubspot_v3(
    method: str,
    uri: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    client_secret: str | Any,
    now: datetime,
    max_age: int = DEFAULT_MAX_AGE_SECONDS,
) -> None:
    """Raise ``WebhookRejected`` unless the request is fresh and signed with our client secret.

    The window is checked in both directions: a timestamp far in the future
    would otherwise let a captured request be replayed for longer. The digest
    comparison is constant-time so response timing leaks nothing about how
    much of a forged signature was right.
    """
    if not timestamp_header or not signature_header:
        raise WebhookRejected(RejectReason.missing_header)
    try:
        sent_ms = int(timestamp_header.strip())
    except ValueError:
        raise WebhookRejected(RejectReason.missing_header) from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    if abs(now_ms - sent_ms) > max_age * 1000:
        raise WebhookRejected(RejectReason.stale)
    expected = hubspot_v3_signature(method, uri, body, timestamp_header.strip(), client_secret)
    if not hmac.compare_digest(expected.encode("ascii"), signature_header.strip().encode("utf-8")):
        raise WebhookRejected(RejectReason.bad_signature)


class HubSpotEvent(BaseModel):
    """One element of the webhook's JSON array; unknown fields are kept for forward compatibility."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    event_id: int
    subscription_type: str = Field(description="object.action, e.g. company.propertyChange, deal.deletion")
    occurred_at: int = Field(description="milliseconds since the epoch")
    subscription_id: int | None = None
    portal_id: int | None = None
    app_id: int | None = None
    attempt_number: int | None = None
    object_id: int | None = None
    object_type_id: str | None = None
    change_source: str | None = None
    change_flag: str | None = None
    property_name: str | None = None
    property_value: JsonValue = None
    source_id: str | None = None
    merged_object_ids: list[int] = Field(default_factory=list)
    primary_object_id: int | None = None
    new_object_id: int | None = None
    from_object_id: int | None = None
    to_object_id: int | None = None
    association_type: str | None = None
    association_removed: bool | None = None

    @property
    def object_name(self) -> str:
        return self.subscription_type.partition(".")[0]

    @property
    def action(self) -> str:
        return self.subscription_type.partition(".")[2]

    @property
    def delivery_id(self) -> str:
        """Inbox key: eventId is not promised unique, so it is qualified by portal and subscription.

        A redelivery repeats all three, so deduplication still holds.
        """
        return f"{self.portal_id or 0}:{self.subscription_id or 0}:{self.event_id}"

    def remote_object(self, custom_object_types: Mapping[str, str]) -> str:
        """The object name the mappings use (``companies``, ``p_deal_registrations``...)."""
        if self.object_name in _STANDARD_OBJECTS:
            return _STANDARD_OBJECTS[self.object_name]
        # generic ``object.*`` subscriptions (and custom objects) name the type by objectTypeId
        type_id = self.object_type_id or ""
        if type_id in _STANDARD_TYPE_IDS:
            return _STANDARD_TYPE_IDS[type_id]
        return custom_object_types.get(type_id) or type_id or self.object_name

    def to_payload(self, custom_object_types: Mapping[str, str]) -> InboxPayload:
        """Reduce the event to the remote ids it touches; merge losers and deletions are marked deleted."""
        touched = [self.object_id, self.primary_object_id, self.new_object_id, self.from_object_id]
        survivors = {i for i in touched if i is not None}
        if self.action in _DELETING_ACTIONS:
            deleted = [] if self.object_id is None else [self.object_id]
        else:
            deleted = [i for i in self.merged_object_ids if i not in survivors]
        remote_ids = [str(i) for i in dict.fromkeys([*touched, *deleted]) if i is not None]
        return InboxPayload(
            system=HUBSPOT,
            remote_object=self.remote_object(custom_object_types),
            action=self.action,
            remote_ids=remote_ids,
            deleted_ids=[str(i) for i in deleted],
            occurred_at=datetime.fromtimestamp(self.occurred_at / 1000, tz=UTC),
            event=self.model_dump(mode="json", by_alias=True, exclude_none=True),
        )


class HubSpotEventBatch(BaseModel):
    """The request body: a JSON array (HubSpot batches up to 100 events; 1,000 is a sanity bound)."""

    events: list[HubSpotEvent] = Field(max_length=1000)

    @classmethod
    def parse(cls, body: bytes) -> HubSpotEventBatch:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(RejectReason.malformed_body) from None
        if isinstance(data, dict):  # tolerate a single event sent as an object
            data = [data]
        try:
            return cls(events=data)
        except ValidationError:
            raise WebhookRejected(RejectReason.malformed_body) from None
