"""The shape every webhook leaves in the inbox, whatever system sent it.

Each sender's event is reduced on receipt to "which remote records of which
object changed", because that is all a targeted sync needs and the raw
event formats differ per system. The raw event is kept next to it for audit
and for replaying with better logic later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

HUBSPOT = "hubspot"
SALESFORCE = "salesforce"
SOURCES = (HUBSPOT, SALESFORCE)


class InboxPayload(BaseModel):
    """One delivery as stored in ``inbox_event.payload``."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(description="system whose record changed: hubspot or salesforce")
    remote_object: str = Field(description="object name as the mappings spell it: companies, Account, ...")
    action: str = Field(
        description="what happened, in the sender's words: propertyChange, deletion, notification"
    )
    remote_ids: list[str] = Field(default_factory=list, description="every remote id the event touches")
    deleted_ids: list[str] = Field(
        default_factory=list, description="ids that no longer exist remotely (deleted or merged away)"
    )
    occurred_at: datetime | None = None
    event: dict[str, Any] = Field(
        default_factory=dict, description="the event as received, minus credentials"
    )
