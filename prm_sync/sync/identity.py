"""Who is this remote record? Identity first, before deciding what to write.

A record read from a slice keyed by our id (``external_id``/``id_property``)
is, in order: the PRM record its link says; the PRM record its key names (or
that record's merge survivor); under ``on_unmatched: adopt``, the one PRM
record its natural key (``match.identify_by``, normalised as the conflict
check does) finds and that is not linked to another record of this system;
else a new PRM record. Two candidates, or a candidate already linked to
another remote record, is *ambiguous*: reported, never guessed. The same
resolver serves the sync's pull and ``prm-sync adopt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from prm_sync.mapping.policies import identify_by
from prm_sync.model import ENTITIES, CanonicalRecord, new_id, utcnow
from prm_sync.rules.normalize import normalize_country, normalize_domain, normalize_name
from prm_sync.store import identity as identity_store
from prm_sync.store import records, state
from prm_sync.sync.values import normalize

How = Literal["prm_id", "alias", "natural_key", "new", "unmatched", "ambiguous", "linked_elsewhere",
              "unknown_prm_id", "ignored"]
DECIDED = ("prm_id", "alias", "natural_key", "new")


def _instant(value: Any) -> Any:
    """A point in time as UTC ISO text, whether it comes as a datetime or as CSV text (``...Z`` or an offset)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value.strip() or None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return normalize(value)


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "domain": normalize_domain,
    "customer_domain": normalize_domain,
    "website": normalize_domain,
    "name": lambda v: normalize_name(str(v)) or None,
    "customer_name": lambda v: normalize_name(str(v)) or None,
    "country": lambda v: normalize_country(str(v)) or normalize(v),
    "email": lambda v: str(v).strip().lower() or None,
    "submitted_at": _instant,
}


def key_value(name: str, value: Any) -> Any:
    """One natural-key field, normalised so that ``Acme, Inc.`` finds ``ACME`` and ``www.acme.com`` finds ``acme.com``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fn = _NORMALIZERS.get(name)
    return fn(value) if fn is not None else normalize(value)


def natural_key(key: list[str], values: dict[str, Any]) -> tuple[Any, ...] | None:
    """The normalised key of a record's values, or None when any part is blank."""
    out = tuple(key_value(name, values.get(name)) for name in key)
    return None if any(v is None for v in out) else out


@dataclass
class Identity:
    how: How
    record_id: str | None = None
    candidates: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def decided(self) -> bool:
        return self.how in DECIDED


# how far back a catch-up looks before the last one: commits that landed late, clocks of other hosts
CATCH_UP_MARGIN = timedelta(minutes=10)


class KeyIndex:
    """Natural key -> PRM ids, per entity and key, built once per run when first needed and kept current."""

    def __init__(self) -> None:
        self._index: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], set[str]]] = {}
        self._added: dict[str, dict[str, CanonicalRecord]] = {}  # not yet in the store: counted when an index is built
        self._read_at: dict[str, datetime] = {}  # entity -> when the store was last read for it

    def lookup(self, session: Session, entity: str, key: list[str], value: tuple[Any, ...]) -> set[str]:
        return set(self._built(session, entity, key).get(value, set()))

    def add(self, record: CanonicalRecord) -> None:
        """A record created or changed this run: later lookups must find it (two CRM duplicates in one page)."""
        self._added.setdefault(record.entity, {})[record.id] = record
        self._reindex(record)

    def catch_up(self, session: Session, entity: str) -> int:
        """Take in the records of ``entity`` other runs saved since this index read the store.

        Slices run in parallel: while this run pulls Salesforce, a HubSpot run
        may create a PRM partner from a company born in HubSpot, and the same
        company born in Salesforce must then find it by its natural key instead
        of becoming a second partner. The pull calls this at the start of each
        page, after the page's turn on the entity (``locks.serialize``), so what
        the other run committed is visible; it reads only the records changed
        since the last catch-up (less ``CATCH_UP_MARGIN``). Returns how many.
        """
        if entity not in self._read_at:
            return 0  # no index built yet: it will read the store as it is then
        now = utcnow()
        mine = self._added.get(entity, {})
        fresh = [r for r in records.list_records(session, entity, updated_since=self._read_at[entity] - CATCH_UP_MARGIN)
                 if r.id not in mine]
        self._read_at[entity] = now
        for record in fresh:
            self._reindex(record)
        return len(fresh)

    def _reindex(self, record: CanonicalRecord) -> None:
        for (entity, key), index in self._index.items():
            if entity == record.entity:
                for ids in index.values():
                    ids.discard(record.id)
                found = natural_key(list(key), record.model_dump())
                if found is not None:
                    index.setdefault(found, set()).add(record.id)

    def drop(self, entity: str, record_id: str) -> None:
        self._added.get(entity, {}).pop(record_id, None)
        for (ent, _), index in self._index.items():
            if ent == entity:
                for ids in index.values():
                    ids.discard(record_id)

    def _built(self, session: Session, entity: str, key: list[str]) -> dict[tuple[Any, ...], set[str]]:
        slot = (entity, tuple(key))
        if slot not in self._index:
            self._read_at.setdefault(entity, utcnow())  # before the read: a catch-up then misses nothing
            index: dict[tuple[Any, ...], set[str]] = {}
            known = {r.id: r for r in records.list_records(session, entity)}
            known.update(self._added.get(entity, {}))
            for record in known.values():
                found = natural_key(key, record.model_dump())
                if found is not None:
                    index.setdefault(found, set()).add(record.id)
            self._index[slot] = index
        return self._index[slot]


def linked_remote(session: Session, entity: str, system: str, record_id: str) -> str | None:
    """The remote record this PRM record is live-linked to in ``system`` (None: none, or deleted there)."""
    found = state.get_state(session, entity, record_id, system)
    if found is None or found.remote_deleted or not found.remote_id:
        return None
    return found.remote_id


def resolve(
    session: Session, *, entity: str, system: str, remote_id: str, key: Any, values: dict[str, Any],
    spec: Any, index: KeyIndex, claimed: set[str] | None = None,
) -> Identity:
    """Identity of a remote record that has no link yet (see the module docstring).

    ``claimed``: PRM ids already taken by other remote records of the same
    plan (``prm-sync adopt`` plans before anything is linked).
    """
    if key:
        key = str(key)
        if records.get_record(session, entity, key) is not None:
            return Identity("prm_id", key)
        survivor = identity_store.survivor_of(session, entity, key)
        if survivor is not None and records.get_record(session, entity, survivor) is not None:
            return Identity("alias", survivor, detail=f"{key} was merged into {survivor}")
        return Identity("unknown_prm_id", candidates=[key], detail=f"carries PRM id {key}, which the PRM does not hold")
    if spec.on_unmatched == "ignore":
        return Identity("ignored")
    for fields in identify_by(spec):
        value = natural_key(fields, values)
        if value is None:
            continue
        found = sorted(index.lookup(session, entity, fields, value))
        label = " + ".join(fields)
        shown = " + ".join(repr(v) for v in value)
        if len(found) > 1:
            return Identity("ambiguous", candidates=found,
                            detail=f"{label} {shown} matches {len(found)} PRM records: {', '.join(found)}")
        if len(found) == 1:
            [candidate] = found
            elsewhere = linked_remote(session, entity, system, candidate)
            if (elsewhere and elsewhere != remote_id) or (claimed is not None and candidate in claimed):
                where = f"{system} record {elsewhere}" if elsewhere else f"another {system} record in this plan"
                return Identity("linked_elsewhere", candidates=found,
                                detail=f"{label} {shown} matches {candidate}, already linked to {where}")
            if spec.on_unmatched != "adopt":
                return Identity("unmatched", candidates=found, detail=f"{label} {shown} matches {candidate}")
            return Identity("natural_key", candidate, detail=f"matched by {label}")
    if spec.on_unmatched == "adopt":
        return Identity("new", new_id(ENTITIES[entity].id_prefix), detail="created from the remote record")
    return Identity("unmatched", detail="carries no PRM id")


def summary_of(values: dict[str, Any]) -> str:
    """A short human label for a remote record in reports: its name, else its email, else nothing."""
    for name in ("name", "customer_name", "email", "last_name"):
        if values.get(name):
            return str(values[name])
    return ""
