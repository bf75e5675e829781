"""Bulk API 2.0: ingest jobs (CSV in, CSV results out) and query jobs (CSV pages).

Ingest: ``POST jobs/ingest`` (Open) -> one ``PUT .../batches`` of CSV (201) ->
``PATCH`` state UploadComplete -> polls see InProgress once, then JobComplete
(or Failed with ``errorMessage``). Rows are processed at UploadComplete
through the same store as REST writes, so validation is identical; results
are served as CSV from ``successfulResults/`` (``sf__Id,sf__Created,...``),
``failedResults/`` (``sf__Id,sf__Error,...``) and ``unprocessedrecords/``.

Query: ``POST jobs/query`` snapshots the result; ``GET .../results`` pages it
with ``maxRecords`` and the ``Sforce-Locator`` / ``Sforce-NumberOfRecords``
headers (locator ``null`` on the last page), all fields quoted as Salesforce does.
"""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.salesforce.ids import make_id
from connectors.sandbox.salesforce.query import BoundQuery, bind
from connectors.sandbox.salesforce.soql import parse
from connectors.sandbox.salesforce.store import WriteOutcome
from connectors.sandbox.salesforce.validation import RequestError, record_error

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceSandbox

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
_CSV = "text/csv; charset=UTF-8"
DEFAULT_QUERY_PAGE = 50_000
INTERNAL_BATCH = 10_000  # Salesforce chunks an ingest job's data into batches of 10,000 records
STALLED_MESSAGE = "InvalidBatch : a batch could not be processed within 5 minutes after 20 retries (sandbox fault)"


@dataclass
class Job:
    id: str
    kind: str  # ingest / query
    info: dict[str, Any]
    polls: int = 0
    final_state: str = "JobComplete"
    csv_data: str | None = None
    header: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    query: BoundQuery | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


def register(app: SalesforceSandbox) -> BulkJobs:
    jobs = BulkJobs(app)
    app.sf_route("POST", r"jobs/ingest/?", jobs.create_ingest, "bulk.ingest_create")
    app.sf_route("GET", r"jobs/ingest/?", lambda r: jobs.list_jobs(r, "ingest"), "bulk.ingest_list")
    app.sf_route(
        "PUT", r"jobs/ingest/(?P<job>\w+)/batches/?", jobs.upload, "bulk.ingest_upload", consumes="text/csv"
    )
    app.sf_route(
        "GET",
        r"jobs/ingest/(?P<job>\w+)/(?P<kind>successfulResults|failedResults|unprocessedrecords|unprocessedRecords)/?",
        jobs.ingest_results,
        "bulk.ingest_results",
    )
    app.sf_route("GET", r"jobs/ingest/(?P<job>\w+)/?", lambda r: jobs.get_job(r, "ingest"), "bulk.ingest_get")
    app.sf_route(
        "PATCH", r"jobs/ingest/(?P<job>\w+)/?", lambda r: jobs.set_state(r, "ingest"), "bulk.ingest_state"
    )
    app.sf_route(
        "DELETE", r"jobs/ingest/(?P<job>\w+)/?", lambda r: jobs.delete_job(r, "ingest"), "bulk.ingest_delete"
    )
    app.sf_route("POST", r"jobs/query/?", jobs.create_query, "bulk.query_create")
    app.sf_route("GET", r"jobs/query/?", lambda r: jobs.list_jobs(r, "query"), "bulk.query_list")
    app.sf_route("GET", r"jobs/query/(?P<job>\w+)/results/?", jobs.query_results, "bulk.query_results")
    app.sf_route("GET", r"jobs/query/(?P<job>\w+)/?", lambda r: jobs.get_job(r, "query"), "bulk.query_get")
    app.sf_route(
        "PATCH", r"jobs/query/(?P<job>\w+)/?", lambda r: jobs.set_state(r, "query"), "bulk.query_state"
    )
    app.sf_route(
        "DELETE", r"jobs/query/(?P<job>\w+)/?", lambda r: jobs.delete_job(r, "query"), "bulk.query_delete"
    )
    return jobs


def _csv_text(
    header: list[str],
    rows: list[list[str]],
    delimiter: str = ",",
    line_ending: str = "\n",
    quote_all: bool = False,
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        lineterminator=line_ending,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BulkJobs:
    def __init__(self, app: SalesforceSandbox) -> None:
        self.app = app
        self.store = app.store
        self.jobs: dict[str, Job] = {}

    # -- common ----------------------------------------------------------------
    def _job(self, request: SandboxRequest, kind: str) -> Job:
        job = self.jobs.get(request.params["job"])
        if job is None or job.kind != kind:
            raise RequestError("NOT_FOUND", "The requested resource does not exist", status=404)
        return job

    def _new_info(
        self, request: SandboxRequest, kind: str, body: dict[str, Any], obj: str, operation: str
    ) -> dict[str, Any]:
        version = request.params["version"]
        job_id = make_id("750", self.store.next_counter())
        now = self.store.stamp()
        user = self.app.oauth.bearer_user(request, self.app.access_token)  # the job is the session user's
        info: dict[str, Any] = {
            "id": job_id,
            "operation": operation,
            "object": obj,
            "createdById": user.user_id if user else self.store.api_user_id,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open" if kind == "ingest" else "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        }
        if kind == "ingest":
            if body.get("externalIdFieldName"):
                info["externalIdFieldName"] = body["externalIdFieldName"]
            info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{job_id}/batches"
        return info

    def _status(self, job: Job) -> dict[str, Any]:
        info = dict(job.info)
        processed = len(job.successes) + len(job.failures)
        info.update(
            {
                "jobType": "V2Ingest" if job.kind == "ingest" else "V2Query",
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
                "numberRecordsProcessed": processed if job.kind == "ingest" else len(job.rows),
            }
        )
        if job.kind == "ingest":
            info["numberRecordsFailed"] = len(job.failures)
        return info

    def list_jobs(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        with self.app.lock:
            records = [self._status(j) for j in self.jobs.values() if j.kind == kind]
        return SandboxResponse.json(200, {"done": True, "records": records, "nextRecordsUrl": None})

    def get_job(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        with self.app.lock:
            job = self._job(request, kind)
            if job.info["state"] in {"UploadComplete", "InProgress"}:
                # processing is instant; show InProgress once so pollers exercise their loop
                job.polls += 1
                job.info["state"] = "InProgress" if job.polls == 1 else job.final_state
            return SandboxResponse.json(200, self._status(job))

    def set_state(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        body = self.app.body_json(request) or {}
        state = body.get("state")
        with self.app.lock:
            job = self._job(request, kind)
            current = job.info["state"]
            if state == "Aborted" and current in {"Open", "UploadComplete", "InProgress"}:
                job.info["state"] = "Aborted"
            elif state == "UploadComplete" and kind == "ingest" and current == "Open":
                self._process(job)
                job.info["state"] = "UploadComplete"
            else:
                msg = f"Cannot change job state from {current} to {state}"
                raise RequestError("INVALIDJOBSTATE", msg)
            job.info["systemModstamp"] = self.store.stamp()
            return SandboxResponse.json(200, job.info)

    def delete_job(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        with self.app.lock:
            job = self._job(request, kind)
            if job.info["state"] in {"Open", "UploadComplete", "InProgress"}:
                raise RequestError(
                    "INVALIDJOBSTATE", "Cannot delete a job that has not finished; abort it first"
                )
            del self.jobs[job.id]
        return SandboxResponse.empty(204)

    # -- ingest ---------------------------------------------------------------
    def create_ingest(self, request: SandboxRequest) -> SandboxResponse:
        body = self.app.body_json(request)
        if not isinstance(body, dict):
            raise RequestError("INVALIDJOB", "InvalidJob : The job needs a JSON body")
        operation = body.get("operation")
        if operation not in _OPERATIONS:
            raise RequestError("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if body.get("contentType", "CSV") != "CSV":
            raise RequestError("INVALIDJOB", "InvalidJob : contentType must be CSV")
        with self.app.lock:
            try:
                obj = self.store.api_object(str(body.get("object", "")))
            except RequestError:
                raise RequestError(
                    "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}"
                ) from None
            if operation == "upsert":
                ext = body.get("externalIdFieldName")
                if not ext:
                    raise RequestError("INVALIDJOB", "InvalidJob : External ID was blank for upsert")
                try:
                    body["externalIdFieldName"] = self.store.external_field(obj, str(ext)).name
                except RequestError:
                    raise RequestError(
                        "INVALIDJOB",
                        f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field for {obj.name}",
                    ) from None
            job = Job("", "ingest", self._new_info(request, "ingest", body, obj.name, operation))
            job.id = job.info["id"]
            self.jobs[job.id] = job
        return SandboxResponse.json(200, job.info)

    def upload(self, request: SandboxRequest) -> SandboxResponse:
        with self.app.lock:
            job = self._job(request, "ingest")
            if job.info["state"] != "Open" or job.csv_data is not None:
                raise RequestError("INVALIDJOBSTATE", "Data can be uploaded once, while the job is Open")
            job.csv_data = request.body.decode("utf-8")
        return SandboxResponse.empty(201)

    def _process(self, job: Job) -> None:
        info = job.info
        reader = csv.reader(
            io.StringIO(job.csv_data or "", newline=""), delimiter=_DELIMITERS[info["columnDelimiter"]]
        )
        rows = list(reader)
        if not rows:
            job.final_state, info["errorMessage"] = "Failed", "InvalidBatch : Empty CSV file"
            return
        job.header, data = rows[0], [r for r in rows[1:] if r]
        obj = self.store.object(info["object"])
        for column in job.header:
            base = column.split(".")[0]
            if (
                obj.get_field(column) is None
                and obj.get_field(base) is None
                and obj.relationship(base) is None
            ):
                job.final_state, info["errorMessage"] = (
                    "Failed",
                    f"InvalidBatch : Field name not found : {column}",
                )
                job.unprocessed = data
                return
        stalled = self._stalled_batch(job.header, data)
        if stalled is not None:
            data, job.unprocessed = data[:stalled], data[stalled:]
            job.final_state, info["errorMessage"] = "Failed", STALLED_MESSAGE
        operation = info["operation"]
        key = info.get("externalIdFieldName")
        counts = (
            Counter(dict(zip(job.header, r, strict=False)).get(key or "", "").lower() for r in data)
            if key
            else Counter()
        )
        for raw in data:
            row = dict(zip(job.header, raw, strict=False))
            outcome = self._write(obj.name, operation, key, row, counts)
            if outcome.success:
                job.successes.append([outcome.id or "", "true" if outcome.created else "false", *raw])
            else:
                error = outcome.errors[0]
                text = f"{error['statusCode']}:{error['message']}:{','.join(error['fields'])} --"
                job.failures.append([outcome.id or "", text, *raw])

    def _stalled_batch(self, header: list[str], data: list[list[str]]) -> int | None:
        """Where the first internal batch holding a ``stalled_bulk_values`` value starts, or None.

        Salesforce documents the case, not its text: a batch it cannot process
        within 5 minutes is retried up to 20 times, then the whole job is moved
        to Failed and the remaining data is not processed.
        """
        stalled = self.app.faults.stalled_bulk_values
        if not stalled:
            return None
        for number, raw in enumerate(data):
            row = dict(zip(header, raw, strict=False))
            if any(row.get(name) in values for name, values in stalled.items()):
                return number - number % INTERNAL_BATCH
        return None

    def _write(
        self, obj: str, operation: str, key: str | None, row: dict[str, str], counts: Counter[str]
    ) -> WriteOutcome:
        try:
            if operation == "insert":
                return self.store.create(obj, row, source="csv")
            if operation == "delete":
                return self.store.delete(row.get("Id", ""), obj)
            if operation == "hardDelete":
                return self.store.hard_delete(row.get("Id", ""), obj)
            if operation == "update":
                if not row.get("Id"):
                    return WriteOutcome(
                        None,
                        False,
                        [record_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])],
                    )
                body = {k: v for k, v in row.items() if k != "Id"}
                return self.store.update(obj, row["Id"], body, source="csv")
            value = row.get(key or "", "")
            if value and counts[value.lower()] > 1:
                msg = f"Duplicate external id specified: {value}"
                return WriteOutcome(None, False, [record_error("DUPLICATE_EXTERNAL_ID", msg, [key or ""])])
            body = {k: v for k, v in row.items() if k != key}
            return self.store.upsert(obj, key or "Id", value, body, source="csv")
        except RequestError as exc:
            return WriteOutcome(None, False, [record_error(exc.code, exc.message, exc.fields)])

    def ingest_results(self, request: SandboxRequest) -> SandboxResponse:
        with self.app.lock:
            job = self._job(request, "ingest")
            if job.info["state"] not in {"JobComplete", "Failed", "Aborted"}:
                raise RequestError("INVALIDJOBSTATE", "Results are available once the job has finished")
            kind = request.params["kind"].lower()
            if kind == "successfulresults":
                text = _csv_text(["sf__Id", "sf__Created", *job.header], job.successes)
            elif kind == "failedresults":
                text = _csv_text(["sf__Id", "sf__Error", *job.header], job.failures)
            else:
                text = _csv_text(job.header, job.unprocessed)
        return SandboxResponse.text(200, text, _CSV)

    # -- query ------------------------------------------------------------------
    def create_query(self, request: SandboxRequest) -> SandboxResponse:
        body = self.app.body_json(request)
        if not isinstance(body, dict) or not body.get("query"):
            raise RequestError("INVALIDJOB", "InvalidJob : A query job needs a query")
        operation = body.get("operation", "query")
        if operation not in {"query", "queryAll"}:
            raise RequestError("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        parsed = parse(str(body["query"]))
        if parsed.count:
            raise RequestError(
                "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0"
            )
        with self.app.lock:
            obj = self.store.api_object(parsed.object)
            bound = bind(parsed, obj, self.store.parents())
            rows = [
                r
                for r in self.store.records[obj.name].values()
                if operation == "queryAll" or not r.get("IsDeleted")
            ]
            job = Job("", "query", self._new_info(request, "query", body, obj.name, operation), query=bound)
            job.rows = bound.run(rows)
            job.id = job.info["id"]
            self.jobs[job.id] = job
        return SandboxResponse.json(200, job.info)

    def query_results(self, request: SandboxRequest) -> SandboxResponse:
        with self.app.lock:
            job = self._job(request, "query")
            if job.info["state"] != "JobComplete" or job.query is None:
                raise RequestError("INVALIDJOBSTATE", "Results are available once the job is JobComplete")
            locator = request.arg("locator") or ""
            try:
                offset = int(base64.b64decode(locator).decode()) if locator else 0
                max_records = int(request.arg("maxRecords") or DEFAULT_QUERY_PAGE)
            except ValueError:
                raise RequestError("INVALIDLOCATOR", f"Invalid locator or maxRecords: {locator}") from None
            if max_records <= 0:
                raise RequestError("INVALIDLOCATOR", "maxRecords must be positive")
            page = job.rows[offset : offset + max_records]
            bound = job.query
            header = [f.name for f in bound.fields]
            rows = [[_cell(r.get(name)) for name in header] for r in page]
            end = offset + len(page)
        next_locator = base64.b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
        text = _csv_text(
            header,
            rows,
            _DELIMITERS[job.info["columnDelimiter"]],
            _LINE_ENDINGS[job.info["lineEnding"]],
            True,
        )
        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))}
        return SandboxResponse.text(200, text, _CSV, headers)
