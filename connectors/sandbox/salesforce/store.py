"""The sandbox org's records: ids, system fields, external-id indexes, undo.

Every write goes through here so that REST, collections, Bulk API and the
in-process test helpers agree on validation and on system fields. Callers
hold ``lock`` (the app's RLock) around a whole request so a collections call
is atomic; ``transaction()`` records an undo log for allOrNone rollbacks.

``SystemModstamp`` comes from ``clock``: by default the wall clock, made
monotonic (never earlier than the last stamp, equal is allowed, as in a real
org). A test that sets ``clock`` gets exactly the stamps it asks for, which
is how it simulates ties and late commits.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.salesforce.ids import make_id, normalise_id
from connectors.sandbox.salesforce.query import Parents
from connectors.sandbox.salesforce.schema import (
    CUSTOM_PREFIXES,
    OBJECT_PERMISSIONS,
    SECURITY_OBJECTS,
    FieldDef,
    ObjectDef,
    default_objects,
    object_from_metadata,
)
from connectors.sandbox.salesforce.validation import (
    RequestError,
    Source,
    Validator,
    format_datetime,
    record_error,
)

Record = dict[str, Any]


@dataclass
class WriteOutcome:
    """One record's result, in the shape of the API's SaveResult/UpsertResult."""

    id: str | None
    success: bool
    errors: list[dict[str, Any]] = field(default_factory=list)
    created: bool | None = None

    def as_json(self, with_created: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "success": self.success, "errors": self.errors}
        if with_created:
            body["created"] = self.created
        return body


class RecordNotFound(RequestError):
    def __init__(self, object_name: str, record_id: str) -> None:
        super().__init__("NOT_FOUND", "The requested resource does not exist", status=404)
        self.object_name = object_name
        self.record_id = record_id


class MultipleMatches(RequestError):
    """An upsert key matched several records: REST answers 300, batches fail the record."""

    def __init__(self, field_name: str, value: Any, ids: list[str]) -> None:
        msg = f"{field_name}: more than one record found for external id field value {value}"
        super().__init__("DUPLICATE_EXTERNAL_ID", msg, [field_name], status=300)
        self.ids = ids


class OrgStore:
    """Records per object plus indexes; not thread-safe by itself (the app locks)."""

    def __init__(self, lock: threading.RLock | None = None, *, bare: bool = False) -> None:
        self.lock = lock or threading.RLock()
        self.bare = bare
        self.api_user_id = ""  # whose field-level security applies (the app sets its integration user)
        self.objects: dict[str, ObjectDef] = default_objects(bare=bare)
        self.custom_objects: list[dict[str, Any]] = []  # Tooling CustomObject bodies, in creation order
        self.records: dict[str, dict[str, Record]] = {name: {} for name in self.objects}
        self.deleted_at: dict[str, str] = {}  # id -> deletion stamp
        self.custom_fields: list[tuple[str, FieldDef]] = []
        self.metadata_ids: dict[str, str] = {}  # "Account.Tier__c" / "Thing__c" -> its Tooling record id
        self.clock: Callable[[], datetime] | None = None
        self.custom_rule: Callable[[str, Any], bool] = lambda name, value: False
        self._counter = 0
        self._metadata_counter = 0
        self._last_stamp = ""
        self._index: dict[tuple[str, str], dict[str, list[str]]] = {}
        self._undo: list[tuple[str, str, Record | None, str | None]] | None = None
        self._rebuild_indexes()

    # -- schema ------------------------------------------------------------------
    def object(self, name: str) -> ObjectDef:
        for obj_name, obj in self.objects.items():
            if obj_name.lower() == name.lower():
                return obj
        msg = f"sObject type '{name}' is not supported."
        raise RequestError("INVALID_TYPE", msg, status=404)

    def api_object(self, name: str) -> ObjectDef:
        """The object as the API user sees it: one they may not read does not exist for them."""
        obj = self.object(name)
        if obj.hidden:
            msg = f"sObject type '{name}' is not supported."
            raise RequestError("INVALID_TYPE", msg, status=404)
        return obj

    def metadata_id(self, full_name: str, prefix: str) -> str:
        """The Tooling record id of a custom object (``01I``) or field (``00N``), the same every time asked."""
        if full_name not in self.metadata_ids:
            self.metadata_ids[full_name] = self.next_metadata_id(prefix)
        return self.metadata_ids[full_name]

    def add_object(self, full_name: str, metadata: dict[str, Any]) -> ObjectDef:
        """A Tooling ``CustomObject`` create: the object with its Id, stamps and Name field."""
        if any(name.lower() == full_name.lower() for name in self.objects):
            msg = f"There is already an object named {full_name}."
            raise RequestError("DUPLICATE_DEVELOPER_NAME", msg)
        used = {o.key_prefix for o in self.objects.values()}
        prefix = next((p for p in CUSTOM_PREFIXES if p not in used), None)
        if prefix is None:
            raise RequestError("LIMIT_EXCEEDED", "maximum number of custom objects reached")
        try:
            obj = object_from_metadata(full_name, metadata, prefix)
        except ValueError as exc:
            raise RequestError("FIELD_INTEGRITY_EXCEPTION", str(exc)) from None
        self.objects[obj.name] = obj
        self.records[obj.name] = {}
        self.custom_objects.append({"FullName": full_name, "Metadata": dict(metadata)})
        return obj

    def add_field(self, object_name: str, fdef: FieldDef) -> None:
        obj = self.object(object_name)
        for target in fdef.reference_to:
            self.object(target)  # INVALID_TYPE when the lookup's target does not exist
        if obj.has_field(fdef.name):  # hidden from the API user or not, the name is taken
            msg = f"There is already a field named {fdef.name} on {obj.name}."
            raise RequestError("DUPLICATE_DEVELOPER_NAME", msg)
        obj.add(fdef)
        self.custom_fields.append((obj.name, fdef))
        if fdef.external_id or fdef.unique:
            self._index[(obj.name, fdef.name)] = {}
        self.apply_field_security()

    def apply_field_security(self) -> None:
        """Object and field-level security for the API user, from the org's permission records.

        A field created through the Tooling API is ``secured``: the API user
        reads it only when a ``FieldPermissions`` row with ``PermissionsRead``
        belongs to a permission set assigned to them (``PermissionSetAssignment``),
        and writes it only with ``PermissionsEdit`` too. An unreadable field is
        absent from describe, SOQL and writes, as in a real org. A custom object
        created through the Tooling API is secured the same way by
        ``ObjectPermissions`` rows: without read it is absent from the global
        describe and every API call; create, edit and delete each need their flag
        (modify all implies edit and delete, view all implies read).
        """
        def live(name: str) -> list[Record]:
            return [r for r in self.records.get(name, {}).values() if not r.get("IsDeleted")]

        assigned = {r.get("PermissionSetId") for r in live("PermissionSetAssignment") if r.get("AssigneeId") == self.api_user_id}
        grants: dict[str, tuple[bool, bool]] = {}
        for row in live("FieldPermissions"):
            if row.get("ParentId") in assigned:
                key = str(row.get("Field") or "").lower()
                read, edit = grants.get(key, (False, False))
                grants[key] = (read or bool(row.get("PermissionsRead")), edit or bool(row.get("PermissionsEdit")))
        for obj in self.objects.values():
            for fdef in obj.fields.values():
                if fdef.secured:
                    read, edit = grants.get(f"{obj.name}.{fdef.name}".lower(), (False, False))
                    fdef.hidden = not read
                    fdef.createable = fdef.updateable = read and edit
        allowed: dict[str, set[str]] = {}
        for row in live("ObjectPermissions"):
            if row.get("ParentId") in assigned:
                flags = allowed.setdefault(str(row.get("SobjectType") or "").lower(), set())
                flags.update(name for name in OBJECT_PERMISSIONS if row.get(name))
        for obj in self.objects.values():
            if obj.secured:
                flags = allowed.get(obj.name.lower(), set())
                modify_all = "PermissionsModifyAllRecords" in flags
                obj.hidden = not flags & {"PermissionsRead", "PermissionsViewAllRecords", "PermissionsModifyAllRecords"}
                obj.can_create = not obj.hidden and "PermissionsCreate" in flags
                obj.can_edit = not obj.hidden and ("PermissionsEdit" in flags or modify_all)
                obj.can_delete = not obj.hidden and ("PermissionsDelete" in flags or modify_all)

    def _object_access_errors(self, obj: ObjectDef, operation: str) -> list[dict[str, Any]]:
        """A secured object the API user may not create, edit or delete records of (object permissions)."""
        allowed = {"create": obj.can_create, "edit": obj.can_edit, "delete": obj.can_delete}[operation]
        if obj.secured and not allowed:
            msg = f"insufficient access rights on object: {operation} {obj.name}"
            return [record_error("INSUFFICIENT_ACCESS_OR_READONLY", msg, [])]
        return []

    def _permission_row_errors(self, obj: ObjectDef, row: Record) -> list[dict[str, Any]]:
        """ObjectPermissions rows: a known object, at least one flag, and each flag's dependencies on the row."""
        if obj.name != "ObjectPermissions":
            return []
        target = str(row.get("SobjectType") or "")
        if not any(o.lower() == target.lower() for o in self.objects):
            msg = f"SObject Type Name: bad value for restricted picklist field: {target}"
            return [record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", msg, ["SobjectType"])]
        enabled = {name for name in OBJECT_PERMISSIONS if row.get(name)}
        if not enabled:
            msg = "An object permission needs at least one permission enabled; delete it to remove all access"
            return [record_error("FIELD_INTEGRITY_EXCEPTION", msg, [])]
        missing = [
            f"Permission {name.removeprefix('Permissions')} depends on permission(s): "
            + ", ".join(n.removeprefix("Permissions") for n in needs if n not in enabled)
            for name, needs in OBJECT_PERMISSIONS.items()
            if name in enabled and any(n not in enabled for n in needs)
        ]
        return [record_error("FIELD_INTEGRITY_EXCEPTION", "; ".join(missing), [])] if missing else []

    # -- lookups (validation.Lookups) ---------------------------------------------
    def parents(self) -> Parents:
        """Lookups a WHERE clause uses to follow a parent relationship."""
        return Parents(objects=self.object, records=lambda name, rid: self.records.get(name, {}).get(normalise_id(rid)))

    def object_of_id(self, record_id: str) -> str | None:
        prefix = record_id[:3]
        for obj in self.objects.values():
            if obj.key_prefix == prefix:
                return obj.name
        return None

    def reference_state(self, object_name: str, record_id: str) -> str | None:
        record = self.records.get(object_name, {}).get(record_id)
        if record is None:
            return None
        return "deleted" if record.get("IsDeleted") else "live"

    def find_external(self, object_name: str, field_name: str, value: Any) -> list[str]:
        if field_name == "Id":
            full = normalise_id(value)
            return [full] if full and self.reference_state(object_name, full) == "live" else []
        index = self._index.get((object_name, field_name))
        if index is None:
            return [
                rid
                for rid, r in self.records[object_name].items()
                if not r.get("IsDeleted") and str(r.get(field_name)).lower() == str(value).lower()
            ]
        return list(index.get(str(value).lower(), []))

    # -- time ----------------------------------------------------------------------
    def stamp(self) -> str:
        if self.clock is not None:
            return format_datetime(self.clock())
        now = format_datetime(datetime.now(UTC))
        if now < self._last_stamp:
            now = self._last_stamp
        self._last_stamp = now
        return now

    # -- indexes and undo -------------------------------------------------------------
    def _indexed_fields(self, object_name: str) -> list[str]:
        return [f for (o, f) in self._index if o == object_name]

    def _unindex(self, object_name: str, record: Record) -> None:
        for name in self._indexed_fields(object_name):
            value = record.get(name)
            if value is not None:
                ids = self._index[(object_name, name)].get(str(value).lower())
                if ids and record["Id"] in ids:
                    ids.remove(record["Id"])

    def _reindex(self, object_name: str, record: Record) -> None:
        if record.get("IsDeleted"):
            return
        for name in self._indexed_fields(object_name):
            value = record.get(name)
            if value is not None:
                self._index[(object_name, name)].setdefault(str(value).lower(), []).append(record["Id"])

    def _rebuild_indexes(self) -> None:
        self._index = {
            (obj.name, f.name): {}
            for obj in self.objects.values()
            for f in obj.fields.values()
            if f.external_id or f.unique
        }
        for object_name, records in self.records.items():
            for record in records.values():
                self._reindex(object_name, record)

    def _save(self, object_name: str, record: Record) -> None:
        """Store ``record`` (replacing any previous version) and keep indexes and undo in step."""
        previous = self.records[object_name].get(record["Id"])
        if self._undo is not None:
            self._undo.append((object_name, record["Id"], previous, self.deleted_at.get(record["Id"])))
        if previous is not None:
            self._unindex(object_name, previous)
        self.records[object_name][record["Id"]] = record
        self._reindex(object_name, record)
        if object_name in SECURITY_OBJECTS:
            self.apply_field_security()

    @contextmanager
    def transaction(self) -> Iterator[Callable[[], None]]:
        """Yield a ``rollback()`` callable that undoes every save made inside the block."""
        outer = self._undo
        self._undo = []
        log = self._undo

        def rollback() -> None:
            for object_name, record_id, previous, deleted in reversed(log):
                current = self.records[object_name].get(record_id)
                if current is not None:
                    self._unindex(object_name, current)
                if previous is None:
                    self.records[object_name].pop(record_id, None)
                else:
                    self.records[object_name][record_id] = previous
                    self._reindex(object_name, previous)
                if deleted is None:
                    self.deleted_at.pop(record_id, None)
                else:
                    self.deleted_at[record_id] = deleted
            log.clear()

        try:
            yield rollback
        finally:
            if outer is not None:
                outer.extend(log)
            self._undo = outer

    # -- writes ----------------------------------------------------------------------
    def validator(self, obj: ObjectDef) -> Validator:
        return Validator(obj, self, self.custom_rule)

    def _unique_errors(self, obj: ObjectDef, values: Record, own_id: str | None) -> list[dict[str, Any]]:
        errors = []
        for name, value in values.items():
            fdef = obj.fields[name]
            if value is None or not fdef.unique:
                continue
            others = [i for i in self._index[(obj.name, name)].get(str(value).lower(), []) if i != own_id]
            if others:
                msg = f"duplicate value found: {name} duplicates value on record with id: {others[0]}"
                errors.append(record_error("DUPLICATE_VALUE", msg, [name]))
        return errors

    def _derive(self, obj: ObjectDef, record: Record) -> None:
        if obj.name == "Opportunity":
            stage = record.get("StageName")
            record["IsClosed"] = stage in {"Closed Won", "Closed Lost"}
            record["IsWon"] = stage == "Closed Won"

    def create(self, object_name: str, payload: Record, *, source: Source = "json") -> WriteOutcome:
        obj = self.object(object_name)
        if payload.get("Id") not in (None, ""):
            msg = "Id: cannot specify Id in an insert call"
            return WriteOutcome(None, False, [record_error("INVALID_FIELD_FOR_INSERT_UPDATE", msg, ["Id"])])
        values, errors = self.validator(obj).clean(payload, creating=True, source=source)
        errors = self._object_access_errors(obj, "create") or errors or self._unique_errors(obj, values, None)
        errors = errors or self._permission_row_errors(obj, values)
        if errors:
            return WriteOutcome(None, False, errors)
        return WriteOutcome(self._insert(obj, values), True, [], True)

    def next_metadata_id(self, prefix: str) -> str:
        """An id for a Tooling record (object, field): its own sequence, so record ids stay as they were."""
        self._metadata_counter += 1
        return make_id(prefix, self._metadata_counter)

    def next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def _insert(self, obj: ObjectDef, values: Record) -> str:
        counter = self.next_counter()
        now = self.stamp()
        record: Record = {
            "Id": make_id(obj.key_prefix, counter),
            "IsDeleted": False,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }
        for fdef in obj.fields.values():
            if fdef.type == "boolean" and not fdef.system:
                record[fdef.name] = False
        record.update({k: v for k, v in values.items() if v is not None})
        self._derive(obj, record)
        self._save(obj.name, record)
        return record["Id"]

    def live(self, obj: ObjectDef, record_id: str) -> Record:
        full = normalise_id(record_id)
        record = self.records[obj.name].get(full) if full else None
        if record is None:
            raise RecordNotFound(obj.name, record_id)
        return record

    def update(
        self, object_name: str, record_id: str, payload: Record, *, source: Source = "json"
    ) -> WriteOutcome:
        obj = self.object(object_name)
        full = normalise_id(record_id)
        if full is None:
            msg = f"{obj.name} ID: id value of incorrect type: {record_id}"
            return WriteOutcome(record_id, False, [record_error("MALFORMED_ID", msg, ["Id"])])
        record = self.records[obj.name].get(full)
        if record is None:
            msg = "invalid cross reference id"
            return WriteOutcome(full, False, [record_error("INVALID_CROSS_REFERENCE_KEY", msg, [])])
        if record.get("IsDeleted"):
            return WriteOutcome(full, False, [record_error("ENTITY_IS_DELETED", "entity is deleted", [])])
        values, errors = self.validator(obj).clean(payload, creating=False, source=source)
        errors = self._object_access_errors(obj, "edit") or errors or self._unique_errors(obj, values, full)
        errors = errors or self._permission_row_errors(obj, {**record, **values})
        if errors:
            return WriteOutcome(full, False, errors)
        self._apply(obj, record, values)
        return WriteOutcome(full, True, [], False)

    def _apply(self, obj: ObjectDef, record: Record, values: Record) -> None:
        updated = {**record, **values}
        now = self.stamp()
        updated["LastModifiedDate"] = now
        updated["SystemModstamp"] = now
        self._derive(obj, updated)
        self._save(obj.name, updated)

    def upsert(
        self, object_name: str, key_field: str, key_value: Any, payload: Record, *, source: Source = "json"
    ) -> WriteOutcome:
        """Create or update by external id. Raises RequestError(300) on several matches."""
        obj = self.object(object_name)
        fdef = self.external_field(obj, key_field)
        if key_value in (None, ""):
            msg = f"{fdef.name}: external id value is missing"
            return WriteOutcome(None, False, [record_error("MISSING_ARGUMENT", msg, [fdef.name])])
        if fdef.name == "Id":
            body = {k: v for k, v in payload.items() if k != "Id"}
            return self.update(obj.name, str(key_value), body, source=source)
        matches = self.find_external(obj.name, fdef.name, key_value)
        if len(matches) > 1:
            raise MultipleMatches(fdef.name, key_value, matches)
        body = {k: v for k, v in payload.items() if k != fdef.name}
        if matches:
            outcome = self.update(obj.name, matches[0], body, source=source)
            return outcome
        values, errors = self.validator(obj).clean(
            {**body, fdef.name: key_value}, creating=True, source=source
        )
        errors = self._object_access_errors(obj, "create") or errors or self._unique_errors(obj, values, None)
        errors = errors or self._permission_row_errors(obj, values)
        if errors:
            return WriteOutcome(None, False, errors, False)
        return WriteOutcome(self._insert(obj, values), True, [], True)

    def external_field(self, obj: ObjectDef, key_field: str) -> FieldDef:
        fdef = obj.get_field(key_field)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            msg = f"Provided external ID field does not exist or is not accessible: {key_field}"
            raise RequestError("NOT_FOUND", msg, status=404)
        return fdef

    def delete(self, record_id: str, object_name: str | None = None) -> WriteOutcome:
        full = normalise_id(record_id)
        target = self.object_of_id(full) if full else None
        if full is None or target is None or (object_name and target != self.object(object_name).name):
            msg = f"invalid cross reference id: {record_id}" if full else f"malformed id {record_id}"
            code = "INVALID_CROSS_REFERENCE_KEY" if full else "MALFORMED_ID"
            return WriteOutcome(record_id, False, [record_error(code, msg, [])])
        record = self.records[target].get(full)
        if record is None:
            return WriteOutcome(
                full, False, [record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])]
            )
        if record.get("IsDeleted"):
            return WriteOutcome(full, False, [record_error("ENTITY_IS_DELETED", "entity is deleted", [])])
        denied = self._object_access_errors(self.objects[target], "delete")
        if denied:
            return WriteOutcome(full, False, denied)
        self._soft_delete(target, record, None)
        return WriteOutcome(full, True, [])

    def hard_delete(self, record_id: str, object_name: str | None = None) -> WriteOutcome:
        """Bulk API ``hardDelete``: gone at once, not to the Recycle Bin (queryAll no longer finds it)."""
        outcome = self.delete(record_id, object_name)
        if outcome.success and outcome.id:
            target = self.object_of_id(outcome.id)
            record = self.records[target].get(outcome.id) if target else None
            if target and record is not None:
                if self._undo is not None:  # a rollback puts it back
                    self._undo.append((target, outcome.id, record, self.deleted_at.get(outcome.id)))
                self._unindex(target, record)
                del self.records[target][outcome.id]
                self.deleted_at.pop(outcome.id, None)
        return outcome

    def _soft_delete(self, object_name: str, record: Record, master_id: str | None) -> None:
        now = self.stamp()
        updated = {**record, "IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now}
        if master_id is not None:
            updated["MasterRecordId"] = master_id
        self._save(object_name, updated)  # the undo entry keeps the old deleted_at too
        self.deleted_at[record["Id"]] = now

    def merge(
        self, object_name: str, master_id: str, loser_ids: list[str], fields: Record | None = None
    ) -> tuple[list[str], list[str]]:
        """SOAP ``merge()``: the losers are soft-deleted with MasterRecordId set, their children re-parented.

        ``fields`` are values on the master record that should win (the API
        takes nothing from the losers by itself). Returns the merged ids and
        the re-parented child ids (``mergedRecordIds``, ``updatedRelatedIds``).
        Raises ``RequestError`` with the API's status code; the caller runs it
        in a transaction.
        """
        obj = self.object(object_name)
        if obj.get_field("MasterRecordId") is None:
            msg = f"{obj.name} records cannot be merged"
            raise RequestError("INVALID_TYPE", msg)
        master = self._mergeable(obj, master_id)
        losers = [self._mergeable(obj, i) for i in loser_ids]
        loser_set = {r["Id"] for r in losers}
        if master["Id"] in loser_set or len(loser_set) != len(losers):
            raise RequestError("INVALID_ID_FIELD", "a record cannot be merged with itself")
        if fields:
            outcome = self.update(obj.name, master["Id"], dict(fields))
            if not outcome.success:
                first = outcome.errors[0]
                raise RequestError(first["statusCode"], first["message"], first["fields"])
        for loser in losers:
            self._soft_delete(obj.name, loser, master["Id"])
        related: list[str] = []
        for child_obj in self.objects.values():
            refs = [
                f.name
                for f in child_obj.fields.values()
                if f.type == "reference" and obj.name in f.reference_to and f.name != "MasterRecordId"
            ]
            if not refs:
                continue
            for child in list(self.records[child_obj.name].values()):
                changes = {n: master["Id"] for n in refs if child.get(n) in loser_set}
                if changes and not child.get("IsDeleted"):
                    self._apply(child_obj, child, changes)
                    related.append(child["Id"])
        self._apply(obj, self.records[obj.name][master["Id"]], {})
        return [r["Id"] for r in losers], related

    def _mergeable(self, obj: ObjectDef, record_id: str) -> Record:
        full = normalise_id(record_id)
        record = self.records[obj.name].get(full) if full else None
        if record is None:
            raise RequestError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}")
        if record.get("IsDeleted"):
            raise RequestError("ENTITY_IS_DELETED", f"entity is deleted: {record_id}")
        return record

    # -- persistence -------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "version": 1,
            "counter": self._counter,
            "last_stamp": self._last_stamp,
            "records": {name: list(records.values()) for name, records in self.records.items()},
            "deleted_at": dict(self.deleted_at),
            "custom_fields": [{"object": o, **dataclasses.asdict(f)} for o, f in self.custom_fields],
            "custom_objects": list(self.custom_objects),
            "metadata_ids": dict(self.metadata_ids),
            "metadata_counter": self._metadata_counter,
            "bare": self.bare,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.bare = bool(state.get("bare", False))
        self.objects = default_objects(bare=self.bare)
        self.records = {name: {} for name in self.objects}
        self.custom_fields = []
        self.custom_objects = []
        for body in state.get("custom_objects", []):
            self.add_object(body["FullName"], body["Metadata"])
        for spec in state.get("custom_fields", []):
            spec = dict(spec)
            object_name = spec.pop("object")
            for key in ("picklist", "reference_to"):
                spec[key] = tuple(spec.get(key) or ())
            fdef = FieldDef(**spec)
            self.objects[object_name].add(fdef)
            self.custom_fields.append((object_name, fdef))
        self.records = {name: {} for name in self.objects}
        for name, rows in state.get("records", {}).items():
            self.records[name] = {r["Id"]: dict(r) for r in rows}
        self.deleted_at = dict(state.get("deleted_at", {}))
        self._counter = int(state.get("counter", 0))
        self.metadata_ids = dict(state.get("metadata_ids", {}))
        self._metadata_counter = int(state.get("metadata_counter", 0))
        self._last_stamp = str(state.get("last_stamp", ""))
        self._rebuild_indexes()
        self.apply_field_security()
