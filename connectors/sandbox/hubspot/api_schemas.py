"""Setting a portal up: custom object schemas (``/crm/v3/schemas``) and association labels (v4).

A new portal has no ``deal_registrations`` object and no user-defined
association labels; ``prm-sync setup`` creates them with the documented
requests, so the sandbox answers those as HubSpot does: ``POST
/crm/v3/schemas`` takes an ``ObjectSchemaEgg`` (``name``, ``labels``,
``properties``, ``requiredProperties``, ``associatedObjects``...) and answers
201 with the ``ObjectSchema``; a name in use is 409. ``POST
/crm/v4/associations/{from}/{to}/labels`` takes ``{label, name}`` and answers
the new pair of type ids (``CollectionResponseAssociationSpecWithLabelNoPaging``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.hubspot.associations import AssociationStore
from connectors.sandbox.hubspot.schema import (
    OBJECT_TYPES,
    PropertyDef,
    information_group,
    is_custom,
    iso_ms,
    resolve_object_type,
)
from connectors.sandbox.hubspot.store import RecordStore
from connectors.sandbox.hubspot.wire import HubSpotApiError

_EGG_REQUIRED = ("associatedObjects", "labels", "name", "properties", "requiredProperties")
_STANDARD = {"CONTACT": "contacts", "COMPANY": "companies", "DEAL": "deals"}


class SchemaRoutes:
    """Mixin for ``HubSpotSandbox``: custom object schemas and association labels."""

    store: RecordStore
    assocs: AssociationStore
    lock: threading.RLock
    portal_id: int
    property_groups: dict[str, dict[str, dict[str, Any]]]

    if TYPE_CHECKING:  # provided by SandboxApp

        def route(self, method: str, pattern: str, handler: Any, name: str | None = None) -> None: ...

    def register_schema_routes(self) -> None:
        for base in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):  # hubspot-api-client 12 uses the second
            self.route("GET", base, self._list_schemas, "schemas.list")
            self.route("POST", base, self._create_schema, "schemas.create")
        pair = r"/crm/v4/associations/(?P<type>[A-Za-z0-9_\-]+)/(?P<to>[A-Za-z0-9_\-]+)/labels"
        self.route("POST", pair, self._create_label, "associations.labels.create")

    def _list_schemas(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            return SandboxResponse.json(200, {"results": list(self.store.schemas.values())})

    def _create_schema(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        missing = [k for k in _EGG_REQUIRED if k not in body]
        if missing:
            msg = f"Missing required fields: {', '.join(missing)}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"missing": missing})
        name = str(body["name"])
        known = [ot for ot in OBJECT_TYPES if is_custom(ot) and ot.name == name]
        if not known:  # the sandbox serves the custom objects it has routes and search settings for
            served = ", ".join(ot.name for ot in OBJECT_TYPES if is_custom(ot))
            raise HubSpotApiError(400, "VALIDATION_ERROR", f"this sandbox serves the custom objects {served} only")
        ot = known[0]
        props = [p for p in body["properties"] if isinstance(p, dict)]
        names = {str(p.get("name")) for p in props}
        for key in ("requiredProperties", "searchableProperties", "secondaryDisplayProperties"):
            unknown = [str(n) for n in body.get(key) or [] if str(n) not in names]
            if unknown:
                msg = f"{key} names properties the schema does not define: {', '.join(unknown)}"
                raise HubSpotApiError(400, "VALIDATION_ERROR", msg)
        primary = body.get("primaryDisplayProperty")
        if primary and primary not in names:
            raise HubSpotApiError(400, "VALIDATION_ERROR", f"primaryDisplayProperty {primary} is not a property")
        targets = [_STANDARD.get(str(a).upper()) for a in body["associatedObjects"]]
        if None in targets:
            msg = f"associatedObjects must be among {', '.join(_STANDARD)}"
            raise HubSpotApiError(400, "VALIDATION_ERROR", msg)
        with self.lock:
            if ot.name in self.store.schemas:
                raise HubSpotApiError(409, "OBJECT_ALREADY_EXISTS", f"Object type {ot.name} already exists")
            stamp = self.store.definition_stamp()
            group = information_group(ot.name)
            self.store.schemas[ot.name] = {}  # defined from here on: properties can be added
            self.property_groups[ot.name] = {
                group: {"name": group, "label": f"{body['labels'].get('singular', ot.name)} information",
                        "displayOrder": 0, "archived": False}
            }
            for wire in props:
                missing_keys = [k for k in ("name", "label", "type", "fieldType") if not wire.get(k)]
                if missing_keys:
                    del self.store.schemas[ot.name]
                    msg = f"property {wire.get('name')}: missing {', '.join(missing_keys)}"
                    raise HubSpotApiError(400, "VALIDATION_ERROR", msg)
                if wire["name"] not in self.store.prop_defs(ot.name):
                    self.store.add_property(ot.name, PropertyDef.from_wire({"groupName": group, **wire}, stamp))
            schema = self._schema_wire(ot.name, ot.type_id, body, targets, stamp)
            self.store.schemas[ot.name] = schema
        return SandboxResponse.json(201, schema)

    def _schema_wire(
        self, name: str, type_id: str, body: dict[str, Any], targets: list[str | None], stamp: int
    ) -> dict[str, Any]:
        when = iso_ms(stamp)
        return {
            "id": type_id.split("-", 1)[1],
            "objectTypeId": type_id,
            "name": name,
            "fullyQualifiedName": f"p{self.portal_id}_{name}",
            "labels": body["labels"],
            "requiredProperties": list(body["requiredProperties"]),
            "searchableProperties": list(body.get("searchableProperties") or []),
            "secondaryDisplayProperties": list(body.get("secondaryDisplayProperties") or []),
            "primaryDisplayProperty": body.get("primaryDisplayProperty"),
            "properties": [p.to_wire() for p in self.store.prop_defs(name).values()],
            "associations": [
                {
                    "id": str(d.type_id),
                    "fromObjectTypeId": type_id,
                    "toObjectTypeId": resolve_object_type(str(target)).type_id,
                    "name": f"{name}_to_{target}",
                    "createdAt": when,
                    "updatedAt": when,
                }
                for target in targets
                for d in [self.assocs.default(name, str(target))]
            ],
            "archived": False,
            "createdAt": when,
            "updatedAt": when,
        }

    def _create_label(self, request: SandboxRequest) -> SandboxResponse:
        body = request.json() or {}
        label = str(body.get("label") or "").strip()
        if not label or not body.get("name"):
            raise HubSpotApiError(400, "VALIDATION_ERROR", "An association label needs label and name")
        with self.lock:
            self.store.defined(request.params["type"])
            self.store.defined(request.params["to"])
            pair = self.assocs.add_label(request.params["type"], request.params["to"], label)
        return SandboxResponse.json(200, {"results": [d.to_wire() for d in pair]})
