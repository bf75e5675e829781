"""CRM objects v3 over HTTP: basic, batch, search and merge endpoints.

Handlers translate HubSpot's request bodies into ``RecordStore`` calls and
answer with the shapes hubspot-api-client's models require (batch answers
always carry status/startedAt/completedAt/results).

Batch create, update and upsert validate every input's properties before
writing any: one invalid value (a number that does not parse, an option not
in the list, an unknown property, a value a validation rule refuses) refuses
the whole batch with one ``400 VALIDATION_ERROR`` "Property values were not
valid: [...]" that does not say which input it was, and nothing is written,
as HubSpot does. Problems only a write finds (a unique value another record
holds, an id that does not exist) fail their own input: 207 with per-input
``StandardError``s whose ``context.ids`` name the inputs.

Reads by id and lists take ``associations=`` (comma-separated or repeated
object types; unknown ones are ignored, as documented) and answer
``associations: {<type>: {results: [{id, type}], paging?}}``: one result per
associated record and association type, v3 type names ("deal_to_company"
for the primary, "deal_to_company_unlabeled"...), a type with no
associations left out, the custom object keyed by its fully qualified name.
Past ``ASSOCIATIONS_PER_TYPE`` records ``paging.next`` points at the v4
associations list.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import DropConnection, SandboxRequest, SandboxResponse
from connectors.sandbox.hubspot.associations import (
    AssociationDef,
    AssociationStore,
    v3_type_name,
)
from connectors.sandbox.hubspot.schema import PORTAL_ID, ObjectType, iso_ms, resolve_object_type
from connectors.sandbox.hubspot.search import SearchEngine
from connectors.sandbox.hubspot.store import Record, RecordStore
from connectors.sandbox.hubspot.wire import HubSpotApiError, now_iso

MAX_BATCH = 100
MAX_LIST_LIMIT = 100
ASSOCIATIONS_PER_TYPE = 500  # as many as one page of the v4 associations list
_ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")
TYPE = r"(?P<type>[A-Za-z0-9_\-]+)"


def requested_properties(request: SandboxRequest, name: str = "properties") -> list[str] | None:
    """``properties`` (or ``associations``) may repeat or be comma-separated in HubSpot's query strings."""
    values = request.query.get(name)
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def association_key(target: ObjectType) -> str:
    """Standard types by their name, a custom object by its fully qualified name."""
    return target.name if target.type_id.startswith("0-") else f"p{PORTAL_ID}_{target.name}"


def _numeric(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)


def record_wire(
    store: RecordStore, object_type: str, record: Record, props: list[str] | None, *, everything: bool = False
) -> dict[str, Any]:
    """A ``SimplePublicObject``: requested (else default) properties plus the system ones."""
    defs = store.prop_defs(object_type)
    if everything:
        names = list(record.properties)
    else:
        names = [p for p in (props or resolve_object_type(object_type).default_properties) if p in defs]
    properties = {n: record.properties.get(n) for n in [*names, *_ALWAYS]}
    body: dict[str, Any] = {
        "id": record.id,
        "properties": properties,
        "createdAt": iso_ms(record.created_ms),
        "updatedAt": iso_ms(record.updated_ms),
        "archived": record.archived,
    }
    if record.archived and record.archived_ms is not None:
        body["archivedAt"] = iso_ms(record.archived_ms)
    return body


def batch_body(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now_iso(),
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body


def not_found(object_type: str, ids: list[str]) -> HubSpotApiError:
    return HubSpotApiError(
        404, "OBJECT_NOT_FOUND", f"Could not find {object_type} {', '.join(ids)}", context={"ids": ids}
    )


def batch_error(err: HubSpotApiError, ids: list[str]) -> dict[str, Any]:
    # a duplicate unique value is a 409 CONFLICT on single create but a per-record VALIDATION_ERROR in a batch
    if err.status == 409:
        err.category = "VALIDATION_ERROR"
    return err.standard_error(ids)


class ObjectRoutes:
    """Mixin for ``HubSpotSandbox``: registers and serves ``/crm/v3/objects``."""

    store: RecordStore
    search_engine: SearchEngine
    assocs: AssociationStore
    lock: threading.RLock

    if TYPE_CHECKING:  # provided by SandboxApp

        def consume_write_drop(self) -> bool: ...

        def route(self, method: str, pattern: str, handler: Any, name: str | None = None) -> None: ...

    def register_object_routes(self) -> None:
        base = f"/crm/v3/objects/{TYPE}"
        for op in ("read", "create", "update", "upsert", "archive"):
            self.route("POST", f"{base}/batch/{op}", getattr(self, f"_batch_{op}"), f"objects.batch.{op}")
        self.route("POST", f"{base}/search", self._search, "objects.search")
        self.route("POST", f"{base}/merge", self._merge, "objects.merge")
        self.route("GET", base, self._list, "objects.list")
        self.route("POST", base, self._create, "objects.create")
        self.route("GET", f"{base}/(?P<id>[^/]+)", self._get, "objects.get")
        self.route("PATCH", f"{base}/(?P<id>[^/]+)", self._update, "objects.update")
        self.route("DELETE", f"{base}/(?P<id>[^/]+)", self._archive, "objects.archive")

    def _committed(self, response: SandboxResponse) -> SandboxResponse:
        """After a durable write: maybe lose the answer (drop_after_write fault)."""
        if self.consume_write_drop():
            raise DropConnection
        return response

    @staticmethod
    def _inputs(request: SandboxRequest) -> list[dict[str, Any]]:
        body = request.json() or {}
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list")
        if len(inputs) > MAX_BATCH:
            msg = f"Batch input limit is {MAX_BATCH} inputs but received {len(inputs)}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"inputs": [str(len(inputs))]})
        return inputs

    # -- basic ---------------------------------------------------------------------
    def _list(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        limit = int(request.arg("limit", "10") or 10)
        if limit < 1 or limit > MAX_LIST_LIMIT:
            msg = f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"limit": [str(limit)]})
        after = request.arg("after") or "0"
        if not after.isdigit():
            raise HubSpotApiError(400, "VALIDATION_ERROR", f"after must be a number, got {after}")
        archived = (request.arg("archived", "false") or "false").lower() == "true"
        props = requested_properties(request)
        wanted = requested_properties(request, "associations")
        with self.lock:
            table = self.store.table(object_type)
            results: list[dict[str, Any]] = []
            last = None
            more = False
            for rid in self.store.ids_after(object_type, int(after)):
                record = table.records[str(rid)]
                if record.archived != archived or (archived and record.merged_into):
                    continue
                if len(results) == limit:
                    more = True
                    break
                results.append(self._read_wire(object_type, record, props, wanted))
                last = record.id
        body: dict[str, Any] = {"results": results}
        if more and last is not None:
            body["paging"] = {"next": {"after": last, "link": f"{request.path}?after={last}"}}
        return SandboxResponse.json(200, body)

    def _get(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        archived = (request.arg("archived", "false") or "false").lower() == "true"
        with self.lock:
            if archived:
                record = self.store.table(object_type).records.get(request.params["id"])
                record = record if record is not None and record.archived else None
            else:
                record = self.store.find(object_type, request.params["id"], request.arg("idProperty"))
            if record is None:
                raise not_found(object_type, [request.params["id"]])
            wire = self._read_wire(
                object_type, record, requested_properties(request), requested_properties(request, "associations")
            )
            return SandboxResponse.json(200, wire)

    def _read_wire(
        self, object_type: str, record: Record, props: list[str] | None, wanted: list[str] | None
    ) -> dict[str, Any]:
        """A ``SimplePublicObjectWithAssociations``: the record, plus its associations when asked."""
        wire = record_wire(self.store, object_type, record, props)
        associations = self._associations_wire(object_type, record.id, wanted or [])
        if associations:
            wire["associations"] = associations
        return wire

    def _associations_wire(self, object_type: str, record_id: str, wanted: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        from_name = resolve_object_type(object_type).name
        for name in wanted:
            try:
                target = resolve_object_type(name)
            except HubSpotApiError:
                continue  # "If any of the specified associations do not exist, they will be ignored."
            targets = self.assocs.targets(from_name, record_id, target.name)
            ids = sorted(targets, key=_numeric)
            shown = ids[:ASSOCIATIONS_PER_TYPE]
            defs = {(d.category, d.type_id): d for d in self.assocs.between(from_name, target.name)}
            results = [
                {"id": tid, "type": v3_type_name(defs[link]) if link in defs else f"{link[0].lower()}_{link[1]}"}
                for tid in shown
                for link in sorted(targets[tid], key=lambda lk: lk[1])
            ]
            if not results:
                continue
            entry: dict[str, Any] = {"results": results}
            if len(ids) > len(shown):
                after = str(len(shown))
                link = f"crm/v4/objects/{from_name}/{record_id}/associations/{target.name}?after={after}"
                entry["paging"] = {"next": {"after": after, "link": link}}
            out[association_key(target)] = entry
        return out

    def _create(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        body = request.json() or {}
        with self.lock:
            record = self.store.create(object_type, body.get("properties") or {})
            for assoc in body.get("associations") or []:
                self._associate_inline(object_type, record.id, assoc)
            wire = record_wire(self.store, object_type, record, None, everything=True)
        return self._committed(SandboxResponse.json(201, wire))

    def _associate_inline(self, object_type: str, record_id: str, assoc: dict[str, Any]) -> None:
        """Create-with-associations: ``{to: {id}, types: [...]}``; the target type comes from the type id."""
        to_id = str(assoc["to"]["id"])
        for spec in assoc.get("types") or []:
            for d in self._definitions_from(object_type):
                if d.type_id == int(spec["associationTypeId"]) and d.category == spec["associationCategory"]:
                    if self.store.find(d.to_type, to_id) is None:
                        raise not_found(d.to_type, [to_id])
                    self.assocs.add(d, record_id, to_id)

    def _definitions_from(self, object_type: str) -> list[AssociationDef]:
        return self.assocs.from_type(object_type)

    def _update(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        body = request.json() or {}
        with self.lock:
            record = self.store.find(object_type, request.params["id"], request.arg("idProperty"))
            if record is None:
                raise not_found(object_type, [request.params["id"]])
            self.store.update(object_type, record, body.get("properties") or {})
            wire = record_wire(self.store, object_type, record, None, everything=True)
        return self._committed(SandboxResponse.json(200, wire))

    def _archive(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        with self.lock:
            record = self.store.find(object_type, request.params["id"])
            if record is not None:
                self.store.archive(object_type, record)
                self.assocs.drop_record(object_type, record.id)
        return self._committed(SandboxResponse.empty(204))

    def _merge(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        body = request.json() or {}
        with self.lock:
            survivor = self.merge_records(
                object_type, str(body.get("primaryObjectId")), str(body.get("objectIdToMerge"))
            )
            wire = record_wire(self.store, object_type, survivor, None, everything=True)
        return self._committed(SandboxResponse.json(200, wire))

    def merge_records(self, object_type: str, primary_id: str, merged_id: str) -> Record:
        """Merge into a new record (see ``RecordStore.merge``); both originals' associations move to it."""
        with self.lock:
            originals = [self.store.find(object_type, i) for i in (primary_id, merged_id)]
            survivor = self.store.merge(object_type, primary_id, merged_id)
            for original in originals:  # the primary first: its "Primary"-labelled links win
                self.assocs.move(object_type, original.id, survivor.id)  # type: ignore[union-attr]
            return survivor

    # -- batch ---------------------------------------------------------------------
    def _batch_read(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        started = now_iso()
        inputs = self._inputs(request)
        body = request.json() or {}
        id_property = body.get("idProperty")
        props = body.get("properties") or None
        results, missing = [], []
        with self.lock:
            for item in inputs:
                record = self.store.find(object_type, str(item.get("id")), id_property)
                if record is None:
                    missing.append(str(item.get("id")))
                else:
                    results.append(record_wire(self.store, object_type, record, props))
        errors = []
        if missing:
            msg = f"Could not get some {object_type} objects, they may be deleted or not exist. Check that ids are valid."
            errors.append(HubSpotApiError(404, "OBJECT_NOT_FOUND", msg).standard_error(missing))
        return SandboxResponse.json(207 if errors else 200, batch_body(results, errors, started))

    def _validate_all(self, object_type: str, inputs: list[dict[str, Any]]) -> None:
        """Refuse the whole batch when any input carries an invalid property value."""
        details: list[dict[str, Any]] = []
        for item in inputs:
            try:
                self.store.validate(object_type, item.get("properties") or {}, None)
            except HubSpotApiError as err:
                if err.status == 400:  # 409 (a unique value held elsewhere) is the write's business
                    details.extend(err.details)
        if details:
            raise HubSpotApiError.invalid_properties(details)

    def _batch_create(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        started = now_iso()
        inputs = self._inputs(request)
        results, errors = [], []
        with self.lock:
            self._validate_all(object_type, inputs)
            for index, item in enumerate(inputs):
                try:
                    record = self.store.create(object_type, item.get("properties") or {})
                    for assoc in item.get("associations") or []:
                        self._associate_inline(object_type, record.id, assoc)
                except HubSpotApiError as err:
                    errors.append(batch_error(err, [str(index)]))
                    continue
                results.append(record_wire(self.store, object_type, record, None, everything=True))
        return self._committed(
            SandboxResponse.json(207 if errors else 201, batch_body(results, errors, started))
        )

    def _batch_update(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        started = now_iso()
        inputs = self._inputs(request)
        results, errors = [], []
        with self.lock:
            self._validate_all(object_type, inputs)
            for item in inputs:
                key = str(item.get("id"))
                try:
                    record = self.store.find(object_type, key, item.get("idProperty"))
                    if record is None:
                        raise not_found(object_type, [key])
                    self.store.update(object_type, record, item.get("properties") or {})
                except HubSpotApiError as err:
                    errors.append(batch_error(err, [key]))
                    continue
                results.append(record_wire(self.store, object_type, record, None, everything=True))
        return self._committed(
            SandboxResponse.json(207 if errors else 200, batch_body(results, errors, started))
        )

    def _batch_upsert(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        started = now_iso()
        inputs = self._inputs(request)
        keys = [str(item.get("id")) for item in inputs]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            msg = f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"ids": duplicates})
        results, errors = [], []
        with self.lock:
            for item in inputs:
                id_property = str(item.get("idProperty") or "hs_object_id")
                if id_property != "hs_object_id":
                    self.store.require_unique(object_type, id_property)
            self._validate_all(object_type, inputs)
            for item, key in zip(inputs, keys, strict=True):
                id_property = str(item.get("idProperty") or "hs_object_id")
                try:
                    if id_property == "hs_object_id":
                        record = self.store.find(object_type, key)
                        if record is None:
                            raise not_found(object_type, [key])
                        created = False
                        self.store.update(object_type, record, item.get("properties") or {})
                    else:
                        record, created = self.store.upsert(
                            object_type, id_property, key, item.get("properties") or {}
                        )
                except HubSpotApiError as err:
                    errors.append(batch_error(err, [key]))
                    continue
                wire = record_wire(self.store, object_type, record, None, everything=True)
                results.append({**wire, "new": created})
        return self._committed(
            SandboxResponse.json(207 if errors else 200, batch_body(results, errors, started))
        )

    def _batch_archive(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        inputs = self._inputs(request)
        with self.lock:
            for item in inputs:
                record = self.store.find(object_type, str(item.get("id")))
                if record is not None:
                    self.store.archive(object_type, record)
                    self.assocs.drop_record(object_type, record.id)
        return self._committed(SandboxResponse.empty(204))

    # -- search ----------------------------------------------------------------------
    def _search(self, request: SandboxRequest) -> SandboxResponse:
        object_type = request.params["type"]
        body = request.json() or {}
        with self.lock:
            page = self.search_engine.search(object_type, body)
            table = self.store.table(object_type)
            props = body.get("properties") or None
            results = [record_wire(self.store, object_type, table.records[i], props) for i in page.ids]
        payload: dict[str, Any] = {"total": page.total, "results": results}
        if page.next_after is not None:
            payload["paging"] = {"next": {"after": page.next_after}}
        return SandboxResponse.json(200, payload)
