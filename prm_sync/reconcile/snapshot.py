"""Both sides of every mapped object as Parquet, in comparable canonical values.

The remote side is a full read (``Connector.read_all``: Salesforce switches
to a Bulk API 2.0 query job above its bulk threshold, HubSpot lists or
searches by id, the LMS and the ERP page through everything). Each remote row
is mapped field by field with the mapping's own ``from_remote`` transforms
and normalised with ``prm_sync.sync.values.normalize``, the same way the
engine compares values, so a difference here is a difference the engine
would see.

The PRM side is what the system *should* hold: for fields we write, the
value our write reads back as (``from_remote(to_remote(record))``, exactly
what the engine records after a push, so one-way transforms such as
``lower`` do not show up as drift); for fields we only read, the PRM value.
Write-only Salesforce references (``Registered_Partner__c``) come back as a
Salesforce id and are translated to our id through the link table.

Tables (one Parquet file each): ``slices``, ``links``, ``remote_records``,
``remote_values``, ``prm_records``, ``prm_values``, ``remote_merges`` (ids a merge
removed, and their survivor); ``compare.py`` joins them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from connectors.base import Connector
from prm_sync.errors import PrmSyncError
from prm_sync.mapping.apply import CompiledField, ObjectMapping
from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.values import is_blank
from prm_sync.model import ENTITIES, CanonicalRecord
from prm_sync.reconcile.parquet import ParquetSink
from prm_sync.store import records, state
from prm_sync.sync.values import normalize

TEXT = "VARCHAR"
SCHEMAS: dict[str, dict[str, str]] = {
    "slices": {"system": TEXT, "entity": TEXT, "remote_object": TEXT, "keyed": "BOOLEAN", "filtered": "BOOLEAN"},
    "links": {"system": TEXT, "entity": TEXT, "record_id": TEXT, "remote_id": TEXT, "remote_deleted": "BOOLEAN"},
    "remote_records": {"system": TEXT, "entity": TEXT, "remote_id": TEXT, "prm_key": TEXT, "modstamp": "TIMESTAMPTZ"},
    "remote_values": {"system": TEXT, "entity": TEXT, "remote_id": TEXT, "field": TEXT, "value": TEXT},
    "prm_records": {"entity": TEXT, "record_id": TEXT},
    "prm_values": {"system": TEXT, "entity": TEXT, "record_id": TEXT, "field": TEXT, "value": TEXT},
    # remote ids a merge removed, and the record each was merged into
    "remote_merges": {"system": TEXT, "entity": TEXT, "remote_id": TEXT, "survivor_id": TEXT},
}
Progress = Callable[[str], None]


def encode(value: Any) -> str | None:
    """A normalised value as comparable text (None stays NULL so 'blank on both sides' is equal)."""
    value = normalize(value)
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class LinkTable:
    """Every link state of the systems being reconciled; doubles as the mapping's id context."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], dict[str, state.SyncState]] = {}  # (system, entity) -> record id -> state
        self._by_prm: dict[tuple[str, str], dict[str, str]] = {}
        self._by_remote: dict[tuple[str, str], dict[str, str]] = {}
        self._any: dict[str, dict[str, str]] = {}  # system -> remote id -> PRM id, across entities

    def load(self, session: Session, system: str, entity: str) -> None:
        if (system, entity) in self.states:
            return
        found = state.all_states(session, entity, system)
        self.states[(system, entity)] = found
        by_prm = self._by_prm.setdefault((entity, system), {})
        by_remote = self._by_remote.setdefault((entity, system), {})
        for record_id, s in found.items():
            if s.remote_id:
                by_prm[record_id] = s.remote_id
                by_remote[s.remote_id] = record_id
                self._any.setdefault(system, {})[s.remote_id] = record_id

    def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
        return self._by_prm.get((entity, system), {}).get(prm_id)

    def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
        return self._by_remote.get((entity, system), {}).get(str(remote_id))

    def prm_id_any(self, system: str, remote_id: str) -> str | None:
        return self._any.get(system, {}).get(str(remote_id))


@lru_cache(maxsize=512)
def _adapter(entity: str, name: str) -> TypeAdapter[Any] | None:
    model = ENTITIES.get(entity)
    info = model.model_fields.get(name) if model else None
    return TypeAdapter(info.annotation) if info is not None else None


def typed(entity: str, name: str, value: Any) -> Any:
    """The value as the canonical field's type ("100.0" -> 100.0, "true" -> True) when it converts.

    HubSpot returns every property as a string and Salesforce numbers as
    floats; comparing typed values keeps "100" and "100.0" equal.
    """
    adapter = _adapter(entity, name)
    if adapter is None or value is None:
        return value
    try:
        return adapter.validate_python(value)
    except (ValidationError, ValueError, TypeError):
        return value


@dataclass
class FieldView:
    """One mapped field, read the way reconcile compares it."""

    spec: CompiledField
    system: str
    entity: str

    @property
    def name(self) -> str:
        return str(self.spec.prm)

    @property
    def inputs(self) -> list[str]:
        return list(self.spec.from_inputs) if self.spec.from_inputs is not None else [self.spec.remote]

    @property
    def write_only_reference(self) -> bool:
        """Written under another key (``X__r``) with no way back: the remote holds the other record's id."""
        return self.spec.out_key != self.spec.remote and self.spec.from_fn is None

    def remote(self, fields: dict[str, Any], tctx: TransformContext, links: LinkTable) -> str | None:
        f = self.spec
        if f.from_fn is not None:
            raw: Any = {n: fields.get(n) for n in f.from_inputs} if f.from_inputs is not None else fields.get(f.remote)
            try:
                value = f.from_fn(raw, tctx)
            except (PrmSyncError, ValueError, TypeError):
                value = raw  # unmappable: compare the raw value, which then shows up as drift
        else:
            value = fields.get(f.remote)
            if self.write_only_reference and not is_blank(value):
                value = links.prm_id_any(self.system, str(value)) or value
        if is_blank(value) and not isinstance(value, list) and f.has_default:
            value = f.default
        return encode(typed(self.entity, self.name, value))

    def expected(
        self, record: CanonicalRecord, payload: dict[str, Any] | None, tctx: TransformContext
    ) -> str | None:
        return encode(typed(self.entity, self.name, self._expected(record, payload, tctx)))

    def _expected(self, record: CanonicalRecord, payload: dict[str, Any] | None, tctx: TransformContext) -> Any:
        f = self.spec
        prm = getattr(record, self.name, None)
        if payload is None or f.direction == "from_remote" or f.out_key != f.remote:
            return prm
        if f.from_fn is None:
            return payload.get(f.remote)
        if any(n not in payload for n in self.inputs):
            return prm
        raw: Any = {n: payload.get(n) for n in f.from_inputs} if f.from_inputs is not None else payload.get(f.remote)
        try:
            return f.from_fn(raw, tctx)
        except (PrmSyncError, ValueError, TypeError):
            return prm


def field_views(mapping: ObjectMapping) -> list[FieldView]:
    """Every mapped canonical field in either direction, once (the first spec wins)."""
    seen: set[str] = set()
    views: list[FieldView] = []
    for f in mapping.fields:
        if f.prm is None or f.direction == "none" or f.prm in seen or f.prm == "id":
            continue
        seen.add(f.prm)
        views.append(FieldView(f, mapping.system, mapping.entity))
    return views


def is_keyed(mapping: ObjectMapping) -> bool:
    """Records we own and create remotely, found there by our key (PRM_Id__c, prm_id, x_prm_id)."""
    return mapping.match_kind in ("external_id", "id_property")


@dataclass
class SnapshotStats:
    files: dict[str, Path] = field(default_factory=dict)
    remote_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    prm_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    linked: dict[tuple[str, str], int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)


class Snapshotter:
    """Writes the seven tables for a list of mappings into ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.sinks = {name: ParquetSink(out_dir / f"{name}.parquet", cols) for name, cols in SCHEMAS.items()}
        self.stats = SnapshotStats()
        self.links = LinkTable()
        self._records: dict[str, dict[str, CanonicalRecord]] = {}

    def load_prm(self, session: Session, mappings: list[ObjectMapping]) -> None:
        """Link states and PRM records for every mapping (one read of each entity)."""
        for m in mappings:
            self.links.load(session, m.system, m.entity)
            if m.entity not in self._records:
                found = {r.id: r for r in records.list_records(session, m.entity)}
                self._records[m.entity] = found
                for record_id in found:
                    self.sinks["prm_records"].add({"entity": m.entity, "record_id": record_id})

    def add_remote(self, mapping: ObjectMapping, connector: Connector, progress: Progress | None = None) -> None:
        views = field_views(mapping)
        names = list(dict.fromkeys([n for v in views for n in v.inputs] + [mapping.key_field]))
        tctx = TransformContext(mapping.system, self.links)
        keyed = is_keyed(mapping)
        calls_before = connector.api_calls
        count = 0
        seen: set[str] = set()
        for remote in connector.read_all(mapping.remote_object, names, where=mapping.filter):
            count += 1
            seen.add(remote.id)
            for loser in remote.merged_ids:  # HubSpot: the survivor lists the records merged into it
                self._merge(mapping, loser, remote.id)
            key = remote.fields.get(mapping.key_field) if keyed else None
            self.sinks["remote_records"].add({
                "system": mapping.system, "entity": mapping.entity, "remote_id": remote.id,
                "prm_key": None if is_blank(key) else str(key), "modstamp": remote.modstamp.isoformat(),
            })
            for view in views:
                self.sinks["remote_values"].add({
                    "system": mapping.system, "entity": mapping.entity, "remote_id": remote.id, "field": view.name,
                    "value": view.remote(remote.fields, tctx, self.links),
                })
            if progress and count % 5000 == 0:
                progress(f"read {count} {mapping.system} {mapping.remote_object} records")
        self._merges_of_unseen(mapping, connector, seen)
        key = (mapping.system, mapping.entity)
        self.stats.remote_rows[key] = count
        self.stats.api_calls[mapping.system] = (
            self.stats.api_calls.get(mapping.system, 0) + connector.api_calls - calls_before
        )

    def _merge(self, mapping: ObjectMapping, loser: str, survivor: str) -> None:
        if loser != survivor:
            self.sinks["remote_merges"].add({"system": mapping.system, "entity": mapping.entity,
                                             "remote_id": str(loser), "survivor_id": str(survivor)})

    def _merges_of_unseen(self, mapping: ObjectMapping, connector: Connector, seen: set[str]) -> None:
        """Linked records the live read did not find: merged away? (Salesforce keeps the loser's MasterRecordId.)"""
        ask = getattr(connector, "merged_into", None)
        if ask is None:
            return
        states = self.links.states.get((mapping.system, mapping.entity), {})
        unseen = sorted({str(s.remote_id) for s in states.values()
                         if s.remote_id and not s.remote_deleted and str(s.remote_id) not in seen})
        for loser, survivor in ask(mapping.remote_object, unseen).items():
            self._merge(mapping, loser, survivor)

    def add_prm(self, mapping: ObjectMapping) -> None:
        """Links and expected values for the PRM records this slice covers."""
        keyed = is_keyed(mapping)
        states = self.links.states.get((mapping.system, mapping.entity), {})
        all_records = self._records.get(mapping.entity, {})
        for record_id, s in states.items():
            self.sinks["links"].add({
                "system": mapping.system, "entity": mapping.entity, "record_id": record_id,
                "remote_id": s.remote_id, "remote_deleted": bool(s.remote_deleted),
            })
        self.sinks["slices"].add({
            "system": mapping.system, "entity": mapping.entity, "remote_object": mapping.remote_object, "keyed": keyed,
            "filtered": bool(mapping.filter),
        })
        # records we own must all be there; system-owned ones only where linked
        covered = all_records.values() if keyed else [all_records[r] for r in states if r in all_records]
        views = field_views(mapping)
        writes = any(v.spec.direction != "from_remote" for v in views)
        tctx = TransformContext(mapping.system, self.links)
        count = 0
        for record in covered:
            count += 1
            payload = None
            if writes:
                try:
                    payload = mapping.to_remote(record, self.links)
                except (PrmSyncError, ValueError, TypeError):
                    payload = None
            for view in views:
                self.sinks["prm_values"].add({
                    "system": mapping.system, "entity": mapping.entity, "record_id": record.id, "field": view.name,
                    "value": view.expected(record, payload, tctx),
                })
        key = (mapping.system, mapping.entity)
        self.stats.prm_rows[key] = count
        self.stats.linked[key] = sum(1 for s in states.values() if s.remote_id and not s.remote_deleted)

    def close(self) -> SnapshotStats:
        for name, sink in self.sinks.items():
            sink.close()
            self.stats.files[name] = sink.path
        return self.stats
