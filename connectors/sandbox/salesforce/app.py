"""``SalesforceSandbox``: a local org speaking the REST API's wire format.

Routes live under ``/services/data/vXX.X/`` for the versions ``discovery.py``
lists (59.0 to 64.0; 59.0 is what simple-salesforce asks for by default).
This module holds the app, its limits/auth/fault answers, SOQL queries with
cursor paging and single-record sObject resources; the versions and
resource lists are in ``discovery.py``, collections and Tooling in
``composite.py`` and the Bulk API 2.0 in ``bulk.py``.

Request bodies are checked as the REST API checks them: a body of another
media type than the resource consumes is ``415 UNSUPPORTED_MEDIA_TYPE``, an
unparsable or missing JSON body ``400 JSON_PARSER_ERROR`` with the parser's
line and column. Compressed requests (gzip, deflate) are accepted and
answers are compressed when the client asks, as the API documents.

Every answer carries ``Sforce-Limit-Info: api-usage=N/M``. A daily request
budget (``daily_limit``) answers ``403 REQUEST_LIMIT_EXCEEDED`` when spent,
as the real API does (not 429).
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from connectors.sandbox.framing import media_type
from connectors.sandbox.http import (
    DropConnection,
    SandboxApp,
    SandboxRequest,
    SandboxResponse,
    json_error_position,
)
from connectors.sandbox.salesforce import bulk, composite, discovery, oauth, soap, tooling
from connectors.sandbox.salesforce.query import BoundQuery, bind
from connectors.sandbox.salesforce.soql import SoqlError, parse
from connectors.sandbox.salesforce.store import MultipleMatches, OrgStore, RecordNotFound, WriteOutcome
from connectors.sandbox.salesforce.validation import RequestError, format_datetime, parse_datetime

V = r"/services/data/v(?P<version>\d+\.\d+)/"
DEFAULT_PAGE = 2000
MAX_CURSORS = 200
JSON = "application/json"
_XML = ("application/xml", "text/xml")
_BODY_METHODS = ("POST", "PATCH", "PUT")
_PUBLIC = re.compile(r"^/services/data/?$")  # the versions list needs no session


def error_body(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        item["fields"] = fields
    return [item]


def outcome_error(outcome: WriteOutcome) -> SandboxResponse:
    """A failed single-record write as the REST API's 400 body."""
    body = [
        {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]} for e in outcome.errors
    ]
    status = 404 if outcome.errors and outcome.errors[0]["statusCode"] == "ENTITY_IS_DELETED" else 400
    return SandboxResponse.json(status, body)


@dataclass
class _Cursor:
    bound: BoundQuery
    rows: list[dict[str, Any]]
    version: str
    endpoint: str  # query / queryAll
    page_size: int


class SalesforceSandbox(SandboxApp):
    """A Salesforce org in memory; see connectors/sandbox/README.md for its objects."""

    system = "salesforce"
    request_codings = ("gzip", "deflate")
    response_codings = ("gzip", "deflate")

    def __init__(
        self, *, strict: bool = False, access_token: str = "sandbox-token", daily_limit: int = 100_000,
        session_seconds: float = 7200.0, bare: bool = True,
    ) -> None:
        super().__init__(strict=strict, access_token=access_token)
        self.store = OrgStore(self.lock, bare=bare)
        self.store.custom_rule = self.invalid_value
        self.daily_limit = daily_limit
        self.api_used = 0
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self.oauth = oauth.OAuthServer(self.lock, lifetime_seconds=session_seconds)
        self.store.api_user_id = self.oauth.integration_user.user_id  # field-level security is the API user's
        self.route("POST", oauth.TOKEN_PATH, self.oauth.token, "oauth.token")
        self.route("POST", oauth.REVOKE_PATH, self.oauth.revoke, "oauth.revoke")
        self.route("GET", oauth.USERINFO_PATH, lambda r: self.oauth.userinfo(r, self.access_token), "oauth.userinfo")
        self.route("GET", r"/id/(?P<org>00D\w+)/(?P<user>005\w+)",
                   lambda r: self.oauth.identity(r, self.access_token), "oauth.identity")
        self.route("GET", r"/__sandbox/sessions", self.oauth.admin, "admin.sessions_get")
        self.route("POST", r"/__sandbox/sessions", self.oauth.admin, "admin.sessions")
        discovery.register(self)
        self.sf_route("GET", r"limits/?", self._limits, "limits")
        self.sf_route("GET", r"sobjects/?", self._describe_global, "describe_global")
        self.sf_route(
            "GET",
            r"(?P<endpoint>query|queryAll)/(?P<locator>01g[0-9A-Za-z]+)-(?P<offset>\d+)",
            self._query_more,
            "query_more",
        )
        self.sf_route("GET", r"query/?", lambda r: self._query(r, "query"), "query")
        self.sf_route("GET", r"queryAll/?", lambda r: self._query(r, "queryAll"), "query_all")
        composite.register(self)
        tooling.register(self)
        soap.register(self)
        self.bulk_jobs = bulk.register(self)
        self.sf_route("GET", r"sobjects/(?P<obj>\w+)/describe/?", self._describe, "describe")
        self.sf_route("GET", r"sobjects/(?P<obj>\w+)/deleted/?", self._deleted, "deleted")
        self.sf_route("GET", r"sobjects/(?P<obj>\w+)/updated/?", self._updated, "updated")
        self.sf_route("POST", r"sobjects/(?P<obj>\w+)/?", self._create, "create")
        self.sf_route(
            "GET",
            r"sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?",
            self._get_by_external,
            "get_by_external_id",
        )
        self.sf_route(
            "PATCH", r"sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?", self._upsert, "upsert"
        )
        self.sf_route("GET", r"sobjects/(?P<obj>\w+)/(?P<id>\w+)/?", self._get, "get")
        self.sf_route("PATCH", r"sobjects/(?P<obj>\w+)/(?P<id>\w+)/?", self._update, "update")
        self.sf_route("DELETE", r"sobjects/(?P<obj>\w+)/(?P<id>\w+)/?", self._delete, "delete")

    # -- plumbing ----------------------------------------------------------------------
    def sf_route(
        self,
        method: str,
        pattern: str,
        handler: Callable[[SandboxRequest], SandboxResponse],
        name: str,
        consumes: str = JSON,
    ) -> None:
        """Register under /services/data/vXX.X/ and turn RequestError/SoqlError into API bodies.

        ``consumes`` is the media type a request body must declare (415 otherwise).
        """

        def wrapped(request: SandboxRequest) -> SandboxResponse:
            try:
                refused = self._refuse_formats(request, consumes)
                if refused is not None:
                    return refused
                return handler(request)
            except RequestError as exc:
                return SandboxResponse.json(exc.status, exc.body())
            except SoqlError as exc:
                return SandboxResponse.json(400, error_body(exc.code, exc.message))

        self.route(method, V + pattern, wrapped, name)

    @property
    def clock(self) -> Callable[[], datetime] | None:
        return self.store.clock

    @clock.setter
    def clock(self, value: Callable[[], datetime] | None) -> None:
        self.store.clock = value

    def usage(self) -> tuple[int, int]:
        used = self.api_used
        if self.faults.quota_remaining is not None:
            used = max(self.daily_limit - self.faults.quota_remaining, 0)
        return used, self.daily_limit

    def _refuse_formats(self, request: SandboxRequest, consumes: str) -> SandboxResponse | None:
        """The REST API speaks JSON and XML; this sandbox JSON only, so XML is a named 501, not JSON."""
        accepted = {media_type(part) for part in (request.header("accept") or "").split(",")}
        if accepted & set(_XML) and not accepted & {JSON, "*/*", "application/*", "text/csv"}:
            return self.not_implemented(request, "XML responses")
        if request.method not in _BODY_METHODS or not request.body:
            return None
        declared = request.media_type
        if declared == consumes:
            return None
        if declared in _XML and consumes == JSON:
            return self.not_implemented(request, "XML request bodies")
        msg = f"Content-Type header specified in HTTP request is not supported: {declared or 'none'}"
        return SandboxResponse.json(415, error_body("UNSUPPORTED_MEDIA_TYPE", msg))

    def http_error_response(self, status: int, message: str) -> SandboxResponse:
        code = {415: "UNSUPPORTED_MEDIA_TYPE", 404: "NOT_FOUND"}.get(status, HTTPStatus(status).name)
        return SandboxResponse.json(status, error_body(code, message))

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        response = discovery.version_error(request.path) or super().dispatch(request)
        if request.path.startswith("/services/data/"):
            used, limit = self.usage()
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
        return response

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """The static token or a live OAuth session; the login server's own routes check their own way.

        SOAP carries the session in its ``SessionHeader`` and answers a bad one with a fault.
        """
        if request.path.startswith(("/services/oauth2/", "/id/")) or _PUBLIC.match(request.path):
            return None
        if soap.is_soap(request):
            token = soap.session_id(request) or ""
        else:
            auth = request.header("authorization", "") or ""
            token = auth[7:] if auth.startswith("Bearer ") else ""
        if token != self.access_token:
            if not token or self.oauth.valid_session(token) is None:
                if soap.is_soap(request):
                    return soap.fault_response("INVALID_SESSION_ID",
                                               "Invalid Session ID found in SessionHeader: Illegal Session")
                return SandboxResponse.json(401, error_body("INVALID_SESSION_ID", "Session expired or invalid"))
            self.oauth.count_api_call()
        with self.lock:
            if self.api_used >= self.daily_limit:
                return self.quota_exhausted_response()
            self.api_used += 1
        return None

    def quota_exhausted_response(self) -> SandboxResponse:
        return SandboxResponse.json(
            403, error_body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        )

    def rate_limited_response(self) -> SandboxResponse:
        """Salesforce has no 429: too many concurrent long requests is a 403 with its own message."""
        body = error_body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        return SandboxResponse.json(403, body, {"Retry-After": str(self.faults.retry_after_seconds)})

    def unavailable_response(self) -> SandboxResponse:
        body = error_body("SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later.")
        return SandboxResponse.json(503, body)

    def after_write(self) -> None:
        """Lose the answer to a committed write when the drop_after_write fault says so."""
        if self.consume_write_drop():
            raise DropConnection

    def body_json(self, request: SandboxRequest) -> Any:
        if not request.body:
            msg = "The HTTP entity body is required, but this request has no entity body."
            raise RequestError("JSON_PARSER_ERROR", msg)
        try:
            return request.json()
        except ValueError as exc:
            line, column, reason = json_error_position(exc)
            raise RequestError("JSON_PARSER_ERROR", f"{reason} at [line:{line}, column:{column}]") from None

    @staticmethod
    def shape(object_name: str, version: str, record: dict[str, Any], record_id: str) -> dict[str, Any]:
        url = f"/services/data/v{version}/sobjects/{object_name}/{record_id}"
        return {"attributes": {"type": object_name, "url": url}, **record}

    # -- in-process helpers for seeding and tests -------------------------------------------
    def insert_records(self, object_name: str, rows: list[dict[str, Any]]) -> list[str]:
        """Create records as an admin would (validated, system fields set); raise on the first bad row."""
        ids: list[str] = []
        with self.lock:
            for row in rows:
                outcome = self.store.create(object_name, row)
                if not outcome.success or outcome.id is None:
                    msg = f"cannot insert {object_name} {row}: {outcome.errors}"
                    raise ValueError(msg)
                ids.append(outcome.id)
        return ids

    def get_record(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.store.object(object_name)
            try:
                record = self.store.live(obj, record_id)
            except RecordNotFound:
                return None
            return {name: record.get(name) for name in obj.fields}

    def all_records(self, object_name: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            obj = self.store.object(object_name)
            return [
                {name: r.get(name) for name in obj.fields}
                for r in self.store.records[obj.name].values()
                if include_deleted or not r.get("IsDeleted")
            ]

    def update_record(self, object_name: str, record_id: str, fields: dict[str, Any]) -> None:
        """A user's edit in the UI: validated, bumps LastModifiedDate and SystemModstamp."""
        with self.lock:
            outcome = self.store.update(object_name, record_id, fields)
        if not outcome.success:
            msg = f"cannot update {object_name} {record_id}: {outcome.errors}"
            raise ValueError(msg)

    def merge(self, object_name: str, master_id: str, loser_ids: list[str]) -> None:
        """A user's merge in the UI (what SOAP ``merge()`` does, without HTTP)."""
        with self.lock, self.store.transaction() as rollback:
            try:
                self.store.merge(object_name, master_id, loser_ids)
            except RequestError:
                rollback()
                raise

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {**self.store.dump(), "api_used": self.api_used}

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.store.load(state)
            self.api_used = int(state.get("api_used", 0))
            self._cursors.clear()

    # -- limits and describe -------------------------------------------------------------
    def _limits(self, request: SandboxRequest) -> SandboxResponse:
        used, limit = self.usage()
        return SandboxResponse.json(
            200,
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DataStorageMB": {"Max": 1024, "Remaining": 1000},
                "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            },
        )

    def _describe_global(self, request: SandboxRequest) -> SandboxResponse:
        version = request.params["version"]
        with self.lock:
            sobjects = [o.summary(version) for o in self.store.objects.values() if not o.hidden]
        return SandboxResponse.json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def _describe(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            return SandboxResponse.json(200, obj.describe(request.params["version"]))

    def object_or_404(self, name: str) -> Any:
        try:
            return self.store.api_object(name)
        except RequestError:
            raise RequestError("NOT_FOUND", "The requested resource does not exist", status=404) from None

    # -- queries ------------------------------------------------------------------------
    def _page_size(self, request: SandboxRequest) -> int:
        options = request.header("sforce-query-options") or ""
        m = re.search(r"batchSize\s*=\s*(\d+)", options)
        if not m:
            return DEFAULT_PAGE
        return min(max(int(m.group(1)), 200), 2000)

    def _query(self, request: SandboxRequest, endpoint: str) -> SandboxResponse:
        text = request.arg("q")
        if not text:
            return SandboxResponse.json(
                400, error_body("MALFORMED_QUERY", "A query string has to be specified")
            )
        parsed = parse(text)
        with self.lock:
            try:
                obj = self.store.api_object(parsed.object)
            except RequestError:
                msg = (
                    f"sObject type '{parsed.object}' is not supported. If you are attempting to use a custom "
                    "object, be sure to append the '__c' after the entity name."
                )
                raise RequestError("INVALID_TYPE", msg) from None
            bound = bind(parsed, obj, self.store.parents())
            include_deleted = endpoint == "queryAll"
            rows = [
                r for r in self.store.records[obj.name].values() if include_deleted or not r.get("IsDeleted")
            ]
            result = bound.run(rows)
        if parsed.count:
            return SandboxResponse.json(200, {"totalSize": len(result), "done": True, "records": []})
        cursor = _Cursor(bound, result, request.params["version"], endpoint, self._page_size(request))
        return self._page(cursor, "01g" + secrets.token_hex(8)[:15], 0)

    def _page(self, cursor: _Cursor, locator: str, offset: int) -> SandboxResponse:
        obj_name = cursor.bound.object.name
        end = offset + cursor.page_size
        records = [
            self.shape(obj_name, cursor.version, cursor.bound.project(r), r["Id"])
            for r in cursor.rows[offset:end]
        ]
        body: dict[str, Any] = {
            "totalSize": len(cursor.rows),
            "done": end >= len(cursor.rows),
            "records": records,
        }
        with self.lock:
            if body["done"]:
                self._cursors.pop(locator, None)
            else:
                body["nextRecordsUrl"] = f"/services/data/v{cursor.version}/{cursor.endpoint}/{locator}-{end}"
                self._cursors[locator] = cursor
                self._cursors.move_to_end(locator)
                while len(self._cursors) > MAX_CURSORS:
                    self._cursors.popitem(last=False)
        return SandboxResponse.json(200, body)

    def _query_more(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            cursor = self._cursors.get(request.params["locator"])
        if cursor is None:
            msg = "invalid query locator"
            return SandboxResponse.json(400, error_body("INVALID_QUERY_LOCATOR", msg))
        return self._page(cursor, request.params["locator"], int(request.params["offset"]))

    # -- single records ------------------------------------------------------------------
    @staticmethod
    def field_names(obj: Any, wanted: list[str]) -> list[str]:
        """The canonical names of the requested fields (any case); INVALID_FIELD for an unknown one."""
        names = []
        for name in wanted:
            fdef = obj.get_field(name.strip())
            if fdef is None:
                msg = f"No such column '{name.strip()}' on sobject of type {obj.name}"
                raise RequestError("INVALID_FIELD", msg)
            names.append(fdef.name)
        return names

    def _full(self, request: SandboxRequest, obj: Any, record: dict[str, Any]) -> SandboxResponse:
        wanted = request.arg("fields")
        names = self.field_names(obj, wanted.split(",")) if wanted else list(obj.fields)
        values = {n: record.get(n) for n in names}
        return SandboxResponse.json(
            200, self.shape(obj.name, request.params["version"], values, record["Id"])
        )

    def _get(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            record = self.store.live(obj, request.params["id"])
            if record.get("IsDeleted"):
                raise RecordNotFound(obj.name, record["Id"])
            return self._full(request, obj, record)

    def _get_by_external(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            fdef = self.store.external_field(obj, request.params["field"])
            matches = self.store.find_external(obj.name, fdef.name, request.params["value"])
            if not matches:
                raise RecordNotFound(obj.name, request.params["value"])
            if len(matches) > 1:
                version = request.params["version"]
                return SandboxResponse.json(
                    300, [f"/services/data/v{version}/sobjects/{obj.name}/{i}" for i in matches]
                )
            return self._full(request, obj, self.store.records[obj.name][matches[0]])

    def _payload(self, request: SandboxRequest) -> dict[str, Any]:
        body = self.body_json(request)
        if not isinstance(body, dict):
            raise RequestError("JSON_PARSER_ERROR", "The request body must be a JSON object of field values")
        return body

    def _create(self, request: SandboxRequest) -> SandboxResponse:
        payload = self._payload(request)
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            outcome = self.store.create(obj.name, payload)
        if not outcome.success:
            return outcome_error(outcome)
        self.after_write()
        return SandboxResponse.json(201, outcome.as_json())

    def _update(self, request: SandboxRequest) -> SandboxResponse:
        payload = self._payload(request)
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            self.store.live(obj, request.params["id"])  # 404 for unknown ids
            outcome = self.store.update(obj.name, request.params["id"], payload)
        if not outcome.success:
            return outcome_error(outcome)
        self.after_write()
        return SandboxResponse.empty(204)

    def _delete(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            self.store.live(obj, request.params["id"])
            outcome = self.store.delete(request.params["id"], obj.name)
        if not outcome.success:
            return outcome_error(outcome)
        self.after_write()
        return SandboxResponse.empty(204)

    def _upsert(self, request: SandboxRequest) -> SandboxResponse:
        payload = self._payload(request)
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            try:
                outcome = self.store.upsert(obj.name, request.params["field"], request.params["value"], payload)
            except MultipleMatches as exc:
                version = request.params["version"]
                return SandboxResponse.json(300, [f"/services/data/v{version}/sobjects/{obj.name}/{i}" for i in exc.ids])
        if not outcome.success:
            return outcome_error(outcome)
        self.after_write()
        return SandboxResponse.json(201 if outcome.created else 200, outcome.as_json(with_created=True))

    # -- replication ----------------------------------------------------------------------
    def _window(self, request: SandboxRequest) -> tuple[str, str]:
        bounds = []
        for name in ("start", "end"):
            raw = request.arg(name)
            if not raw:
                raise RequestError("MISSING_ARGUMENT", f"Missing required parameter: {name}")
            try:
                bounds.append(format_datetime(parse_datetime(raw.replace(" ", "+"))))
            except ValueError:
                raise RequestError("INVALID_REPLICATION_DATE", f"{name}: invalid date {raw}") from None
        if bounds[0] > bounds[1]:
            raise RequestError("INVALID_REPLICATION_DATE", "start must be before end")
        # what the answer covers ends now at the latest: a client that starts its next window at
        # latestDateCovered must not skip the changes made between now and a future end
        return bounds[0], min(bounds[1], self.store.stamp())

    def _deleted(self, request: SandboxRequest) -> SandboxResponse:
        start, end = self._window(request)
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            found = [
                {"id": rid, "deletedDate": self.store.deleted_at[rid]}
                for rid, r in self.store.records[obj.name].items()
                if r.get("IsDeleted") and start <= self.store.deleted_at.get(rid, "") <= end
            ]
            earliest = min((d["deletedDate"] for d in found), default=start)
        found.sort(key=lambda d: d["deletedDate"])
        return SandboxResponse.json(
            200, {"deletedRecords": found, "earliestDateAvailable": earliest, "latestDateCovered": end}
        )

    def _updated(self, request: SandboxRequest) -> SandboxResponse:
        start, end = self._window(request)
        with self.lock:
            obj = self.object_or_404(request.params["obj"])
            ids = [
                rid
                for rid, r in self.store.records[obj.name].items()
                if not r.get("IsDeleted") and start <= r["SystemModstamp"] <= end
            ]
        return SandboxResponse.json(200, {"ids": ids, "latestDateCovered": end})
