"""HubSpot connector: CRM search for changes, batch upsert by unique property, v4 associations.

Built on hubspot-api-client (urllib3 transport). Every HTTP request passes
one hook (``_instrument``) that applies the client-side rate limiter and the
daily-quota reserve, counts ``api_calls`` and keeps the latest
``X-HubSpot-RateLimit-*`` headers for ``quota()``. Retries are ours
(tenacity): ``Retry-After`` on 429, jittered backoff on 5xx, resets and
timeouts, never on other 4xx; urllib3's own retries are switched off so
every attempt is counted and paced.

This module holds the settings, the transport and the record writes; the
rest lives in siblings, each mixed in or called from here:
``hubspot_reads`` (keyset search for changes, lists, archived records),
``hubspot_associations`` (v4 association reads and writes),
``hubspot_errors`` (what a refusal means), ``hubspot_wire`` (values out,
answers in), ``hubspot_where``, ``hubspot_values`` and ``hubspot_limits``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.objects import BatchInputSimplePublicObjectId, SimplePublicObjectId
from hubspot.discovery.discovery_base import DiscoveryBase
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.base import FieldInfo, Quota, UpsertRequest, WriteResult, page
from connectors.hubspot_associations import ASSOCIATION_PREFIX, HubSpotAssociations
from connectors.hubspot_errors import API_ERRORS, error_info_raw, failed_result, translate
from connectors.hubspot_limits import RequestLimiter
from connectors.hubspot_reads import HubSpotReads
from connectors.hubspot_values import CODE as VALUE_OUT_OF_RANGE
from connectors.hubspot_values import first_problem as first_value_problem
from connectors.hubspot_where import parse_where
from connectors.hubspot_wire import read_answer, upsert_answer, wire_value
from connectors.isolate import BatchRefused, write_isolating
from prm_sync.errors import FatalError, QuotaExhausted, RecordError, RemoteErrorInfo, TransientError

__all__ = ["HubSpotConnector", "HubSpotSettings", "RequestLimiter", "parse_where", "wire_value"]

T = TypeVar("T")


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


class HubSpotConnector(HubSpotReads, HubSpotAssociations):
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
            except API_ERRORS as exc:
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
        except API_ERRORS as exc:
            raise translate(what, exc, on_4xx) from exc
        except urllib3.exceptions.HTTPError as exc:
            info = RemoteErrorInfo(self.system, None, type(exc).__name__, f"{what}: connection failed ({exc})")
            raise TransientError(info) from exc
        except ValueError as exc:  # the client's models reject an incomplete answer
            msg = f"hubspot: {what}: unexpected response: {exc}"
            raise FatalError(msg) from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), 120.0)
        return min(30.0, 0.5 * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.5)

    # -- naming --------------------------------------------------------------------------
    def object_type(self, object_name: str) -> str:
        """``deal_registrations`` -> ``2-9000001``; standard names pass through."""
        return self.settings.custom_object_types.get(object_name, object_name)

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
            return read_answer(raw, upsert_answer)

        try:
            response = self._call("batch upsert", send, on_4xx="record")
        except RecordError as exc:
            if exc.info.status == 400:  # a VALIDATION_ERROR: one input's value, unnamed (see upsert)
                raise BatchRefused(exc.info) from None
            return {r.key: failed_result(r.key, exc.info) for r in chunk}
        out: dict[str, WriteResult] = {}
        for obj in response["results"]:
            key = (obj["properties"] or {}).get(key_field)
            if key is not None:
                out[str(key)] = WriteResult(key=str(key), ok=True, remote_id=str(obj["id"]), created=bool(obj["new"]))
        for err in response["errors"]:
            info = error_info_raw(err)
            ids = [i for i in (err.get("context") or {}).get("ids") or [] if i not in out]
            for key in ids or [r.key for r in chunk if r.key not in out]:
                out[key] = failed_result(key, info)
        for r in chunk:
            if r.key not in out:
                info = RemoteErrorInfo(self.system, None, "NO_RESULT", "the batch answer did not mention this record")
                out[r.key] = failed_result(r.key, info, retryable=True)
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
                results += [failed_result(i, exc.info) for i in chunk]
                continue
            results += [WriteResult(key=i, ok=True, remote_id=i, created=False) for i in chunk]
        by_id = {r.key: r for r in results}
        return [by_id[i] for i in remote_ids]
