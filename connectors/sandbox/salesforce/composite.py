"""sObject Collections (``composite/sobjects``) and Tooling ``CustomObject``/``CustomField`` provisioning.

Retrieve (``GET composite/sobjects/{type}?ids=&fields=`` or ``POST`` with
``{"ids", "fields"}``, up to 2,000 ids) answers one entry per id, in the
order asked, with ``null`` for an id that is malformed, of another type,
deleted or unknown; an unknown field is a 400 ``INVALID_FIELD``.

Collections take up to 200 records per call and answer one result per
record, in order, with HTTP 200 even when some fail. With ``allOrNone`` the
whole call rolls back on the first failure: the failing records keep their
own errors and every other record reports ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
Upserts reject an external id that appears twice in one call
(``DUPLICATE_EXTERNAL_ID`` on each of those records).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.salesforce.ids import normalise_id
from connectors.sandbox.salesforce.schema import field_from_metadata
from connectors.sandbox.salesforce.store import MultipleMatches, WriteOutcome
from connectors.sandbox.salesforce.validation import RequestError, record_error

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceSandbox

MAX_RECORDS = 200
MAX_RETRIEVE = 2000
_ROLLED_BACK = record_error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


def register(app: SalesforceSandbox) -> None:
    collections = _Collections(app)
    app.sf_route("POST", r"composite/sobjects/?", collections.create, "collections.create")
    app.sf_route("PATCH", r"composite/sobjects/?", collections.update, "collections.update")
    app.sf_route("DELETE", r"composite/sobjects/?", collections.delete, "collections.delete")
    app.sf_route(
        "PATCH", r"composite/sobjects/(?P<obj>\w+)/(?P<field>\w+)/?", collections.upsert, "collections.upsert"
    )
    app.sf_route("GET", r"composite/sobjects/(?P<obj>\w+)/?", collections.retrieve, "collections.retrieve")
    app.sf_route("POST", r"composite/sobjects/(?P<obj>\w+)/?", collections.retrieve, "collections.retrieve_post")
    app.sf_route("POST", r"tooling/sobjects/CustomField/?", collections.custom_field, "tooling.custom_field")
    app.sf_route("POST", r"tooling/sobjects/CustomObject/?", collections.custom_object, "tooling.custom_object")


def _too_many() -> RequestError:
    return RequestError(
        "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
    )


class _Collections:
    def __init__(self, app: SalesforceSandbox) -> None:
        self.app = app
        self.store = app.store

    def _body(self, request: SandboxRequest) -> tuple[bool, list[dict[str, Any]]]:
        body = self.app.body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RequestError("JSON_PARSER_ERROR", "The request body needs a 'records' array")
        records = body["records"]
        if len(records) > MAX_RECORDS:
            raise _too_many()
        if not all(isinstance(r, dict) for r in records):
            raise RequestError("JSON_PARSER_ERROR", "Each item in 'records' must be a JSON object")
        return bool(body.get("allOrNone", False)), records

    @staticmethod
    def _type_of(record: dict[str, Any]) -> str:
        object_type = (record.get("attributes") or {}).get("type")
        if not object_type:
            raise RequestError("INVALID_TYPE", "Must send a concrete entity type.")
        return str(object_type)

    def _run(
        self, all_or_none: bool, items: list[Any], write: Callable[[Any], WriteOutcome], with_created: bool
    ) -> SandboxResponse:
        with self.app.lock, self.store.transaction() as rollback:
            try:
                outcomes = [write(item) for item in items]
            except RequestError:
                rollback()
                raise
            if all_or_none and not all(o.success for o in outcomes):
                rollback()
                outcomes = [
                    WriteOutcome(None if o.created else o.id, False, [_ROLLED_BACK], False)
                    if o.success
                    else o
                    for o in outcomes
                ]
        if any(o.success for o in outcomes):
            self.app.after_write()
        return SandboxResponse.json(200, [o.as_json(with_created) for o in outcomes])

    def create(self, request: SandboxRequest) -> SandboxResponse:
        all_or_none, records = self._body(request)
        prepared = [(self._type_of(r), r) for r in records]
        return self._run(all_or_none, prepared, lambda p: self.store.create(p[0], p[1]), False)

    def update(self, request: SandboxRequest) -> SandboxResponse:
        all_or_none, records = self._body(request)

        def write(record: dict[str, Any]) -> WriteOutcome:
            object_type = self._type_of(record)
            if not record.get("Id"):
                return WriteOutcome(
                    None,
                    False,
                    [record_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])],
                )
            return self.store.update(object_type, str(record["Id"]), record)

        return self._run(all_or_none, records, write, False)

    def upsert(self, request: SandboxRequest) -> SandboxResponse:
        all_or_none, records = self._body(request)
        with self.app.lock:
            obj = self.store.api_object(request.params["obj"])
            key = self.store.external_field(obj, request.params["field"])
        for record in records:
            if self._type_of(record).lower() != obj.name.lower():
                msg = f"The record type {self._type_of(record)} doesn't match the URL's {obj.name}"
                raise RequestError("INVALID_TYPE", msg)
        counts = Counter(str(r.get(key.name)).lower() for r in records if r.get(key.name) not in (None, ""))

        def write(record: dict[str, Any]) -> WriteOutcome:
            value = record.get(key.name)
            if value not in (None, "") and counts[str(value).lower()] > 1:
                msg = f"Duplicate external id specified: {value}"
                return WriteOutcome(
                    None, False, [record_error("DUPLICATE_EXTERNAL_ID", msg, [key.name])], False
                )
            body = {k: v for k, v in record.items() if k != key.name}
            try:
                return self.store.upsert(obj.name, key.name, value, body)
            except MultipleMatches as exc:
                return WriteOutcome(None, False, [record_error(exc.code, exc.message, exc.fields)], False)

        return self._run(all_or_none, records, write, True)

    def delete(self, request: SandboxRequest) -> SandboxResponse:
        raw = request.arg("ids") or ""
        ids = [i for i in raw.split(",") if i]
        if not ids:
            raise RequestError("MISSING_ARGUMENT", "The ids parameter is required")
        if len(ids) > MAX_RECORDS:
            raise _too_many()
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        return self._run(all_or_none, ids, self.store.delete, False)

    def retrieve(self, request: SandboxRequest) -> SandboxResponse:
        if request.method == "GET":
            ids = [i for i in (request.arg("ids") or "").split(",") if i]
            fields = [f for f in (request.arg("fields") or "").split(",") if f]
        else:
            body = self.app.body_json(request)
            if not isinstance(body, dict):
                raise RequestError("JSON_PARSER_ERROR", "The request body must be a JSON object with ids and fields")
            ids, fields = body.get("ids") or [], body.get("fields") or []
            if not isinstance(ids, list) or not isinstance(fields, list):
                raise RequestError("JSON_PARSER_ERROR", "ids and fields must be JSON arrays of strings")
        for name, values in (("ids", ids), ("fields", fields)):
            if not values:
                raise RequestError("MISSING_ARGUMENT", f"The {name} parameter is required")
        if len(ids) > MAX_RETRIEVE:
            msg = f"record limit reached. cannot submit more than {MAX_RETRIEVE} records into this call"
            raise RequestError("EXCEEDED_ID_LIMIT", msg)
        version = request.params["version"]
        with self.app.lock:
            obj = self.app.object_or_404(request.params["obj"])
            names = self.app.field_names(obj, [str(f) for f in fields])
            table = self.store.records[obj.name]
            found: list[dict[str, Any] | None] = []
            for raw in ids:
                record = table.get(normalise_id(raw) or "")
                if record is None or record.get("IsDeleted"):
                    found.append(None)
                    continue
                values = {n: record.get(n) for n in names}
                found.append(self.app.shape(obj.name, version, values, record["Id"]))
        return SandboxResponse.json(200, found)

    def custom_object(self, request: SandboxRequest) -> SandboxResponse:
        """Tooling ``CustomObject`` create: ``{"FullName": "X__c", "Metadata": {label, pluralLabel, nameField...}}``."""
        body = self.app.body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            raise RequestError("JSON_PARSER_ERROR", "CustomObject needs FullName and Metadata")
        with self.app.lock:
            try:
                self.store.add_object(str(body.get("FullName", "")), body["Metadata"])
            except RequestError as exc:
                exc.status = 400
                raise
            object_id = self.store.metadata_id(self.store.object(str(body.get("FullName", ""))).name, "01I")
        return SandboxResponse.json(
            201, {"id": object_id, "success": True, "errors": [], "warnings": [], "infos": []}
        )

    def custom_field(self, request: SandboxRequest) -> SandboxResponse:
        body = self.app.body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            raise RequestError("JSON_PARSER_ERROR", "CustomField needs FullName and Metadata")
        try:
            object_name, fdef = field_from_metadata(str(body.get("FullName", "")), body["Metadata"])
        except ValueError as exc:
            raise RequestError("FIELD_INTEGRITY_EXCEPTION", str(exc)) from None
        with self.app.lock:
            try:
                self.store.add_field(object_name, fdef)
            except RequestError as exc:
                exc.status = 400
                raise
            field_id = self.store.metadata_id(f"{self.store.object(object_name).name}.{fdef.name}", "00N")
        return SandboxResponse.json(
            201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}
        )
