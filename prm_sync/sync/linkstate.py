"""What we know of one PRM record in one system, as the engine uses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from prm_sync.sync.values import same_json

LINKS_PENDING = "links:"
"""``push_fingerprint`` prefix of a link whose record was written but whose associations were
refused or never confirmed: the next push writes the record again, and links it. Every writer of
link states keeps it until a push has written the record again."""


CLAIM_PENDING = "claim:"
"""``push_fingerprint`` prefix of a link to a remote record that does not carry our id yet (adopted from
the CRM, or a merge survivor): the next push writes the record by its remote id, our id included."""


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

    Stored as one JSON column (``snapshot``, see ``pack_snapshot``) that
    leaves ``prm`` out when it equals ``remote``.
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
    # the association targets (link field, object and label -> remote id) that went out with the last write, in the
    # snapshot: an update sends only the ones that changed; None (older rows, no associations): send all
    links: dict[str, str] | None = None

    def snapshot(self) -> dict[str, Any]:
        """The stored form (one JSON column): see ``pack_snapshot``."""
        packed = pack_snapshot(self.remote_values, self.prm_values)
        if self.links is not None:
            packed["links"] = self.links
        return packed

    @property
    def claim_pending(self) -> bool:
        """Our id still has to be written onto the remote record (see ``CLAIM_PENDING``)."""
        return (self.push_fingerprint or "").startswith(CLAIM_PENDING)

    @property
    def links_pending(self) -> bool:
        """The record's associations still have to go out (see ``LINKS_PENDING``)."""
        return (self.push_fingerprint or "").startswith(LINKS_PENDING)


def pack_snapshot(remote_values: dict[str, Any], prm_values: dict[str, Any]) -> dict[str, Any]:
    """A link's two views as stored in ``sync_state.snapshot``: ``{"remote": R}``, plus ``"prm"`` if it differs.

    After a push, and after most pulls, the PRM side equals the remote side
    field for field, so writing both doubled the row for nothing: every
    pushed or pulled record writes one, and SQLite's insert cost and the
    store's growth follow the bytes. ``"prm"`` is left out only when it holds
    the same keys with the same JSON values (``same_json``: equal types too,
    so it reads back exactly as written); ``unpack_snapshot`` reads a missing
    ``"prm"`` as the remote values. Rows written with both keys read as before.
    Every writer of a snapshot goes through here.
    """
    if prm_values.keys() == remote_values.keys() and all(  # ``is`` first: a push's two views share their values
        value is remote_values[name] or same_json(value, remote_values[name]) for name, value in prm_values.items()
    ):
        return {"remote": remote_values}
    return {"remote": remote_values, "prm": prm_values}


def unpack_snapshot(snapshot: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(remote_values, prm_values)`` of a stored snapshot, compact (no ``"prm"``) or full.

    A missing ``"prm"`` means "the same as remote": it is returned as a copy
    (nested lists and dicts too), so a caller changing one view never changes
    the other, as with two separately decoded views of a full snapshot.
    """
    snapshot = snapshot or {}
    remote: dict[str, Any] = snapshot.get("remote", {})
    if "prm" in snapshot:
        return remote, snapshot["prm"]
    return remote, {name: _fresh(value) for name, value in remote.items()}


def _fresh(value: Any) -> Any:
    """A copy of a JSON value that shares no list or dict with it."""
    if type(value) is list:
        return [_fresh(item) for item in value]
    if type(value) is dict:
        return {key: _fresh(item) for key, item in value.items()}
    return value
