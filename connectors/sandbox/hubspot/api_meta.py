"""Properties v3 and associations v4 over HTTP.

The properties API is how a connector learns types, options, uniqueness and
read-only flags (``describe``); associations v4 is how records are linked
with typed, optionally labelled links. Shapes follow hubspot-api-client's
models: ``LabelsBetweenObjectPair`` for single/batch creates,
``PublicAssociationMultiWithLabel`` for batch reads, ``AssociationSpecWithLabel``
for label definitions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import DropConnection, SandboxRequest, SandboxResponse
from connectors.sandbox.hubspot.api_objects import TYPE, batch_body, not_found
from connectors.sandbox.hubspot.associations import (
    AssociationDef,
    AssociationStore,
)
from connectors.sandbox.hubspot.schema import (
    DEFAULT_GROUPS,
    PropertyDef,
    information_group,
    resolve_object_type,
)
from connectors.sandbox.hubspot.store import RecordStore
from connectors.sandbox.hubspot.wire import HubSpotApiError, now_iso

MAX_ASSOCIATION_BATCH = 2000
MAX_UNIQUE_PROPERTIES = 10  # per object type, as HubSpot documents
PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = ("textarea", "text", "date", "file", "number", "select", "radio", "checkbox", "booleancheckbox")
TO_TYPE = r"(?P<to>[A-Za-z0-9_\-]+)"


def default_groups(object_type: str, *, bare: bool = False) -> dict[str, dict[str, Any]]:
    """A portal's property groups for one object type; not ``bare``, the ``prm_sync`` group setup makes too."""
    standard = DEFAULT_GROUPS.get(object_type) or ((information_group(object_type), "Information"),)
    groups = {
        name: {"name": name, "label": label, "displayOrder": order, "archived": False}
        for order, (name, label) in enumerate(standard)
    }
    if not bare:
        groups["prm_sync"] = {"name": "prm_sync", "label": "PRM sync", "displayOrder": len(groups), "archived": False}
    return groups


class MetaRoutes:
    """Mixin for ``HubSpotSandbox``: registers and serves properties and associations."""

    store: RecordStore
    assocs: AssociationStore
    lock: threading.RLock
    property_groups: dict[str, dict[str, dict[str, Any]]]

    if TYPE_CHECKING:  # provided by SandboxApp

        def consume_write_drop(self) -> bool: ...

        def route(self, method: str, pattern: str, handler: Any, name: str | None = None) -> None: ...

    def register_meta_routes(self) -> None:
        props = f"/crm/v3/properties/{TYPE}"
        self.route("GET", f"{props}/groups", self._list_groups, "properties.groups.list")
        self.route("POST", f"{props}/groups", self._create_group, "properties.groups.create")
        self.route("GET", f"{props}/groups/(?P<name>[^/]+)", self._get_group, "properties.groups.get")
        self.route("GET", props, self._list_properties, "properties.list")
        self.route("POST", props, self._create_property, "properties.create")
        self.route("GET", f"{props}/(?P<name>[^/]+)", self._get_property, "properties.get")
        self.route("DELETE", f"{props}/(?P<name>[^/]+)", self._archive_property, "properties.archive")
        self.route("PATCH", f"{props}/(?P<name>[^/]+)", self._update_property, "properties.update")
        single = f"/crm/v4/objects/{TYPE}/(?P<id>[^/]+)/associations"
        self.route(
            "PUT", f"{single}/default/{TO_TYPE}/(?P<to_id>[^/]+)", self._put_default, "associations.default"
        )
        self.route("PUT", f"{single}/{TO_TYPE}/(?P<to_id>[^/]+)", self._put_labels, "associations.create")
        self.route(
            "DELETE", f"{single}/{TO_TYPE}/(?P<to_id>[^/]+)", self._delete_single, "associations.delete"
        )
        self.route("GET", f"{single}/{TO_TYPE}", self._get_associations, "associations.list")
        pair = f"/crm/v4/associations/{TYPE}/{TO_TYPE}"
        self.route("GET", f"{pair}/labels", self._labels, "associations.labels")
        self.route("POST", f"{pair}/batch/create", self._assoc_batch_create, "associations.batch.create")
        self.route(
            "POST", f"{pair}/batch/associate/default", self._assoc_batch_default, "associations.batch.default"
        )
        self.route("POST", f"{pair}/batch/read", self._assoc_batch_read, "associations.batch.read")
        self.route("POST", f"{pair}/batch/archive", self._assoc_batch_archive, "associations.batch.archive")

    # -- properties ---------------------------------------------------------------
    @staticmethod
    def _archived(request: SandboxRequest) -> bool:
        """``archived=true``: the properties in the recycling bin instead of the live ones."""
        return (request.arg("archived") or "").lower() == "true"

    def _list_properties(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            object_type = self.store.defined(request.params["type"]).name
            defs = (self.store.archived_properties if self._archived(request) else self.store.properties)[object_type]
            return SandboxResponse.json(200, {"results": [p.to_wire() for p in defs.values()]})

    def _archive_property(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            self.store.archive_property(request.params["type"], request.params["name"])
        return SandboxResponse.empty(204)

    def _get_property(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            prop = self.store.prop_def(request.params["type"], request.params["name"], archived=self._archived(request))
            return SandboxResponse.json(200, prop.to_wire())

    def _create_property(self, request: SandboxRequest) -> SandboxResponse:
        object_type = self.store.defined(request.params["type"]).name
        body = request.json() or {}
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            msg = f"Missing required fields: {', '.join(missing)}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"missing": missing})
        if body["type"] not in PROPERTY_TYPES or body["fieldType"] not in FIELD_TYPES:
            msg = f"Invalid type/fieldType combination: {body['type']}/{body['fieldType']}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"type": [str(body["type"])]})
        with self.lock:
            if body["groupName"] not in self.property_groups[object_type]:
                msg = f"Property group {body['groupName']} does not exist"
                raise HubSpotApiError(
                    400, "VALIDATION_ERROR", msg, context={"groupName": [str(body["groupName"])]}
                )
            prop = PropertyDef.from_wire(body, self.store.definition_stamp())
            unique = [p for p in self.store.prop_defs(object_type).values() if p.has_unique_value and not p.hubspot_defined]
            if prop.has_unique_value and len(unique) >= MAX_UNIQUE_PROPERTIES:
                msg = f"Unable to create property {prop.name}: limit of {MAX_UNIQUE_PROPERTIES} unique value properties reached"
                raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"hasUniqueValue": ["true"]})
            self.store.add_property(object_type, prop)
        return SandboxResponse.json(201, prop.to_wire())

    def _update_property(self, request: SandboxRequest) -> SandboxResponse:
        """``PATCH`` a property (``PropertyUpdate``): what the body names changes; ``options`` replaces the list.

        The sandbox keeps a property's type: a body that changes ``type`` or ``fieldType`` is refused
        rather than converted. Options need a label and a value each, values unique, and only
        enumeration (and bool) properties have options.
        """
        body = request.json() or {}
        if not isinstance(body, dict):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "The body must be a PropertyUpdate object")
        with self.lock:
            object_type = self.store.defined(request.params["type"]).name
            prop = self.store.prop_def(request.params["type"], request.params["name"])
            for key, current in (("type", prop.type), ("fieldType", prop.field_type)):
                if key in body and body[key] != current:
                    msg = f"The sandbox does not convert {prop.name} from {key} {current} to {body[key]}"
                    raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={key: [str(body[key])]})
            if "groupName" in body and body["groupName"] not in self.property_groups[object_type]:
                msg = f"Property group {body['groupName']} does not exist"
                raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"groupName": [str(body["groupName"])]})
            options = body.get("options")
            if options is not None:
                if prop.type not in ("enumeration", "bool"):
                    msg = f"Property {prop.name} of type {prop.type} cannot have options"
                    raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"options": [prop.name]})
                values = [str(o.get("value", "")) for o in options if isinstance(o, dict)]
                if len(values) != len(options) or any(not v or not o.get("label") for v, o in zip(values, options, strict=True)):
                    raise HubSpotApiError(400, "VALIDATION_ERROR", "Each option needs a label and a value")
                if len(set(values)) != len(values):
                    raise HubSpotApiError(400, "VALIDATION_ERROR", f"Options of {prop.name} repeat a value")
                prop.options = values
            for key, attribute in (("label", "label"), ("description", "description"), ("groupName", "group_name")):
                if key in body:
                    setattr(prop, attribute, str(body[key]))
            if "displayOrder" in body:
                prop.display_order = int(body["displayOrder"])
            return SandboxResponse.json(200, prop.to_wire())

    def _list_groups(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            groups = self.property_groups[self.store.defined(request.params["type"]).name]
            return SandboxResponse.json(200, {"results": list(groups.values())})

    def _get_group(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            group = self.property_groups[self.store.defined(request.params["type"]).name].get(
                request.params["name"]
            )
        if group is None:
            raise HubSpotApiError(
                404, "OBJECT_NOT_FOUND", f"Property group {request.params['name']} not found"
            )
        return SandboxResponse.json(200, group)

    def _create_group(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        if not body.get("name") or not body.get("label"):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "A property group needs name and label")
        group = {
            "name": str(body["name"]),
            "label": str(body["label"]),
            "displayOrder": int(body.get("displayOrder", -1)),
            "archived": False,
        }
        with self.lock:
            groups = self.property_groups[self.store.defined(request.params["type"]).name]
            if group["name"] in groups:
                raise HubSpotApiError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property group {group['name']} already exists"
                )
            groups[str(group["name"])] = group
        return SandboxResponse.json(201, group)

    # -- associations -------------------------------------------------------------------
    def _live(self, object_type: str, record_id: str) -> None:
        if self.store.find(object_type, record_id) is None:
            raise not_found(resolve_object_type(object_type).name, [record_id])

    def _committed(self, response: SandboxResponse) -> SandboxResponse:
        if self.consume_write_drop():
            raise DropConnection
        return response

    @staticmethod
    def _pair_wire(d: AssociationDef, from_id: str, to_id: str, labels: list[str]) -> dict[str, Any]:
        return {
            "fromObjectTypeId": resolve_object_type(d.from_type).type_id,
            "fromObjectId": from_id,
            "toObjectTypeId": resolve_object_type(d.to_type).type_id,
            "toObjectId": to_id,
            "labels": labels,
        }

    def _link(
        self, from_type: str, from_id: str, to_type: str, to_id: str, specs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Validate both ends and every spec, then store the links; returns a LabelsBetweenObjectPair."""
        self._live(from_type, from_id)
        self._live(to_type, to_id)
        if not specs:
            raise HubSpotApiError(400, "VALIDATION_ERROR", "At least one association type is required")
        defs = [
            self.assocs.definition(
                from_type, to_type, str(s.get("associationCategory")), int(s.get("associationTypeId", -1))
            )
            for s in specs
        ]
        for d in defs:
            self.assocs.add(d, from_id, to_id)
        return self._pair_wire(defs[0], from_id, to_id, [d.label for d in defs if d.label])

    def _put_labels(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        specs = request.json() or []
        if not isinstance(specs, list):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "Body must be a list of association specs")
        with self.lock:
            wire = self._link(p["type"], p["id"], p["to"], p["to_id"], specs)
        return self._committed(SandboxResponse.json(201, wire))

    def _default_result(self, from_type: str, from_id: str, to_type: str, to_id: str) -> dict[str, Any]:
        d = self.assocs.default(from_type, to_type)
        self._live(from_type, from_id)
        self._live(to_type, to_id)
        self.assocs.add(d, from_id, to_id)
        return {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {"associationCategory": d.category, "associationTypeId": d.type_id},
        }

    def _put_default(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        started = now_iso()
        with self.lock:
            result = self._default_result(p["type"], p["id"], p["to"], p["to_id"])
        return self._committed(SandboxResponse.json(200, batch_body([result], [], started)))

    def _delete_single(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        with self.lock:
            self.assocs.remove(p["type"], p["id"], p["to"], p["to_id"])
        return self._committed(SandboxResponse.empty(204))

    def _to_wire(
        self, from_type: str, to_type: str, targets: dict[str, set[tuple[str, int]]]
    ) -> list[dict[str, Any]]:
        return [
            {
                "toObjectId": int(tid) if tid.isdigit() else tid,
                "associationTypes": [
                    self.assocs.label_of(from_type, to_type, link) for link in sorted(links)
                ],
            }
            for tid, links in sorted(targets.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
        ]

    def _get_associations(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        limit = int(request.arg("limit", "500") or 500)
        after = int(request.arg("after", "0") or 0)
        with self.lock:
            self._live(p["type"], p["id"])
            rows = self._to_wire(p["type"], p["to"], self.assocs.targets(p["type"], p["id"], p["to"]))
        body: dict[str, Any] = {"results": rows[after : after + limit]}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return SandboxResponse.json(200, body)

    def _labels(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            defs = self.assocs.between(request.params["type"], request.params["to"])
        return SandboxResponse.json(200, {"results": [d.to_wire() for d in defs]})

    def _assoc_inputs(self, request: SandboxRequest) -> list[dict[str, Any]]:
        inputs = (request.json() or {}).get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list")
        if len(inputs) > MAX_ASSOCIATION_BATCH:
            msg = f"Batch input limit is {MAX_ASSOCIATION_BATCH} inputs but received {len(inputs)}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg)
        return inputs

    def _assoc_batch_create(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        return self._assoc_batch_each(
            request,
            lambda from_id, to_id, item: self._link(p["type"], from_id, p["to"], to_id, item.get("types") or []),
            201,
        )

    def _assoc_batch_each(
        self, request: SandboxRequest, link_one: Callable[[str, str, dict[str, Any]], Any], ok_status: int
    ) -> SandboxResponse:
        """Batch create/default: one link per input, 207 with per-input errors when any fail."""
        started = now_iso()
        results, errors = [], []
        inputs = self._assoc_inputs(request)
        with self.lock:
            for item in inputs:
                from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
                try:
                    results.append(link_one(from_id, to_id, item))
                except HubSpotApiError as err:
                    errors.append(err.standard_error([from_id, to_id]))
        return self._committed(
            SandboxResponse.json(207 if errors else ok_status, batch_body(results, errors, started))
        )

    def _assoc_batch_default(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        return self._assoc_batch_each(
            request, lambda from_id, to_id, item: self._default_result(p["type"], from_id, p["to"], to_id), 200
        )

    def _assoc_batch_read(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        started = now_iso()
        results, errors = [], []
        inputs = self._assoc_inputs(request)
        with self.lock:
            for item in inputs:
                from_id = str(item.get("id"))
                targets = self.assocs.targets(p["type"], from_id, p["to"])
                if self.store.find(p["type"], from_id) is None or not targets:
                    msg = f"No {resolve_object_type(p['to']).name} is associated with {resolve_object_type(p['type']).name} {from_id}."
                    errors.append(HubSpotApiError(404, "OBJECT_NOT_FOUND", msg).standard_error([from_id]))
                    continue
                results.append({"from": {"id": from_id}, "to": self._to_wire(p["type"], p["to"], targets)})
        return SandboxResponse.json(207 if errors else 200, batch_body(results, errors, started))

    def _assoc_batch_archive(self, request: SandboxRequest) -> SandboxResponse:
        p = request.params
        inputs = self._assoc_inputs(request)
        with self.lock:
            for item in inputs:
                from_id = str(item["from"]["id"])
                for target in item.get("to") or []:
                    self.assocs.remove(p["type"], from_id, p["to"], str(target["id"]))
        return self._committed(SandboxResponse.empty(204))
