"""The sandbox's records: validation, unique indexes, timestamps, merges.

Pure in-memory logic with no HTTP in it, so the route handlers and the
in-process test helpers share one implementation. Callers hold the app's
lock. Unique properties are indexed in dicts and ids are kept in creation
order so 60,000 records stay fast to upsert and page through.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.hubspot.schema import (
    OBJECT_TYPES,
    ObjectType,
    PropertyDef,
    default_properties,
    is_custom,
    iso_ms,
    normalize_value,
    resolve_object_type,
)
from connectors.sandbox.hubspot.wire import HubSpotApiError, validation_detail

_SYSTEM = ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_merged_object_ids")


@dataclass
class Record:
    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None
    merged_into: str | None = None


@dataclass
class Table:
    """One object type's records plus the indexes that keep lookups O(1)."""

    name: str
    records: dict[str, Record] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # ids ascending (creation order)
    unique: dict[str, dict[str, str]] = field(default_factory=dict)  # property -> value -> id
    version: int = 0


def _merged_ids(record: Record) -> list[str]:
    return [x for x in record.properties.get("hs_merged_object_ids", "").split(";") if x]


def _unique_key(prop: str, value: str) -> str:
    return value.lower() if prop == "email" else value


class RecordStore:
    """Every object type's table, the property definitions and the write clock."""

    def __init__(self, clock: Callable[[], datetime] | None = None, *, bare: bool = False) -> None:
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.bare = bare
        self.properties: dict[str, dict[str, PropertyDef]] = default_properties(bare=bare)
        # properties moved to the recycling bin (``DELETE /crm/v3/properties/{type}/{name}``), listed with archived=true
        self.archived_properties: dict[str, dict[str, PropertyDef]] = {ot.name: {} for ot in OBJECT_TYPES}
        # custom object name -> its ObjectSchema body (``POST /crm/v3/schemas``); a bare portal has none
        self.schemas: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, Table] = {ot.name: Table(ot.name) for ot in OBJECT_TYPES}
        self.next_id = 1001
        self.last_stamp = 0
        self.reject: Callable[[str, str], bool] = lambda name, value: False
        for name, props in self.properties.items():
            self.tables[name].unique = {p: {} for p, d in props.items() if d.has_unique_value}

    # -- lookups -------------------------------------------------------------
    def defined(self, object_type: str) -> ObjectType:
        """The object type, if this portal has it: a custom object only after its schema was created."""
        ot = resolve_object_type(object_type)
        if self.bare and is_custom(ot) and ot.name not in self.schemas:
            msg = f"Unable to infer object type from: {object_type}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"objectType": [object_type]})
        return ot

    def table(self, object_type: str) -> Table:
        return self.tables[self.defined(object_type).name]

    def prop_defs(self, object_type: str) -> dict[str, PropertyDef]:
        return self.properties[self.defined(object_type).name]

    def prop_def(self, object_type: str, name: str, *, archived: bool = False) -> PropertyDef:
        """One property (with ``archived``, one in the recycling bin), or HubSpot's 404 for it."""
        defs = self.archived_properties if archived else self.properties
        prop = defs[self.defined(object_type).name].get(name)
        if prop is None:
            msg = f"Unable to find property {name} for object type {object_type}"
            raise HubSpotApiError(404, "OBJECT_NOT_FOUND", msg, context={"propertyName": [name]})
        return prop

    def stamp(self) -> int:
        """Now in ms, never earlier than the previous stamp (the clock may be set back)."""
        now = int(self.clock().timestamp() * 1000)
        self.last_stamp = max(now, self.last_stamp)
        return self.last_stamp

    def definition_stamp(self) -> int:
        """Now in ms for a property or schema: definitions do not move the records' monotonic clock."""
        return int(self.clock().timestamp() * 1000)

    def find(self, object_type: str, key: str, id_property: str | None = None) -> Record | None:
        """A live record by id (following merges, as HubSpot does) or by a unique property."""
        table = self.table(object_type)
        if id_property and id_property != "hs_object_id":
            self.require_unique(object_type, id_property)
            rid = table.unique[id_property].get(_unique_key(id_property, key))
            return table.records.get(rid) if rid else None
        record = table.records.get(key)
        seen = 0
        while record is not None and record.merged_into is not None and seen < 100:
            record = table.records.get(record.merged_into)
            seen += 1
        if record is None or record.archived:
            return None
        return record

    def require_unique(self, object_type: str, id_property: str) -> None:
        defs = self.prop_defs(object_type)
        if id_property not in defs:
            msg = f'Property "{id_property}" does not exist'
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"propertyName": [id_property]})
        if not defs[id_property].has_unique_value:
            msg = (
                f"{id_property} is not a unique property; idProperty must name a property with hasUniqueValue"
            )
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"idProperty": [id_property]})

    def ids_after(self, object_type: str, after: int) -> list[int]:
        order = self.table(object_type).order
        return order[bisect.bisect_right(order, after) :]

    # -- writes --------------------------------------------------------------
    def validate(self, object_type: str, raw: dict[str, Any], record_id: str | None) -> dict[str, str]:
        """Check every property at once and raise one VALIDATION_ERROR listing all problems."""
        defs = self.prop_defs(object_type)
        table = self.table(object_type)
        clean: dict[str, str] = {}
        problems: list[dict[str, Any]] = []
        for name, value in (raw or {}).items():
            prop = defs.get(name)
            if prop is None:
                text = f'Property "{name}" does not exist'
                problems.append(validation_detail(name, str(value), "PROPERTY_DOESNT_EXIST", text))
                continue
            stored, problem = normalize_value(prop, value)
            if problem is None and stored and self.reject(name, stored):
                problem = validation_detail(
                    name, stored, "INVALID_VALUE", f"{stored} is not a valid value for {name}"
                )
            if problem is not None:
                problems.append(problem)
                continue
            clean[name] = stored or ""
        if problems:
            raise HubSpotApiError.invalid_properties(problems)
        for name, value in clean.items():
            if name in table.unique and value:
                owner = table.unique[name].get(_unique_key(name, value))
                if owner is not None and owner != record_id:
                    msg = f'A {table.name} record with {name} "{value}" already exists. Existing ID: {owner}'
                    raise HubSpotApiError(
                        409, "CONFLICT", msg, context={"id": [owner], "propertyName": [name]}
                    )
        return clean

    def create(self, object_type: str, raw: dict[str, Any]) -> Record:
        clean = self.validate(object_type, raw, None)
        table = self.table(object_type)
        rid = str(self.next_id)
        self.next_id += 1
        ms = self.stamp()
        record = Record(rid, {"hs_object_id": rid, "createdate": iso_ms(ms)}, ms, ms)
        table.records[rid] = record
        table.order.append(int(rid))
        self._apply(table, record, clean, ms)
        return record

    def update(self, object_type: str, record: Record, raw: dict[str, Any]) -> Record:
        clean = self.validate(object_type, raw, record.id)
        self._apply(self.table(object_type), record, clean, self.stamp())
        return record

    def upsert(
        self, object_type: str, id_property: str, key: str, raw: dict[str, Any]
    ) -> tuple[Record, bool]:
        record = self.find(object_type, key, id_property)
        if record is not None:
            return self.update(object_type, record, raw), False
        return self.create(object_type, {**raw, id_property: key}), True

    def archive(self, object_type: str, record: Record, merged_into: str | None = None) -> None:
        table = self.table(object_type)
        ms = self.stamp()
        for prop, index in table.unique.items():
            value = record.properties.get(prop)
            if value and index.get(_unique_key(prop, value)) == record.id:
                del index[_unique_key(prop, value)]
        record.archived = True
        record.archived_ms = ms
        record.updated_ms = ms
        record.merged_into = merged_into
        table.version += 1

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> Record:
        """Merge two records into a new one, as HubSpot has done for every object type since 2024.

        HubSpot's developer changelog ("Updated merge functionality for
        contacts and companies"): the result is a *new* record with a new id;
        both originals are archived and their ids keep answering with the
        merged record; its values are the primary's, with the secondary's
        filling what the primary leaves blank (a unique property keeps the
        primary's value, the secondary's is dropped); ``createdate`` is the
        older of the two; ``hs_merged_object_ids`` lists both originals and
        everything they had absorbed before.
        """
        primary = self.find(object_type, primary_id)
        loser = self.find(object_type, merged_id)
        if primary is None or loser is None or primary.id == loser.id:
            missing = merged_id if loser is None else primary_id
            msg = f"Cannot merge {object_type} {merged_id} into {primary_id}: object {missing} not found or same object"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"ids": [primary_id, merged_id]})
        defs = self.prop_defs(object_type)
        values = {
            k: v for k, v in loser.properties.items() if k not in _SYSTEM and v and not defs[k].read_only
        }
        values.update(
            {k: v for k, v in primary.properties.items() if k not in _SYSTEM and v and not defs[k].read_only}
        )
        merged = [*_merged_ids(primary), primary.id, *_merged_ids(loser), loser.id]
        table = self.table(object_type)
        rid = str(self.next_id)
        self.next_id += 1
        for record in (primary, loser):
            self.archive(object_type, record, merged_into=rid)
        ms = self.stamp()
        created = min(primary.created_ms, loser.created_ms)
        survivor = Record(rid, {"hs_object_id": rid, "createdate": iso_ms(created)}, created, ms)
        table.records[rid] = survivor
        table.order.append(int(rid))
        self._apply(table, survivor, values, ms)
        survivor.properties["hs_merged_object_ids"] = ";".join(dict.fromkeys(merged))
        return survivor

    def _apply(self, table: Table, record: Record, clean: dict[str, str], ms: int) -> None:
        for name, value in clean.items():
            if name in table.unique:
                old = record.properties.get(name)
                if old:
                    table.unique[name].pop(_unique_key(name, old), None)
                if value:
                    table.unique[name][_unique_key(name, value)] = record.id
            if value:
                record.properties[name] = value
            else:
                record.properties.pop(name, None)
        if table.name == "deals":
            stage = record.properties.get("dealstage", "")
            record.properties["hs_is_closed_won"] = "true" if stage == "closedwon" else "false"
            record.properties["hs_is_closed"] = "true" if stage in ("closedwon", "closedlost") else "false"
        record.updated_ms = ms
        record.properties["hs_lastmodifieddate"] = iso_ms(ms)
        table.version += 1

    # -- properties API --------------------------------------------------------
    def add_property(self, object_type: str, prop: PropertyDef) -> None:
        name = self.defined(object_type).name
        if prop.name in self.properties[name]:
            msg = f"Property named '{prop.name}' already exists."
            raise HubSpotApiError(409, "OBJECT_ALREADY_EXISTS", msg, context={"name": [prop.name]})
        self.properties[name][prop.name] = prop
        if prop.has_unique_value:
            self.tables[name].unique[prop.name] = {}

    def archive_property(self, object_type: str, prop_name: str) -> None:
        """Move a custom property to the recycling bin: it no longer reads, writes, searches or counts as unique.

        HubSpot keeps the values of a binned property for a restore; the sandbox has no restore, so the
        values go with it (a client cannot see the difference: a binned property never comes back in reads).
        """
        name = self.defined(object_type).name
        prop = self.prop_def(object_type, prop_name)
        if prop.hubspot_defined:
            msg = f"Unable to archive property {prop_name}: it is HubSpot-defined (modificationMetadata.archivable is false)"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"propertyName": [prop_name]})
        del self.properties[name][prop_name]
        prop.archived_ms = self.definition_stamp()
        self.archived_properties[name][prop_name] = prop
        table = self.tables[name]
        table.unique.pop(prop_name, None)
        for record in table.records.values():
            record.properties.pop(prop_name, None)

    # -- persistence -------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id,
            "last_stamp": self.last_stamp,
            "tables": {name: [asdict(r) for r in t.records.values()] for name, t in self.tables.items()},
            "custom_properties": {
                name: [p.to_wire() for p in props.values() if not p.hubspot_defined]
                for name, props in self.properties.items()
            },
            "schemas": self.schemas,
            "bare": self.bare,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.bare = bool(state.get("bare", False))
        self.schemas = dict(state.get("schemas") or {})
        self.properties = default_properties(bare=self.bare)
        self.archived_properties = {ot.name: {} for ot in OBJECT_TYPES}
        for name, props in state.get("custom_properties", {}).items():
            for wire in props:
                prop = PropertyDef.from_wire(wire, 0)
                prop.read_only = bool(wire.get("modificationMetadata", {}).get("readOnlyValue", False))
                self.properties[name][prop.name] = prop
        self.tables = {ot.name: Table(ot.name) for ot in OBJECT_TYPES}
        for name, props in self.properties.items():
            self.tables[name].unique = {p: {} for p, d in props.items() if d.has_unique_value}
        for name, rows in state.get("tables", {}).items():
            table = self.tables[name]
            for row in sorted(rows, key=lambda r: int(r["id"])):
                record = Record(**row)
                table.records[record.id] = record
                table.order.append(int(record.id))
                if not record.archived:
                    for prop, index in table.unique.items():
                        value = record.properties.get(prop)
                        if value:
                            index[_unique_key(prop, value)] = record.id
        self.next_id = int(state.get("next_id", 1001))
        self.last_stamp = int(state.get("last_stamp", 0))
