"""What we know of one PRM record in one system, as the engine uses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

LINKS_PENDING = "links:"
"""``push_fingerprint`` prefix of a link whose record was written but whose associations were
refused or never confirmed: the next push writes the record again, and links it. Every writer of
link states keeps it until a push has written the record again."""


class LinkState(BaseModel):
    """The link between a PRM record and its twin in one system.

    Two views of the last agreement, as normalised canonical values:
    ``remote_values`` is what we believe the remote holds (what we read, or
    what our write will read back as), ``prm_values`` what the PRM held when
    the two last agreed. A remote value that differs from ``remote_values`` is
    a remote change; a PRM value that differs from ``prm_values`` is a PRM
    change not yet written. Both at once is a conflict, settled by the field's
    rule. Our own writes read back equal to ``remote_values``, which is why
    they never echo, even through one-way transforms such as ``lower``.
    """

    entity: str
    record_id: str
    system: str
    remote_object: str
    remote_id: str | None = None
    remote_values: dict[str, Any] = Field(default_factory=dict)
    prm_values: dict[str, Any] = Field(default_factory=dict)
    content_hash: str | None = None
    remote_modstamp: datetime | None = None
    remote_deleted: bool = False
    direction: Literal["pull", "push"] = "pull"  # which way the last agreement was reached
    last_synced_at: datetime | None = None
    # the record version and mapping the PRM side last fully agreed under; None: the next push
    # checks this record again (see ``plan_push``)
    record_version: int | None = None
    push_fingerprint: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The stored form (one JSON column)."""
        return {"remote": self.remote_values, "prm": self.prm_values}

    @property
    def links_pending(self) -> bool:
        """The record's associations still have to go out (see ``LINKS_PENDING``)."""
        return (self.push_fingerprint or "").startswith(LINKS_PENDING)
