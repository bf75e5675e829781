"""Tooling API reads and edits of the org's metadata: ``tooling/query`` and ``CustomField`` by id.

The Tooling API sees the org's custom objects and fields whoever may read
their data: a field hidden from the API user by field-level security, or an
object it has no object permission on, is absent from describe and SOQL yet
listed here (``SELECT Id, DeveloperName, NamespacePrefix, TableEnumOrId
FROM CustomField``), which is how a setup tool tells "missing" from "hidden".
As in a real org, ``DeveloperName`` has no ``__c`` suffix and
``TableEnumOrId`` is the object's name for a standard object and the
``01I`` id of its ``CustomObject`` row for a custom one. Queries support the
sandbox's SOQL subset over those columns and answer in one page.

``GET tooling/sobjects/CustomField/{id}`` answers the field's ``FullName``
and ``Metadata``; ``PATCH`` with ``{"FullName", "Metadata"}`` replaces the
metadata (the documented way to add picklist values: send every value,
the existing ones too). The type cannot change, nor the field move; the
sandbox leaves the external id and unique flags as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.salesforce.query import bind
from connectors.sandbox.salesforce.schema import FieldDef, ObjectDef, field_from_metadata, metadata_of
from connectors.sandbox.salesforce.soql import parse
from connectors.sandbox.salesforce.validation import RequestError

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceSandbox

_COLUMNS = {
    "CustomObject": ("Id", "DeveloperName", "NamespacePrefix", "ManageableState"),
    "CustomField": ("Id", "DeveloperName", "NamespacePrefix", "TableEnumOrId", "ManageableState"),
}


def register(app: SalesforceSandbox) -> None:
    tooling = _Tooling(app)
    app.sf_route("GET", r"tooling/query/?", tooling.query, "tooling_query")
    app.sf_route("GET", r"tooling/sobjects/CustomField/(?P<id>\w+)/?", tooling.get_field, "tooling_get_field")
    app.sf_route("PATCH", r"tooling/sobjects/CustomField/(?P<id>\w+)/?", tooling.patch_field,
                 "tooling.custom_field_update")


def _virtual(name: str) -> ObjectDef:
    fields = [FieldDef("Id", "id", length=18, system=True)]
    fields += [FieldDef(c, "string", length=255) for c in _COLUMNS[name][1:]]
    return ObjectDef(name, name, "01I" if name == "CustomObject" else "00N", {f.name: f for f in fields})


class _Tooling:
    def __init__(self, app: SalesforceSandbox) -> None:
        self.app = app
        self.store = app.store

    def _rows(self, name: str) -> list[dict[str, Any]]:
        """Every custom object or field of the org, hidden from the API user or not."""
        store = self.store
        rows: list[dict[str, Any]] = []
        for obj in store.objects.values():
            object_id = store.metadata_id(obj.name, "01I") if obj.custom else None
            if name == "CustomObject":
                if obj.custom:
                    rows.append({"Id": object_id, "DeveloperName": obj.name.removesuffix("__c"),
                                 "NamespacePrefix": None, "ManageableState": "unmanaged"})
                continue
            for fdef in obj.fields.values():
                if fdef.custom and fdef.name.endswith("__c"):
                    rows.append({"Id": store.metadata_id(f"{obj.name}.{fdef.name}", "00N"),
                                 "DeveloperName": fdef.name.removesuffix("__c"), "NamespacePrefix": None,
                                 "TableEnumOrId": object_id or obj.name, "ManageableState": "unmanaged"})
        return rows

    def query(self, request: SandboxRequest) -> SandboxResponse:
        text = request.arg("q")
        if not text:
            raise RequestError("MALFORMED_QUERY", "A query string has to be specified")
        parsed = parse(text)
        name = next((n for n in _COLUMNS if n.lower() == parsed.object.lower()), None)
        if name is None:  # the sandbox's Tooling API holds these two metadata types only
            raise RequestError("INVALID_TYPE", f"sObject type '{parsed.object}' is not supported.")
        with self.app.lock:
            bound = bind(parsed, _virtual(name), None)
            found = bound.run(self._rows(name))
        version = request.params["version"]
        if parsed.count:
            return SandboxResponse.json(200, {"size": len(found), "totalSize": len(found), "done": True,
                                              "queryLocator": None, "entityTypeName": name, "records": []})
        records = [{"attributes": {"type": name, "url": f"/services/data/v{version}/tooling/sobjects/{name}/{r['Id']}"},
                    **bound.project(r)} for r in found]
        return SandboxResponse.json(200, {"size": len(records), "totalSize": len(records), "done": True,
                                          "queryLocator": None, "entityTypeName": name, "records": records})

    def _field(self, field_id: str) -> tuple[ObjectDef, FieldDef]:
        for full_name, known in self.store.metadata_ids.items():
            if known[:15] == field_id[:15] and "." in full_name:
                object_name, _, field_name = full_name.partition(".")
                obj = self.store.object(object_name)
                return obj, obj.fields[field_name]
        raise RequestError("NOT_FOUND", "The requested resource does not exist", status=404)

    def get_field(self, request: SandboxRequest) -> SandboxResponse:
        with self.app.lock:
            obj, fdef = self._field(request.params["id"])
            field_id = self.store.metadata_id(f"{obj.name}.{fdef.name}", "00N")
            body = {
                "attributes": {"type": "CustomField",
                               "url": f"/services/data/v{request.params['version']}/tooling/sobjects/CustomField/{field_id}"},
                "Id": field_id,
                "DeveloperName": fdef.name.removesuffix("__c"),
                "TableEnumOrId": self.store.metadata_id(obj.name, "01I") if obj.custom else obj.name,
                "FullName": f"{obj.name}.{fdef.name}",
                "Metadata": metadata_of(fdef),
            }
        return SandboxResponse.json(200, body)

    def patch_field(self, request: SandboxRequest) -> SandboxResponse:
        body = self.app.body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            raise RequestError("JSON_PARSER_ERROR", "CustomField needs Metadata")
        with self.app.lock:
            obj, current = self._field(request.params["id"])
            full_name = str(body.get("FullName") or f"{obj.name}.{current.name}")
            if full_name.lower() != f"{obj.name}.{current.name}".lower():
                msg = f"FullName {full_name} is not the field {obj.name}.{current.name}: a field cannot move"
                raise RequestError("FIELD_INTEGRITY_EXCEPTION", msg)
            try:
                _, wanted = field_from_metadata(full_name, body["Metadata"])
            except ValueError as exc:
                raise RequestError("FIELD_INTEGRITY_EXCEPTION", str(exc)) from None
            if wanted.type != current.type:
                msg = f"Cannot change the type of {obj.name}.{current.name} from {current.type} to {wanted.type}"
                raise RequestError("FIELD_INTEGRITY_EXCEPTION", msg)
            for attribute in ("label", "length", "required", "picklist", "precision", "scale"):
                setattr(current, attribute, getattr(wanted, attribute))
        return SandboxResponse.empty(204)
