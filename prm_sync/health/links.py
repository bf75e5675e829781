"""Where a person opens the CRM record a failure is about.

Salesforce: ``https://<instance>/lightning/r/<Object>/<Id>/view`` (Lightning
Experience; My Domain redirects to its lightning host). HubSpot:
``https://app.hubspot.com/contacts/<portal>/record/<objectTypeId>/<id>``, which
needs the portal id (``systems.hubspot.portal_id``) and, for a custom object,
its ``2-...`` type id (``webhooks.hubspot.custom_object_types``). A failed
create has no remote record yet, so it has no link.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from prm_sync.config import AppConfig
from prm_sync.store import state
from prm_sync.store.failures import FailedRecord

HUBSPOT_OBJECT_TYPES = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5",
                        "products": "0-7", "line_items": "0-8"}


def record_url(config: AppConfig, system: str, remote_object: str, remote_id: str | None) -> str | None:
    """The record's page in its CRM, or None when there is none (or not enough configuration to build it)."""
    if not remote_id:
        return None
    if system == "salesforce" and config.systems.salesforce is not None:
        base = config.systems.salesforce.instance_url.rstrip("/")
        return f"{base}/lightning/r/{remote_object}/{remote_id}/view"
    if system == "hubspot" and config.systems.hubspot is not None and config.systems.hubspot.portal_id:
        hubspot = config.systems.hubspot
        custom = {name: type_id for type_id, name in config.webhooks.hubspot.custom_object_types.items()}
        type_id = HUBSPOT_OBJECT_TYPES.get(remote_object) or custom.get(remote_object)
        if type_id is None:
            return None
        return f"{hubspot.app_url.rstrip('/')}/contacts/{hubspot.portal_id}/record/{type_id}/{remote_id}"
    return None


def remote_ids(session: Session, failures: Iterable[FailedRecord]) -> dict[int, str]:
    """Failure id -> the remote record's id: the key of a read failure, the link of a pushed record."""
    found: dict[int, str] = {}
    wanted: dict[tuple[str, str], list[FailedRecord]] = {}
    for failure in failures:
        if str(failure.operation) == "read":
            found[failure.id] = failure.record_key
        elif failure.entity:
            wanted.setdefault((failure.entity, failure.system), []).append(failure)
    for (entity, system), group in wanted.items():
        states = state.get_states(session, entity, system, [f.record_key for f in group])
        for failure in group:
            link = states.get(failure.record_key)
            if link is not None and link.remote_id:
                found[failure.id] = link.remote_id
    return found
