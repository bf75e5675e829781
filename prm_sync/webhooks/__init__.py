"""Webhook receivers: HubSpot (signature v3) and Salesforce Outbound Messages into the inbox.

Senders deliver at least once; every event lands in the store's inbox keyed
by its delivery id, and ``pending_targets`` later groups what is pending
into remote ids and PRM record ids for a targeted sync.
"""

from prm_sync.webhooks.envelope import HUBSPOT, SALESFORCE, InboxPayload
from prm_sync.webhooks.errors import RejectReason, WebhookRejected
from prm_sync.webhooks.handlers import (
    WebhookRequest,
    WebhookResponse,
    handle_hubspot,
    handle_salesforce,
    hubspot_client_secret,
)
from prm_sync.webhooks.hubspot import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HubSpotEvent,
    hubspot_v3_signature,
    normalise_uri,
    verify_hubspot_v3,
)
from prm_sync.webhooks.salesforce import ACK_ENVELOPE, OutboundMessage, parse_outbound_message
from prm_sync.webhooks.server import HUBSPOT_PATH, SALESFORCE_PATH, WebhookServer, start_server
from prm_sync.webhooks.targets import ENTITY_CANDIDATES, InboxBatch, entity_candidates, pending_targets

__all__ = [
    "ACK_ENVELOPE",
    "ENTITY_CANDIDATES",
    "HUBSPOT",
    "HUBSPOT_PATH",
    "SALESFORCE",
    "SALESFORCE_PATH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "HubSpotEvent",
    "InboxBatch",
    "InboxPayload",
    "OutboundMessage",
    "RejectReason",
    "WebhookRejected",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookServer",
    "entity_candidates",
    "handle_hubspot",
    "handle_salesforce",
    "hubspot_client_secret",
    "hubspot_v3_signature",
    "normalise_uri",
    "parse_outbound_message",
    "pending_targets",
    "start_server",
    "verify_hubspot_v3",
]
