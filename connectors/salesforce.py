"""The Salesforce connector: simple-salesforce over a session that retries, counts and guards quota.

Transport concerns live in ``salesforce_session.SalesforceSession`` (a ``requests.Session``)
because simple-salesforce, its ``SFType`` objects and its Bulk 2.0 client all
share the session: one place sees every request, so counting, the quota
reserve, the client-side rate limit, TLS verification and retries apply to
query pages and bulk polls alike.

* TLS: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override ``session.verify``
  in requests; the session passes ``verify=`` on every request instead.
* Retries (tenacity, exponential backoff with jitter, ``Retry-After``
  honoured) on 5xx, connection errors, timeouts and Salesforce's
  concurrent-request 403; never on other 4xx. Writes are retried too: the
  connector only writes by external id (idempotent) and deletes (a repeat
  says ENTITY_IS_DELETED, which counts as success).
* Quota: every ``Sforce-Limit-Info`` header updates ``quota()``; once the
  remaining budget is at or below ``quota_reserve_pct`` the session raises
  ``QuotaExhausted`` before sending, leaving the rest for other integrations.
* Sign-in (``salesforce_auth``): the connector signs in when it is built
  (static token, JWT bearer or client credentials) and talks to the
  ``instance_url`` the token answer names. Every request that carries a
  bearer token gets the current one, so Bulk 2.0 handlers built before a
  renewal keep working; a ``401 INVALID_SESSION_ID`` renews the session once
  and resends the interrupted call (``salesforce_decisions`` holds that row
  with the others). simple-salesforce never renews a session it was handed.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest, SalesforceOperationError

from connectors.base import Cursor, FieldInfo, Quota, RemoteRecord, UpsertRequest, WriteResult, page
from connectors.isolate import BatchRefused, write_isolating
from connectors.salesforce_auth import Credentials, SessionToken, StaticToken
from connectors.salesforce_bulk import BulkJobFailed, bulk_hard_delete, bulk_upsert, typed_csv_rows
from connectors.salesforce_decisions import Failure, decide
from connectors.salesforce_session import SalesforceSession, error_info
from connectors.salesforce_soql import soql_datetime, soql_field, soql_quote
from connectors.salesforce_values import CODE as VALUE_OUT_OF_RANGE
from connectors.salesforce_values import first_problem
from prm_sync.errors import (
    AuthError,
    ConfigError,
    FatalError,
    Problem,
    QuotaExhausted,
    RemoteErrorInfo,
    TransientError,
)

log = logging.getLogger(__name__)
SYSTEM = "salesforce"
_MISSING_FIELD = re.compile(r"No such column|external ID field does not exist|is not accessible")
_RETRYABLE_RECORD_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}


class SalesforceSettings(BaseModel):
    """How to reach one org; secrets stay in ``SecretStr``.

    Either ``access_token`` (a static session id, with ``instance_url``) or
    ``auth`` (OAuth 2.0 credentials; the token answer names the instance).
    """

    instance_url: str | None = None
    access_token: SecretStr | None = Field(None, description="a static session id (no renewal)")
    auth: Credentials | None = Field(None, description="OAuth 2.0 credentials: JWT bearer or client credentials")
    api_version: str = "59.0"
    ca_bundle: str | None = None
    bulk_threshold: int = Field(2000, ge=1)
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(5, ge=0)
    quota_reserve_pct: float = Field(10.0, ge=0, le=100)
    max_requests_per_second: float | None = Field(None, gt=0)
    retry_wait_initial: float = Field(0.5, ge=0, description="first backoff step, seconds")
    retry_wait_max: float = Field(30.0, ge=0, description="longest single wait, Retry-After included")
    bulk_poll_seconds: float = Field(1.0, ge=0, description="Bulk API 2.0 job polling interval")

    @model_validator(mode="after")
    def _one_way_in(self) -> SalesforceSettings:
        if (self.access_token is None) == (self.auth is None):
            msg = "give either access_token (a static session id) or auth (OAuth 2.0 credentials)"
            raise ValueError(msg)
        if self.access_token is not None and self.instance_url is None:
            msg = "a static access_token needs instance_url"
            raise ValueError(msg)
        return self

    def credentials(self) -> Credentials:
        if self.auth is not None:
            return self.auth
        assert self.access_token is not None
        return StaticToken(access_token=self.access_token)

    @field_validator("instance_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            msg = f"instance_url must look like https://host[:port], got {value!r}"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2,3}\.0", value):
            msg = f"api_version must look like 59.0, got {value!r}"
            raise ValueError(msg)
        return value



def _to_json(value: Any) -> Any:
    """Python values the mapping layer may hand us -> what the REST API expects."""
    if type(value) is str:  # most values: skip the checks below
        return value
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"{value} is not a number the REST API accepts"  # JSON has no NaN or infinity
        raise ValueError(msg)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _json_body(payload: Any) -> bytes:
    """The request body: orjson, or the standard library for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload, allow_nan=False).encode()


def _parse_stamp(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


class SalesforceConnector:
    """Reads and writes one Salesforce org through the REST, Collections and Bulk 2.0 APIs."""

    system: ClassVar[str] = SYSTEM
    batch_size: ClassVar[int] = 200

    def __init__(self, settings: SalesforceSettings) -> None:
        self.settings = settings
        self.session = SalesforceSession(settings)
        token = self.session.connect()
        self.sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token.get_secret_value(),
            version=settings.api_version,
            session=self.session,
            object_pairs_hook=dict,  # plain dicts: OrderedDict parsing cost more than the answer's JSON itself
        )
        self.session.on_renew = self._adopt
        self._describe_cache: dict[str, list[FieldInfo]] = {}

    def _adopt(self, token: SessionToken) -> None:
        """Keep simple-salesforce's own copy of the session current (the session rewrites headers anyway)."""
        self.sf.session_id = token.access_token.get_secret_value()
        self.sf.headers["Authorization"] = f"Bearer {self.sf.session_id}"

    @property
    def instance_url(self) -> str:
        """Where the org's API lives (for OAuth, what the token answer said)."""
        assert self.session.token is not None
        return self.session.token.instance_url

    @property
    def api_calls(self) -> int:
        return self.session.calls

    def quota(self) -> Quota:
        return Quota(used=self.session.used, limit=self.session.limit, window="daily")

    # -- error translation ----------------------------------------------------------
    def _translate(self, exc: SalesforceError) -> Exception:
        """The exception class the decision table's ``failure`` names for an answer simple-salesforce raised."""
        info = error_info(exc.status, exc.content, f"HTTP_{exc.status}")
        failure = decide(exc.status, exc.content, str(exc.content)).failure
        if failure is Failure.AUTH:
            if exc.status == 401:
                info.message = f"{info.message}; {self.session.signer.expired_hint()}"
            return AuthError(info)
        if failure is Failure.QUOTA:
            return QuotaExhausted(info)
        if failure is Failure.CONFIG:
            message = f"salesforce refused the request: {info.code}: {info.message}"
            if _MISSING_FIELD.search(info.message):  # a new org, or a field the integration user cannot see
                return ConfigError([Problem(message, hint="create it, and grant the integration user access, with "
                                            "`prm-sync setup`")])
            return ConfigError(message)
        if failure is Failure.TRANSIENT:
            return TransientError(info)
        return FatalError(f"salesforce: HTTP {exc.status} {info.code}: {info.message}")

    # -- describe -------------------------------------------------------------------
    def forget_describe(self) -> None:
        """Drop cached describes: setup just created fields, and the next describe must show them."""
        self._describe_cache.clear()

    def describe(self, object_name: str) -> list[FieldInfo]:
        """Fields of ``object_name`` (cached per connector: describe rarely changes mid-run)."""
        soql_field(object_name)
        if object_name not in self._describe_cache:
            try:
                body = getattr(self.sf, object_name).describe()
            except SalesforceError as exc:
                if exc.status == 404:  # a new org: the custom object is not there yet
                    hint = "create it with `prm-sync setup` (`prm-sync validate --remote` lists everything missing)"
                    raise ConfigError([Problem(f"the Salesforce org has no object {object_name}", hint=hint)]) from None
                raise self._translate(exc) from None
            self._describe_cache[object_name] = [
                FieldInfo(
                    name=f["name"], type=f["type"], label=f.get("label"), length=f.get("length") or None,
                    nillable=bool(f.get("nillable", True)),
                    required_on_create=bool(f.get("createable")) and not f.get("nillable", True)
                    and not f.get("defaultedOnCreate", False),
                    updateable=bool(f.get("updateable", False)),
                    external_id=bool(f.get("externalId", False)), unique=bool(f.get("unique", False)),
                    picklist_values=[p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)],
                    precision=f.get("precision") or f.get("digits") or None,
                    scale=f.get("scale") if f.get("precision") else (0 if f.get("digits") else None),
                )
                for f in body["fields"]
            ]
        return self._describe_cache[object_name]

    def _field_names(self, object_name: str) -> set[str]:
        return {f.name for f in self.describe(object_name)}

    def _require_fields(self, object_name: str, names: list[str]) -> None:
        """Every field a query or write names must be in the describe; say which are not, all at once.

        Salesforce names only the first unknown column it meets ("No such column
        'Partner_Tier__c'", or the upsert's external id field), so a new org would
        be fixed one field per run; the describe the connector holds anyway lists
        them all. Relationship paths (``Account.Name``) are left to the API.
        """
        known = {n.lower() for n in self._field_names(object_name)}
        missing = [n for n in dict.fromkeys(names) if "." not in n and n.lower() not in known]
        if missing:
            them = "it" if len(missing) == 1 else "them"
            msg = (f"the Salesforce org has no field {', '.join(missing)} on {object_name}, or the integration user "
                   f"cannot see {them}")
            raise ConfigError([Problem(msg, hint=f"create {them}, and grant the integration user access, with "
                                       "`prm-sync setup` (`prm-sync validate --remote` lists everything missing)")])

    # -- reads ----------------------------------------------------------------------
    def _select(self, object_name: str, fields: list[str]) -> list[str]:
        names = self._field_names(object_name)
        wanted = ["Id", "SystemModstamp", "IsDeleted"]
        if "MasterRecordId" in names:
            wanted.append("MasterRecordId")
        for name in fields:
            soql_field(name)
            if name not in wanted:
                wanted.append(name)
        self._require_fields(object_name, fields)
        return wanted

    def _record(self, raw: dict[str, Any]) -> RemoteRecord:
        fields = {k: v for k, v in raw.items() if k != "attributes"}
        return RemoteRecord(
            id=str(fields["Id"]),
            fields=fields,
            modstamp=_parse_stamp(str(fields["SystemModstamp"])),
            deleted=bool(fields.get("IsDeleted")),
            merged_into=fields.get("MasterRecordId") or None,
        )

    def changes_query(
        self, object_name: str, fields: list[str], since: Cursor, *, where: str | None = None, until: datetime | None = None
    ) -> str:
        """The SOQL for one incremental window; public so run metadata can show it.

        The window is ``(since, until]`` on ``(SystemModstamp, Id)``: records at the
        cursor's stamp with a larger Id are still unread. SystemModstamp is not
        unique and can commit late, so the engine passes an earlier ``since``
        (an overlap window) and dedupes; this method reads exactly what it is given.
        ``where`` is trusted SOQL from the mapping config, never user data.
        """
        select = self._select(soql_field(object_name), fields)
        conditions = []
        if since.modstamp is not None:
            stamp = soql_datetime(since.modstamp)
            if since.last_id:
                conditions.append(
                    f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {soql_quote(since.last_id)}))"
                )
            else:
                conditions.append(f"SystemModstamp > {stamp}")
        if until is not None:
            conditions.append(f"SystemModstamp <= {soql_datetime(until)}")
        if where:
            conditions.append(f"({where})")
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {', '.join(select)} FROM {object_name}{clause} ORDER BY SystemModstamp, Id"

    def read_changes(
        self,
        object_name: str,
        fields: list[str],
        since: Cursor,
        *,
        where: str | None = None,
        until: datetime | None = None,
        include_deleted: bool = True,
    ) -> Iterator[RemoteRecord]:
        """Records changed in ``(since, until]`` ascending by (SystemModstamp, Id), deletes via queryAll."""
        soql = self.changes_query(object_name, fields, since, where=where, until=until)
        try:
            for raw in self.sf.query_all_iter(soql, include_deleted=include_deleted):
                yield self._record(raw)
        except SalesforceError as exc:
            raise self._translate(exc) from None

    def read_all(self, object_name: str, fields: list[str], *, where: str | None = None) -> Iterator[RemoteRecord]:
        """A snapshot of live records: REST query when small, a Bulk 2.0 query job above ``bulk_threshold``.

        One ``SELECT COUNT()`` decides. Bulk results are CSV; values are turned back
        into the REST API's JSON types with describe, so both paths yield the same
        shapes. Bulk results are not ordered; the REST path orders by Id.
        """
        select = self._select(soql_field(object_name), fields)
        clause = f" WHERE ({where})" if where else ""  # parenthesised like changes_query: a filter is one condition
        try:
            count = self.sf.query(f"SELECT COUNT() FROM {object_name}{clause}")["totalSize"]
            soql = f"SELECT {', '.join(select)} FROM {object_name}{clause}"
            if count <= self.settings.bulk_threshold:
                for raw in self.sf.query_all_iter(soql + " ORDER BY Id"):
                    yield self._record(raw)
                return
            types = {f.name: f.type for f in self.describe(object_name)}
            pages = getattr(self.sf.bulk2, object_name).query(soql, wait=self.settings.bulk_poll_seconds)
            for csv_text in pages:
                for row in typed_csv_rows(str(csv_text), types):
                    yield self._record(row)
        except SalesforceError as exc:
            raise self._translate(exc) from None
        except SalesforceOperationError as exc:
            raise TransientError(RemoteErrorInfo(SYSTEM, None, "BULK_QUERY_FAILED", str(exc)[:500])) from None

    def merged_into(self, object_name: str, remote_ids: list[str]) -> dict[str, str]:
        """Which of these ids a merge deleted, and the survivor each went into (``MasterRecordId``).

        Reconcile asks this for linked records its live read did not find: a
        merge loser waits in the Recycle Bin (queryAll) with the survivor's id.
        """
        if not remote_ids or "MasterRecordId" not in self._field_names(object_name):
            return {}
        found: dict[str, str] = {}
        for chunk in page(remote_ids, 200):  # SOQL's IN list stays well under the query length limit
            ids = ", ".join(soql_quote(i) for i in chunk)
            soql = f"SELECT Id, MasterRecordId FROM {soql_field(object_name)} WHERE Id IN ({ids}) AND IsDeleted = true"
            try:
                found.update({str(r["Id"]): str(r["MasterRecordId"])
                              for r in self.sf.query_all_iter(soql, include_deleted=True) if r.get("MasterRecordId")})
            except SalesforceError as exc:
                raise self._translate(exc) from None
        return found

    # -- writes ------------------------------------------------------------------------
    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        """Idempotent upsert by external id; one result per request, in order.

        Duplicate keys inside the batch collapse (last wins) and share one result,
        because the API rejects a key that appears twice in one call. Nested
        relationship values (``{"Registered_Partner__r": {"PRM_Id__c": "ptn_1"}}``)
        pass through. Above ``bulk_threshold`` distinct keys, Bulk API 2.0 is used.
        """
        soql_field(object_name)
        soql_field(key_field)
        latest: dict[str, UpsertRequest] = {}
        for request in records:
            latest.pop(request.key, None)
            latest[request.key] = request
        try:
            return self._upsert_unique(object_name, key_field, records, list(latest.values()))
        except ConfigError:
            # the org refused the call as a whole (the external id field is missing, say): name every
            # missing field it writes, not only the one Salesforce named; nested relationship values
            # ({"Partner__r": {...}}) name a relationship, not a field
            written = (k for r in latest.values() for k, v in r.fields.items() if not isinstance(v, dict))
            self._require_fields(object_name, [key_field, *written])
            raise

    def _upsert_unique(
        self, object_name: str, key_field: str, records: list[UpsertRequest], latest: list[UpsertRequest]
    ) -> list[WriteResult]:
        by_key, unique = self._out_of_range(object_name, latest)
        if len(unique) > self.settings.bulk_threshold:
            rows = [{**{k: _to_json(v) for k, v in r.fields.items()}, key_field: r.key} for r in unique]
            try:
                by_key.update(bulk_upsert(self.sf, object_name, key_field, rows, self.settings.bulk_poll_seconds))
                unique = []
            except BulkJobFailed as failed:
                # a job failed whole (one batch Salesforce could not process): every record is sent again
                # through Collections, where each gets its own answer; upsert by key makes the resend safe
                log.warning("salesforce %s: bulk upsert job failed (%s); resending %d records through "
                            "sObject Collections", object_name, failed, len(unique))
            except SalesforceError as exc:
                raise self._translate(exc) from None
        for chunk in page(unique, self.batch_size):
            # a call refused whole for one record's value: halves find it (connectors.isolate)
            by_key.update(write_isolating(
                chunk, lambda part: self._upsert_chunk(object_name, key_field, list(part)), lambda r: r.key))
        return [by_key[r.key].model_copy(update={"key": r.key}) for r in records]

    def _out_of_range(
        self, object_name: str, requests_: list[UpsertRequest]
    ) -> tuple[dict[str, WriteResult], list[UpsertRequest]]:
        """Records holding a value the field cannot keep (``salesforce_values``) fail here; the rest go on.

        Uses the describe this connector already read (every pulled object's):
        an object it has not described is left to Salesforce's own answer
        rather than paying a describe call for every write.
        """
        described = self._describe_cache.get(object_name)
        if not described:
            return {}, requests_
        fields = {f.name: f for f in described}
        failed: dict[str, WriteResult] = {}
        sendable: list[UpsertRequest] = []
        for request in requests_:
            found = first_problem(fields, request.fields)
            if found is None:
                sendable.append(request)
                continue
            name, reason = found
            failed[request.key] = WriteResult(key=request.key, ok=False, error_code=VALUE_OUT_OF_RANGE,
                                              error_message=reason, error_fields=[name])
        return failed, sendable

    def _upsert_chunk(self, object_name: str, key_field: str, chunk: list[UpsertRequest]) -> dict[str, WriteResult]:
        payload = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": object_name}, **{k: _to_json(v) for k, v in r.fields.items()}, key_field: r.key}
                for r in chunk
            ],
        }
        try:
            # serialised here (orjson, Decimal-safe through _to_json) instead of by requests' stdlib json;
            # the client's session already sends Content-Type: application/json
            results = self.sf.restful(
                f"composite/sobjects/{object_name}/{key_field}", method="PATCH", data=_json_body(payload)
            )
        except SalesforceMalformedRequest as exc:
            # the whole call was refused (e.g. JSON_PARSER_ERROR for one record's value): see upsert
            raise BatchRefused(error_info(exc.status, exc.content, "MALFORMED_REQUEST")) from None
        except SalesforceError as exc:
            raise self._translate(exc) from None
        return {r.key: self._result(r.key, item) for r, item in zip(chunk, results or [], strict=True)}

    @staticmethod
    def _result(key: str, item: dict[str, Any]) -> WriteResult:
        if item.get("success"):
            return WriteResult(key=key, ok=True, remote_id=item.get("id"), created=item.get("created"))
        errors = item.get("errors") or [{}]
        first = errors[0]
        code = str(first.get("statusCode", "UNKNOWN"))
        return WriteResult(
            key=key, ok=False, remote_id=item.get("id"), error_code=code,
            error_message=str(first.get("message", "")), error_fields=list(first.get("fields") or []),
            retryable=code in _RETRYABLE_RECORD_CODES,
        )

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        """Delete by id: to the Recycle Bin through collections, or ``permanent`` with a Bulk 2.0 hardDelete job.

        An already-deleted record counts as deleted.
        """
        soql_field(object_name)
        if permanent:
            try:
                by_id = bulk_hard_delete(self.sf, object_name, remote_ids, self.settings.bulk_poll_seconds)
            except SalesforceError as exc:
                raise self._translate(exc) from None
            return [by_id[i].model_copy(update={"remote_id": i}) for i in remote_ids]
        results: list[WriteResult] = []
        for chunk in page(remote_ids, self.batch_size):
            try:
                items = self.sf.restful(
                    "composite/sobjects", method="DELETE", params={"ids": ",".join(chunk), "allOrNone": "false"}
                )
            except SalesforceError as exc:
                raise self._translate(exc) from None
            for rid, item in zip(chunk, items or [], strict=True):
                result = self._result(rid, item)
                if not result.ok and result.error_code == "ENTITY_IS_DELETED":
                    result = WriteResult(key=rid, ok=True, remote_id=rid)
                results.append(result.model_copy(update={"remote_id": result.remote_id or rid}))
        return results
