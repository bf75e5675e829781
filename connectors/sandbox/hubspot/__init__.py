"""HubSpot sandbox: CRM objects v3, search, properties and associations v4 on loopback."""

from connectors.sandbox.hubspot.app import HubSpotSandbox
from connectors.sandbox.hubspot.wire import HubSpotApiError

__all__ = ["HubSpotApiError", "HubSpotSandbox"]
