"""HubSpot connector: CRM search for changes, batch upsert by unique property, v4 associations.

Built on hubspot-api-client (urllib3 transport). Every HTTP request passes
one hook (``_instrument``) that applies the client-side rate limiter and the
daily-quota reserve, counts ``api_calls`` and keeps the latest
``X-HubSpot-RateLimit-*`` headers for ``quota()``. Retries are ours
(tenacity): ``Retry-After`` on 429, jittered backoff on 5xx, resets and
timeouts, never on other 4xx; urllib3's own retries are switched off so
every attempt is counted and paced.

Incremental reads page by keyset on ``hs_lastmodifieddate`` (GTE the last
stamp seen, holding back the last, possibly incomplete, group of equal
stamps) instead of offsets, so records modified during a read cannot shift a
page and be skipped; a group of equal stamps larger than a page is read by
``hs_object_id``. Windows whose ``total`` exceeds ``search_window_cap`` are
halved, keeping every query well under HubSpot's 10,000-result ceiling.
"""

from __future__ import annotations

import heapq
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import exceptions as assoc_exceptions
from hubspot.crm.associations.v4.schema import exceptions as assoc_schema_exceptions
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)
from hubspot.crm.objects import exceptions as object_exceptions
from hubspot.crm.properties import exceptions as property_exceptions
from hubspot.crm.schemas import exceptions as schema_exceptions
from hubspot.discovery.discovery_base import DiscoveryBase
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.base import (
    Association,
    Cursor,
    FieldInfo,
    Quota,
    RemoteRecord,
    UpsertRequest,
    WriteResult,
    page,
)
from connectors.hubspot_limits import RequestLimiter
from connectors.hubspot_values import CODE as VALUE_OUT_OF_RANGE
from connectors.hubspot_values import first_problem as first_value_problem
from connectors.hubspot_where import parse_where
from connectors.isolate import BatchRefused, write_isolating
from prm_sync.errors import (
    AuthError,
    ConfigError,
    FatalError,
    Problem,
    QuotaExhausted,
    RecordError,
    RemoteErrorInfo,
    TransientError,
)

T = TypeVar("T")
SEARCH_LIMIT = 200
LIST_LIMIT = 100
MODSTAMP = "hs_lastmodifieddate"
ASSOCIATION_PREFIX = "associations."  # a read-only field: ``associations.companies`` = the associated company's id
# (``associations.companies@Registering partner``: only associations with that label)
ASSOCIATION_READ_LIMIT = 1000  # inputs per v4 batch read
PRIMARY_TYPE_IDS = {5}  # deal -> company "Primary" (HUBSPOT_DEFINED)
_API_ERRORS = (
    object_exceptions.ApiException,
    property_exceptions.ApiException,
    assoc_exceptions.ApiException,
    assoc_schema_exceptions.ApiException,
    schema_exceptions.ApiException,
)


class HubSpotSettings(BaseModel):
    """Connection settings; the token is a ``SecretStr`` so it never reaches logs."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://api.hubapi.com"  # EU portals: https://api-eu1.hubapi.com
    access_token: SecretStr
    ca_bundle: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0)
    requests_per_10s: int = Field(100, ge=1, description="client-side pace; keep under the portal's limit")
    quota_reserve_pct: float = Field(10.0, ge=0, le=100, description="stop when the daily budget left is this small")
    search_window_cap: int = Field(9000, ge=1, le=10_000, description="split a time window above this many results")
    custom_object_types: dict[str, str] = Field(
        default_factory=lambda: {"deal_registrations": "2-9000001"},
        description="friendly name -> objectTypeId of the portal's custom objects",
    )


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def wire_value(value: Any) -> str:
    """Python value -> HubSpot's string form (booleans lowercase, multi-select joined by ``;``)."""
    if type(value) is str:  # most values: skip the checks below
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return wire_value(value.value)
    if isinstance(value, datetime):
        utc = _from_ms(_ms(value))
        return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{_ms(value) % 1000:03d}Z"  # %Y writes year 1 as "1"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(wire_value(v) for v in value)
    return str(value)


class HubSpotConnector:
    """``connectors.base.Connector`` for HubSpot CRM (objects v3, properties v3, associations v4)."""

    system: ClassVar[str] = "hubspot"
    batch_size: ClassVar[int] = 100
    # search never returns archived records: finding deletes costs a separate list call, so
    # the engine sweeps for them on an interval (read_deleted) rather than on every run
    deletes_need_extra_call: ClassVar[bool] = True

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        limiter: RequestLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.api_calls = 0
        self._calls_lock = threading.Lock()
        self._sleep = sleep
        self._limiter = limiter or RequestLimiter(settings.requests_per_10s, 10.0, sleep=sleep)
        self._rate_headers: dict[str, str] = {}
        self._labels: dict[tuple[str, str], list[Any]] = {}
        client = HubSpot(
            access_token=settings.access_token.get_secret_value(),
            host=settings.base_url.rstrip("/"),
            retry=urllib3.Retry(total=0, redirect=0),  # retries are ours: counted, paced, Retry-After aware
            ssl_ca_cert=settings.ca_bundle,
            api_factory=self._api_factory,
        )
        self.client = client  # for the setup APIs (schemas, property groups, labels): ``connectors.hubspot_setup``
        # discovery builds a new ApiClient per attribute access: build each API once
        self._search_api = client.crm.objects.search_api
        self._basic_api = client.crm.objects.basic_api
        self._batch_api = client.crm.objects.batch_api
        self._properties_api = client.crm.properties.core_api
        self._assoc_batch_api = client.crm.associations.v4.batch_api
        self._definitions_api = client.crm.associations.v4.schema.definitions_api

    # -- transport ---------------------------------------------------------------------
    def _api_factory(self, package: Any, api_name: str, config: dict[str, Any]) -> Any:
        api = DiscoveryBase._default_api_factory(package, api_name, config)
        self._instrument(api.api_client.rest_client)
        return api

    def _instrument(self, rest_client: Any) -> None:
        """Wrap the one method every HTTP request goes through."""
        send = rest_client.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("_request_timeout") is None:
                kwargs["_request_timeout"] = self.settings.timeout_seconds
            self._check_reserve()
            self._limiter.acquire()
            with self._calls_lock:  # upserts and association calls may run on two threads
                self.api_calls += 1
            try:
                response = send(method, url, *args, **kwargs)
            except _API_ERRORS as exc:
                self._remember(exc.headers)
                raise
            finally:
                self._limiter.release()  # HubSpot has counted it by now: the window runs from here
            self._remember(response.getheaders())
            return response

        rest_client.request = request

    def _remember(self, headers: Any) -> None:
        if not headers:
            return
        found = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-hubspot-ratelimit")}
        if found:
            self._rate_headers = found

    def _check_reserve(self) -> None:
        quota = self.quota()
        if quota.limit is None or quota.remaining is None:
            return
        reserve = quota.limit * self.settings.quota_reserve_pct / 100
        if quota.remaining <= reserve and (reserve > 0 or quota.remaining == 0):
            msg = f"daily budget nearly spent: {quota.remaining} of {quota.limit} left, reserve {self.settings.quota_reserve_pct}%"
            raise QuotaExhausted(RemoteErrorInfo(self.system, None, "QUOTA_RESERVE", msg))

    def quota(self) -> Quota:
        daily = self._rate_headers.get("x-hubspot-ratelimit-daily")
        remaining = self._rate_headers.get("x-hubspot-ratelimit-daily-remaining")
        if daily is None or remaining is None:
            return Quota(window="daily")
        return Quota(used=int(daily) - int(remaining), limit=int(daily), window="daily")

    def call(self, what: str, fn: Callable[..., T], *args: Any, on_4xx: str = "fatal", **kwargs: Any) -> T:
        """Run one client call with this connector's retries and error translation (for setup's calls)."""
        return self._call(what, fn, *args, on_4xx=on_4xx, **kwargs)

    def _call(self, what: str, fn: Callable[..., T], *args: Any, on_4xx: str = "fatal", **kwargs: Any) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._once, what, fn, args, kwargs, on_4xx)

    def _once(self, what: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], on_4xx: str) -> T:
        try:
            return fn(*args, **kwargs)
        except _API_ERRORS as exc:
            raise self._translate(what, exc, on_4xx) from exc
        except urllib3.exceptions.HTTPError as exc:
            info = RemoteErrorInfo(self.system, None, type(exc).__name__, f"{what}: connection failed ({exc})")
            raise TransientError(info) from exc
        except ValueError as exc:  # the client's models reject an incomplete answer
            msg = f"hubspot: {what}: unexpected response: {exc}"
            raise FatalError(msg) from exc

    def _translate(self, what: str, exc: Any, on_4xx: str) -> Exception:
        status = int(exc.status or 0)
        try:
            body = json.loads(exc.body) if exc.body else {}
        except (TypeError, ValueError):
            body = {}
        body = body if isinstance(body, dict) else {}
        details = [d for d in body.get("errors") or [] if isinstance(d, dict) and d.get("code")]
        # the detail's code (INVALID_FLOAT, INVALID_OPTION...) says more than the category (VALIDATION_ERROR)
        code = str(details[0]["code"] if details else body.get("category") or body.get("errorType") or exc.reason
                   or "ERROR")
        message = f"{what}: {body.get('message') or exc.reason}"
        fields = list((body.get("context") or {}).get("propertyName") or [])
        info = RemoteErrorInfo(self.system, status, code, message, fields)
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        if status == 429:
            if body.get("policyName") == "DAILY":
                return QuotaExhausted(info)
            retry_after = headers.get("retry-after")
            return TransientError(info, retry_after=float(retry_after) if retry_after else None)
        if status in (401, 403):
            return AuthError(info)
        if status == 0:
            return FatalError(f"hubspot: {what}: {exc.reason}")
        if status >= 500 or status == 408:
            return TransientError(info)
        if on_4xx == "record":
            return RecordError(info)
        missing = _missing_in_portal(str(body.get("message") or ""))
        if status == 400 and missing:
            hint = "create it with `prm-sync setup` (`prm-sync validate --remote` lists everything missing)"
            return ConfigError([Problem(f"the HubSpot portal has no {missing} ({what})", hint=hint)])
        return FatalError(f"hubspot: HTTP {status} {code}: {message}")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), 120.0)
        return min(30.0, 0.5 * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.5)

    # -- naming --------------------------------------------------------------------------
    def object_type(self, object_name: str) -> str:
        """``deal_registrations`` -> ``2-9000001``; standard names pass through."""
        return self.settings.custom_object_types.get(object_name, object_name)

    @staticmethod
    def _props(fields: Iterable[str]) -> list[str]:
        properties = [f for f in fields if not f.startswith(ASSOCIATION_PREFIX)]
        return list(dict.fromkeys([*properties, MODSTAMP, "hs_merged_object_ids"]))

    # -- associations read as fields ----------------------------------------------------------
    def _with_associations(self, object_type: str, fields: list[str], rows: list[RemoteRecord]) -> list[RemoteRecord]:
        """Fill ``associations.<object>`` fields of a page: one v4 batch read per page and object.

        Search answers carry no associations, yet a deal's company is what
        tells the conflict check whose pipeline it is, so a mapping may read it
        like a property. Deleted records keep ``None``.
        """
        wanted = [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]
        if not wanted or not rows:
            return rows
        live = [r.id for r in rows if not r.deleted]
        for field in wanted:
            to_object, _, label = field.removeprefix(ASSOCIATION_PREFIX).partition("@")
            found = self.associated_ids(object_type, to_object, live, label=label or None) if live else {}
            for row in rows:
                row.fields[field] = found.get(row.id)
        return rows

    @staticmethod
    def on_demand_fields(fields: Iterable[str]) -> list[str]:
        """Fields that cost a call of their own: an incremental pull reads them only for records that changed."""
        return [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]

    def fill_on_demand(self, object_name: str, fields: list[str], records: list[RemoteRecord]) -> None:
        """Read ``fields`` (``on_demand_fields``) for these records: one batch read per page and object."""
        self._with_associations(self.object_type(object_name), fields, records)

    def associated_ids(self, from_object: str, to_object: str, ids: list[str], *, label: str | None = None) -> dict[str, str]:
        """Record id -> the id of its associated ``to_object`` record (the primary one, else the lowest id).

        ``label``: only associations carrying that label count (``associations.companies@Registering partner``
        reads a registration's partner, not its end customer).
        """
        from_type, to_type = self.object_type(from_object), self.object_type(to_object)
        out: dict[str, str] = {}
        for start in range(0, len(ids), ASSOCIATION_READ_LIMIT):
            inputs = [{"id": i} for i in ids[start : start + ASSOCIATION_READ_LIMIT]]

            def send(inputs: list[dict[str, str]] = inputs) -> dict[str, str]:
                raw = self._assoc_batch_api.get_page(from_type, to_type, {"inputs": inputs}, _preload_content=False)
                try:
                    return _associated_answer(raw.data, label)
                finally:
                    raw.release_conn()

            out.update(self._call("read associations", send))
        return out

    # -- describe ------------------------------------------------------------------------
    def forget_describe(self) -> None:
        """Properties are read fresh on every describe; kept for the setup engine's symmetry with Salesforce."""

    def describe(self, object_name: str) -> list[FieldInfo]:
        result = self._call("properties", self._properties_api.get_all, self.object_type(object_name))
        out = []
        for p in result.results:
            meta = p.modification_metadata
            out.append(
                FieldInfo(
                    name=p.name,
                    type=p.type,
                    label=p.label,
                    updateable=not (meta.read_only_value if meta else False) and not p.calculated,
                    external_id=bool(p.has_unique_value),
                    unique=bool(p.has_unique_value),
                    picklist_values=[o.value for o in p.options or []],
                )
            )
        out.extend(  # read-only pseudo fields filled by a batch read (see ``_with_associations``)
            FieldInfo(name=f"{ASSOCIATION_PREFIX}{other}", type="reference", label=f"Associated {other}",
                      updateable=False)
            for other in ("companies", "contacts", "deals") if other != object_name
        )
        return out

    # -- reads ---------------------------------------------------------------------------
    def _search(self, object_type: str, props: list[str], filters: list[dict[str, Any]], sort: str) -> SearchPage:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": filters}],
            sorts=[{"propertyName": sort, "direction": "ASCENDING"}],  # type: ignore[list-item]
            properties=props,
            limit=SEARCH_LIMIT,
        )

        def send() -> SearchPage:
            # the raw answer, parsed here: the client's models run dateutil over three timestamps
            # per record, which was half the time of reading back a large sync
            raw = self._search_api.do_search(object_type, public_object_search_request=request, _preload_content=False)
            try:
                return _search_answer(raw.data)
            finally:
                raw.release_conn()

        return self._call("search", send)

    @staticmethod
    def _range(lo: int, hi: int | None) -> list[dict[str, Any]]:
        filters = [{"propertyName": MODSTAMP, "operator": "GTE", "value": str(lo)}]
        if hi is not None:
            filters.append({"propertyName": MODSTAMP, "operator": "LTE", "value": str(hi)})
        return filters

    def _record(self, obj: Any, fields: list[str], *, deleted: bool = False) -> RemoteRecord:
        props = dict(obj.properties or {})
        if deleted and obj.archived_at is not None:
            stamp = obj.archived_at
        elif props.get(MODSTAMP):
            stamp = datetime.fromisoformat(str(props[MODSTAMP]).replace("Z", "+00:00"))
        else:
            stamp = obj.updated_at
        merged = [m for m in (props.get("hs_merged_object_ids") or "").split(";") if m]
        return RemoteRecord(
            id=str(obj.id),
            fields={f: props.get(f) for f in fields},
            modstamp=_from_ms(_ms(stamp)),
            deleted=deleted,
            merged_ids=merged,
        )

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
        """Records changed in ``(since, until]`` ascending by (modstamp, numeric id).

        ``where`` uses the small syntax of ``parse_where``
        (``is_partner = true and partner_tier in (gold, platinum)``) and is checked
        before any request; it filters live records only, deletes are reported
        whatever they matched. A cursor without ``last_id`` includes records
        stamped exactly at ``since``.
        """
        extra = parse_where(where, max_filters=3)
        return self._changes(self.object_type(object_name), fields, since, extra, until, include_deleted)

    def _changes(
        self,
        object_type: str,
        fields: list[str],
        since: Cursor,
        extra: list[dict[str, Any]],
        until: datetime | None,
        include_deleted: bool,
    ) -> Iterator[RemoteRecord]:
        props = self._props(fields)
        lo = _ms(since.modstamp) if since.modstamp else 0
        hi = _ms(until) if until else None

        def after_cursor(record: RemoteRecord) -> bool:
            ms = _ms(record.modstamp)
            if since.modstamp is None or ms > lo:
                return hi is None or ms <= hi
            if ms < lo or since.last_id is None:
                return ms == lo
            return _id_key(record.id) > _id_key(since.last_id)

        live = (r for r in self._scan(object_type, props, fields, extra, lo, hi) if after_cursor(r))
        if not include_deleted:
            yield from live
            return
        deleted = sorted((r for r in self._archived(object_type, props, fields) if after_cursor(r)), key=_order)
        yield from heapq.merge(live, deleted, key=_order)

    def _scan(
        self, object_type: str, props: list[str], fields: list[str], extra: list[dict[str, Any]], lo: int, hi: int | None
    ) -> Iterator[RemoteRecord]:
        first = self._search(object_type, props, self._range(lo, hi) + extra, MODSTAMP)
        if first.total > self.settings.search_window_cap and first.results:
            # split between the stamps actually present, not from the epoch
            lo = max(lo, _ms(self._record(first.results[0], []).modstamp))
            if hi is None:
                hi = self._max_stamp(object_type, extra, lo)
            if lo < hi:
                mid = (lo + hi) // 2
                yield from self._scan(object_type, props, fields, extra, lo, mid)
                yield from self._scan(object_type, props, fields, extra, mid + 1, hi)
                return
        yield from self._keyset(object_type, props, fields, extra, lo, hi, first)

    def _max_stamp(self, object_type: str, extra: list[dict[str, Any]], lo: int) -> int:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": self._range(lo, None) + extra}],
            sorts=[{"propertyName": MODSTAMP, "direction": "DESCENDING"}],  # type: ignore[list-item]
            properties=[MODSTAMP],
            limit=1,
        )
        result = self._call("search", self._search_api.do_search, object_type, public_object_search_request=request)
        return max(lo, max((_ms(self._record(o, []).modstamp) for o in result.results), default=lo))

    def _keyset(
        self,
        object_type: str,
        props: list[str],
        fields: list[str],
        extra: list[dict[str, Any]],
        lo: int,
        hi: int | None,
        result: Any,
    ) -> Iterator[RemoteRecord]:
        cursor = lo
        while True:
            rows = [self._record(o, fields) for o in result.results]
            more = result.has_next
            if not more:
                yield from self._with_associations(object_type, fields, sorted(rows, key=_order))
                return
            last = _ms(rows[-1].modstamp)
            if _ms(rows[0].modstamp) == last:  # one stamp fills the page: read that stamp by id
                yield from self._by_id(object_type, props, fields, [*extra, _eq_stamp(last)])
                cursor = last + 1
            else:  # hold back the last stamp's group: it may continue on the next page
                kept = sorted((r for r in rows if _ms(r.modstamp) < last), key=_order)
                yield from self._with_associations(object_type, fields, kept)  # only for the records yielded
                cursor = last
            if hi is not None and cursor > hi:
                return
            result = self._search(object_type, props, self._range(cursor, hi) + extra, MODSTAMP)

    def _by_id(
        self, object_type: str, props: list[str], fields: list[str], filters: list[dict[str, Any]]
    ) -> Iterator[RemoteRecord]:
        last_id = "0"
        while True:
            id_filter = {"propertyName": "hs_object_id", "operator": "GT", "value": last_id}
            result = self._search(object_type, props, [*filters, id_filter], "hs_object_id")
            rows = self._with_associations(object_type, fields, [self._record(o, fields) for o in result.results])
            yield from rows
            if not rows or not result.has_next:
                return
            last_id = rows[-1].id

    def read_deleted(self, object_name: str, fields: list[str], since: Cursor) -> Iterator[RemoteRecord]:
        """Records archived (deleted or merged away) after ``since``, ascending by archive time."""
        object_type = self.object_type(object_name)
        props = self._props(fields)
        floor = since.modstamp
        archived = (r for r in self._archived(object_type, props, fields) if floor is None or r.modstamp > floor)
        yield from sorted(archived, key=_order)

    def _archived(self, object_type: str, props: list[str], fields: list[str]) -> Iterator[RemoteRecord]:
        for obj in self._list(object_type, props, archived=True):
            yield self._record(obj, fields, deleted=True)

    def _list(self, object_type: str, props: list[str], *, archived: bool) -> Iterator[Any]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            result = self._call(
                "list", self._basic_api.get_page, object_type, limit=LIST_LIMIT, after=after, properties=props, archived=archived
            )
            yield from result.results
            after = result.paging.next.after if result.paging and result.paging.next else None
            if after is None:
                return
            if after in seen:
                msg = f"hubspot: list {object_type} returned the same page cursor twice ({after})"
                raise FatalError(msg)
            seen.add(after)

    def read_all(self, object_name: str, fields: list[str], *, where: str | None = None) -> Iterator[RemoteRecord]:
        """Every live record: the list endpoint, or a search by id when ``where`` filters."""
        object_type = self.object_type(object_name)
        props = self._props(fields)
        if where:
            return self._by_id(object_type, props, fields, parse_where(where, max_filters=5))
        return self._read_list(object_type, props, fields)

    def _read_list(self, object_type: str, props: list[str], fields: list[str]) -> Iterator[RemoteRecord]:
        page: list[RemoteRecord] = []
        for obj in self._list(object_type, props, archived=False):
            page.append(self._record(obj, fields))
            if len(page) == LIST_LIMIT:
                yield from self._with_associations(object_type, fields, page)
                page = []
        yield from self._with_associations(object_type, fields, page)

    # -- writes --------------------------------------------------------------------------
    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        """Batch upsert by a unique property; duplicate keys collapse (last wins).

        Safe to retry after a lost answer: the key finds the record the first
        attempt created (``created`` is then reported False).
        """
        object_type = self.object_type(object_name)
        latest: dict[str, UpsertRequest] = {}
        for request in records:
            latest[request.key] = request
        outcome: dict[str, WriteResult] = {}
        sendable: list[UpsertRequest] = []
        for request in latest.values():
            found = first_value_problem(request.fields)  # HubSpot would refuse its whole batch (hubspot_values)
            if found is None:
                sendable.append(request)
            else:
                outcome[request.key] = WriteResult(key=request.key, ok=False, error_code=VALUE_OUT_OF_RANGE,
                                                   error_message=found[1], error_fields=[found[0]])
        for chunk in page(sendable, self.batch_size):
            # a bad value refuses the whole batch without naming its input: halves find it (connectors.isolate)
            outcome.update(write_isolating(
                chunk, lambda part: self._upsert_chunk(object_type, key_field, list(part)), lambda r: r.key))
        return [outcome[r.key] for r in records]

    def _upsert_chunk(self, object_type: str, key_field: str, chunk: list[UpsertRequest]) -> dict[str, WriteResult]:
        # the request body as the JSON the client would serialise its models to: building one
        # model per record costs a Configuration copy each, more than the HTTP call itself
        body = {
            "inputs": [
                {
                    "idProperty": key_field,
                    "id": r.key,
                    "properties": {k: wire_value(v) for k, v in r.fields.items() if k != key_field},
                }
                for r in chunk
            ]
        }

        def send() -> dict[str, Any]:
            # the raw answer, parsed here: the client's models would run dateutil over two
            # timestamps per record that a write result never looks at
            raw = self._batch_api.upsert(
                object_type, batch_input_simple_public_object_batch_input_upsert=body, _preload_content=False
            )
            try:
                return _upsert_answer(raw.data)
            finally:
                raw.release_conn()

        try:
            response = self._call("batch upsert", send, on_4xx="record")
        except RecordError as exc:
            if exc.info.status == 400:  # a VALIDATION_ERROR: one input's value, unnamed (see upsert)
                raise BatchRefused(exc.info) from None
            return {r.key: _failed(r.key, exc.info) for r in chunk}
        out: dict[str, WriteResult] = {}
        for obj in response["results"]:
            key = (obj["properties"] or {}).get(key_field)
            if key is not None:
                out[str(key)] = WriteResult(key=str(key), ok=True, remote_id=str(obj["id"]), created=bool(obj["new"]))
        for err in response["errors"]:
            info = _error_info_raw(err)
            ids = [i for i in (err.get("context") or {}).get("ids") or [] if i not in out]
            for key in ids or [r.key for r in chunk if r.key not in out]:
                out[key] = _failed(key, info)
        for r in chunk:
            if r.key not in out:
                info = RemoteErrorInfo(self.system, None, "NO_RESULT", "the batch answer did not mention this record")
                out[r.key] = _failed(r.key, info, retryable=True)
        return out

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        """Archive by id (batch archive). HubSpot's API has no permanent delete for CRM objects but a
        contact's GDPR delete; archived records are purged after 90 days, so ``permanent`` archives too."""
        object_type = self.object_type(object_name)
        results: list[WriteResult] = []
        for chunk in page(list(dict.fromkeys(remote_ids)), self.batch_size):
            body = BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in chunk])
            try:
                self._call("batch archive", self._batch_api.archive, object_type, body, on_4xx="record")
            except RecordError as exc:
                results += [_failed(i, exc.info) for i in chunk]
                continue
            results += [WriteResult(key=i, ok=True, remote_id=i, created=False) for i in chunk]
        by_id = {r.key: r for r in results}
        return [by_id[i] for i in remote_ids]

    def association_spec(self, from_object: str, to_object: str, label: str | None) -> dict[str, Any]:
        """The association type for a label (None = the unlabelled default), from the labels API."""
        pair = (self.object_type(from_object), self.object_type(to_object))
        if pair not in self._labels:
            result = self._call("association labels", self._definitions_api.get_all, *pair)
            self._labels[pair] = list(result.results)
        wanted = (label or "").strip().lower()
        for spec in self._labels[pair]:
            if (spec.label or "").strip().lower() == wanted:
                return {"associationCategory": spec.category, "associationTypeId": spec.type_id}
        known = ", ".join(repr(s.label) for s in self._labels[pair])
        problem = Problem(
            f"no HubSpot association label {label!r} between {from_object} and {to_object}", hint=f"known: {known}"
        )
        raise ConfigError([problem])

    def associate(self, associations: list[Association]) -> list[WriteResult]:
        """v4 batch create, 100 links per call; result keys are ``from_id->to_id``."""
        outcome: dict[int, WriteResult] = {}
        groups: dict[tuple[str, str], list[tuple[int, Association]]] = {}
        for index, a in enumerate(associations):
            groups.setdefault((a.from_object, a.to_object), []).append((index, a))
        for (from_object, to_object), items in groups.items():
            for chunk in page(items, self.batch_size):
                outcome.update(self._associate_chunk(from_object, to_object, chunk))
        return [outcome[i] for i in range(len(associations))]

    def disassociate(self, associations: list[Association]) -> list[WriteResult]:
        """v4 batch archive, 100 pairs per call: every link between each pair goes; keys ``unlink from_id->to_id``.

        HubSpot answers 204 without per-pair results, so a refused call fails
        all of its pairs; removing a link that is already gone is not an error.
        """
        outcome: dict[int, WriteResult] = {}
        groups: dict[tuple[str, str], list[tuple[int, Association]]] = {}
        for index, a in enumerate(associations):
            groups.setdefault((a.from_object, a.to_object), []).append((index, a))
        for (from_object, to_object), items in groups.items():
            from_type, to_type = self.object_type(from_object), self.object_type(to_object)
            for chunk in page(items, self.batch_size):
                keys = {i: f"unlink {a.from_id}->{a.to_id}" for i, a in chunk}
                inputs = [{"from": {"id": a.from_id}, "to": [{"id": a.to_id}]} for _, a in chunk]
                try:
                    self._call("disassociate", self._assoc_batch_api.archive, from_type, to_type, {"inputs": inputs},
                               on_4xx="record")
                except RecordError as exc:
                    outcome.update({i: _failed(keys[i], exc.info) for i, _ in chunk})
                    continue
                outcome.update({i: WriteResult(key=keys[i], ok=True, remote_id=a.to_id) for i, a in chunk})
        return [outcome[i] for i in range(len(associations))]

    def _associate_chunk(self, from_object: str, to_object: str, chunk: list[tuple[int, Association]]) -> dict[int, WriteResult]:
        inputs = [
            {"from": {"id": a.from_id}, "to": {"id": a.to_id}, "types": [self.association_spec(from_object, to_object, a.label)]}
            for _, a in chunk
        ]
        keys = {i: f"{a.from_id}->{a.to_id}" for i, a in chunk}
        from_type, to_type = self.object_type(from_object), self.object_type(to_object)

        def send() -> list[dict[str, Any]]:
            # the raw answer, parsed here: the client's models would build one object (and run
            # dateutil) per created link, which nothing here reads; only the errors matter
            raw = self._assoc_batch_api.create(from_type, to_type, {"inputs": inputs}, _preload_content=False)
            try:
                return _associate_errors(raw.data)
            finally:
                raw.release_conn()

        try:
            errors = self._call("associate", send, on_4xx="record")
        except RecordError as exc:
            return {i: _failed(keys[i], exc.info) for i, _ in chunk}
        failed: dict[tuple[str, str], RemoteErrorInfo] = {}
        for err in errors:
            ids = [str(i) for i in (err.get("context") or {}).get("ids") or []]
            if len(ids) >= 2:
                failed[(ids[0], ids[1])] = _error_info_raw(err)
        out: dict[int, WriteResult] = {}
        for i, a in chunk:
            info = failed.get((a.from_id, a.to_id))
            out[i] = _failed(keys[i], info) if info else WriteResult(key=keys[i], ok=True, remote_id=a.to_id)
        return out


_MISSING_PROPERTY = re.compile(r'Property "?([\w.]+)"? does not exist')
_MISSING_OBJECT = re.compile(r"Unable to infer object type from: ([\w-]+)")


def _missing_in_portal(message: str) -> str | None:
    """``property 'x'`` / ``object type 'y'`` when HubSpot's answer says the portal lacks it (a new portal)."""
    found = _MISSING_PROPERTY.search(message)
    if found:
        return f"property '{found.group(1)}'"
    found = _MISSING_OBJECT.search(message)
    return f"object type '{found.group(1)}'" if found else None


def _id_key(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def _order(record: RemoteRecord) -> tuple[int, tuple[int, str]]:
    return (_ms(record.modstamp), _id_key(record.id))


def _eq_stamp(ms: int) -> dict[str, Any]:
    return {"propertyName": MODSTAMP, "operator": "EQ", "value": str(ms)}


_UPSERT_RESULT_KEYS = ("id", "properties", "new", "createdAt", "updatedAt")
_ERROR_KEYS = ("category", "message")


@dataclass(slots=True)
class SearchHit:
    """One record of a search answer: what ``_record`` reads of the client's model."""

    id: str
    properties: dict[str, Any]
    updated_at: datetime | None
    archived_at: datetime | None = None


@dataclass(slots=True)
class SearchPage:
    total: int
    results: list[SearchHit]
    has_next: bool


def _search_answer(data: bytes) -> SearchPage:
    """A search answer as plain JSON, checked for what a read needs (ValueError otherwise, as the models do)."""
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    hits = []
    for obj in answer["results"]:
        if not isinstance(obj, dict) or obj.get("id") is None or not isinstance(obj.get("properties"), dict):
            msg = "Invalid value for `id` or `properties`, must not be None"
            raise ValueError(msg)
        stamp = obj.get("updatedAt")
        hits.append(SearchHit(str(obj["id"]), obj["properties"], datetime.fromisoformat(stamp) if stamp else None))
    paging = answer.get("paging")
    has_next = isinstance(paging, dict) and bool(paging.get("next"))
    return SearchPage(int(answer.get("total") or 0), hits, has_next)


def _upsert_answer(data: bytes) -> dict[str, Any]:
    """A batch upsert answer (200 or 207) as plain JSON, checked as strictly as the client's models.

    Raises ValueError, as those models do, for an answer missing what a
    write result needs; the caller turns it into a FatalError.
    """
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    for obj in answer["results"]:
        missing = [k for k in _UPSERT_RESULT_KEYS if not isinstance(obj, dict) or obj.get(k) is None]
        if missing:
            msg = f"Invalid value for `{missing[0]}`, must not be None"
            raise ValueError(msg)
    return {"results": answer["results"], "errors": _batch_errors(answer)}


def _batch_errors(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch answer's ``errors`` (207), each with what a StandardError must have."""
    errors = answer.get("errors") or []
    for err in errors:
        missing = [k for k in _ERROR_KEYS if not isinstance(err, dict) or err.get(k) is None]
        if missing:
            msg = f"Invalid value for `{missing[0]}`, must not be None"
            raise ValueError(msg)
    return list(errors)


def _associate_errors(data: bytes) -> list[dict[str, Any]]:
    """The errors of a v4 batch association answer (200 or 207), checked as the client's models would.

    Raises ValueError for an answer without its ``results`` list or with a
    malformed error; the caller turns it into a FatalError.
    """
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    return _batch_errors(answer)


def _associated_answer(data: bytes, label: str | None = None) -> dict[str, str]:
    """A v4 batch read answer (200, or 207 listing records without any) -> from id -> chosen target id."""
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    out: dict[str, str] = {}
    for result in answer["results"]:
        source = (result.get("from") or {}).get("id") if isinstance(result, dict) else None
        targets = [t for t in result.get("to") or [] if isinstance(t, dict) and t.get("toObjectId") is not None]
        if label is not None:
            targets = [t for t in targets if any(str(a.get("label") or "").casefold() == label.casefold()
                                                 for a in t.get("associationTypes") or [] if isinstance(a, dict))]
        if source is None or not targets:
            continue
        primary = [t for t in targets if any(
            (a.get("typeId") in PRIMARY_TYPE_IDS or str(a.get("label") or "").lower() == "primary")
            for a in t.get("associationTypes") or [] if isinstance(a, dict))]
        chosen = min(primary or targets, key=lambda t: _id_key(str(t["toObjectId"])))
        out[str(source)] = str(chosen["toObjectId"])
    return out


def _error_info_raw(err: dict[str, Any]) -> RemoteErrorInfo:
    """A 207's StandardError (plain JSON) -> our error info; the detail code (INVALID_OPTION...) beats the category."""
    details = list(err.get("errors") or [])
    first = details[0] if details and isinstance(details[0], dict) else {}
    code = str(first["code"]) if first.get("code") else str(err["category"])
    fields = list((err.get("context") or {}).get("propertyName") or [])
    return RemoteErrorInfo("hubspot", None, code, str(err["message"]), fields)


def _failed(key: str, info: RemoteErrorInfo, *, retryable: bool = False) -> WriteResult:
    return WriteResult(
        key=key,
        ok=False,
        error_code=info.code,
        error_message=info.message,
        error_fields=list(info.fields),
        retryable=retryable,
    )
