"""``HubSpotSandbox``: a local HubSpot portal that hubspot-api-client talks to unchanged.

What makes it HubSpot rather than a generic fake: private-app bearer auth
with HubSpot's 401 body, a rolling ten-second and a daily request budget
reported in ``X-HubSpot-RateLimit-*`` headers on every answer and enforced
with HubSpot's 429 body and ``Retry-After``, and the CRM v3/v4 endpoints
(``api_objects``, ``api_meta``). In-process helpers let a test seed,
inspect and edit records the way a user in the HubSpot UI would.

Bodies: a write whose body is not ``application/json`` is ``415`` and an
unparsable one ``400 VALIDATION_ERROR`` "Invalid input JSON on line L,
column C: ..." as HubSpot's Jackson parser words it; answers are gzip-
compressed when the client asks (``Accept-Encoding``), compressed request
bodies are refused with 415 (HubSpot does not document accepting them).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sandbox.http import SandboxApp, SandboxRequest, SandboxResponse, json_error_position
from connectors.sandbox.hubspot.api_meta import MetaRoutes, default_groups
from connectors.sandbox.hubspot.api_objects import ObjectRoutes
from connectors.sandbox.hubspot.api_schemas import SchemaRoutes
from connectors.sandbox.hubspot.associations import AssociationStore
from connectors.sandbox.hubspot.schema import OBJECT_TYPES, PORTAL_ID, resolve_object_type
from connectors.sandbox.hubspot.search import SearchEngine
from connectors.sandbox.hubspot.store import RecordStore
from connectors.sandbox.hubspot.wire import HubSpotApiError, correlation_id

_MISSING_AUTH = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_BAD_TOKEN = (
    "The access token provided is invalid or has been revoked. Check that the private app token is correct."
)


class HubSpotSandbox(ObjectRoutes, MetaRoutes, SchemaRoutes, SandboxApp):
    """The HubSpot sandbox app; serve it with ``SandboxServer`` (plain HTTP)."""

    system = "hubspot"
    response_codings = ("gzip",)

    def __init__(
        self,
        *,
        strict: bool = False,
        access_token: str = "sandbox-token",
        portal_id: int = PORTAL_ID,
        ten_second_limit: int = 190,
        daily_limit: int = 1_000_000,
        rate_window_seconds: float = 10.0,
        bare: bool = True,
    ) -> None:
        super().__init__(strict=strict, access_token=access_token)
        self.portal_id = portal_id
        self.store = RecordStore(bare=bare)
        self.store.reject = self.invalid_value  # FaultConfig.invalid_values -> per-record validation errors
        self.search_engine = SearchEngine(self.store)
        self.assocs = AssociationStore(bare=bare)
        self.property_groups: dict[str, dict[str, dict[str, Any]]] = {
            ot.name: default_groups(ot.name, bare=bare) for ot in OBJECT_TYPES
        }
        self.ten_second_limit = ten_second_limit
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.rate_window_seconds = rate_window_seconds
        self.rate_clock: Callable[[], float] = time.monotonic
        self._window: deque[float] = deque()
        self.register_object_routes()
        self.register_meta_routes()
        self.register_schema_routes()

    # -- clock ----------------------------------------------------------------------
    @property
    def clock(self) -> Callable[[], datetime]:
        """Source of createdate/hs_lastmodifieddate; stamps never go backwards."""
        return self.store.clock

    @clock.setter
    def clock(self, value: Callable[[], datetime]) -> None:
        self.store.clock = value

    # -- request pipeline ----------------------------------------------------------------
    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        try:
            response = super().dispatch(request)
        except HubSpotApiError as err:
            response = err.response()
        except json.JSONDecodeError as exc:
            line, column, reason = json_error_position(exc)
            msg = f"Invalid input JSON on line {line}, column {column}: {reason}"
            response = HubSpotApiError(400, "VALIDATION_ERROR", msg).response()
        except (ValueError, KeyError, TypeError) as exc:
            # malformed JSON or a missing required field: HubSpot answers 400, not 500
            msg = f"Invalid input JSON: {exc}"
            response = HubSpotApiError(400, "VALIDATION_ERROR", msg).response()
        if not request.path.startswith("/__sandbox"):
            response.headers.update(self.rate_limit_headers())
        return response

    def http_error_response(self, status: int, message: str) -> SandboxResponse:
        category = "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"
        return HubSpotApiError(status, category, message).response()

    def refuse_request(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.method in ("POST", "PATCH", "PUT") and request.body and request.media_type != "application/json":
            return HubSpotApiError(415, "VALIDATION_ERROR", "HTTP 415 Unsupported Media Type").response()
        return None

    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """Check the private-app token, then charge the request to both budgets."""
        auth = request.header("authorization") or ""
        if auth != f"Bearer {self.access_token}":
            message = _MISSING_AUTH if not auth else _BAD_TOKEN
            body = {
                "status": "error",
                "message": message,
                "correlationId": correlation_id(),
                "category": "INVALID_AUTHENTICATION",
            }
            return SandboxResponse.json(401, body)
        return self._charge()

    def _charge(self) -> SandboxResponse | None:
        with self.lock:
            now = self.rate_clock()
            self._expire(now)
            if self.daily_used >= self.daily_limit:
                return self.quota_exhausted_response()
            if len(self._window) >= self.ten_second_limit:
                return self.rate_limited_response()
            self._window.append(now)
            self.daily_used += 1
        return None

    def _expire(self, now: float) -> None:
        while self._window and self._window[0] <= now - self.rate_window_seconds:
            self._window.popleft()

    def _limit_body(self, policy: str, message: str) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": policy,
        }

    def rate_limited_response(self) -> SandboxResponse:
        with self.lock:
            retry = self.faults.retry_after_seconds
            if len(self._window) >= self.ten_second_limit and self._window:
                retry = max(1, math.ceil(self._window[0] + self.rate_window_seconds - self.rate_clock()))
        body = self._limit_body("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
        return SandboxResponse.json(429, body, {"Retry-After": str(retry)})

    def quota_exhausted_response(self) -> SandboxResponse:
        now = datetime.now(UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        body = self._limit_body("DAILY", "You have reached your daily limit.")
        return SandboxResponse.json(
            429, body, {"Retry-After": str(int((midnight - now).total_seconds()) + 1)}
        )

    def unavailable_response(self) -> SandboxResponse:
        body = {
            "status": "error",
            "message": "The service is temporarily unavailable. Please try again later.",
            "correlationId": correlation_id(),
            "category": "SERVICE_UNAVAILABLE",
        }
        return SandboxResponse.json(503, body, {"Retry-After": str(self.faults.retry_after_seconds)})

    def rate_limit_headers(self) -> dict[str, str]:
        with self.lock:
            now = self.rate_clock()
            self._expire(now)
            daily_remaining = max(self.daily_limit - self.daily_used, 0)
            if self.faults.quota_remaining is not None:
                daily_remaining = min(daily_remaining, self.faults.quota_remaining)
            secondly = max(1, math.ceil(self.ten_second_limit / self.rate_window_seconds))
            last_second = sum(1 for t in self._window if t > now - 1.0)
            return {
                "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(daily_remaining),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.rate_window_seconds * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.ten_second_limit),
                "X-HubSpot-RateLimit-Remaining": str(max(self.ten_second_limit - len(self._window), 0)),
                "X-HubSpot-RateLimit-Secondly": str(secondly),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(secondly - last_second, 0)),
            }

    # -- in-process helpers (no HTTP, no rate limits) -------------------------------------
    def insert_records(self, object_type: str, rows: list[dict[str, Any]]) -> list[str]:
        """Seed records as if created in HubSpot; returns their ids in order."""
        with self.lock:
            return [self.store.create(object_type, row).id for row in rows]

    def get_record(self, object_type: str, record_id: str) -> dict[str, str] | None:
        """A live record's properties (None once archived or merged away)."""
        with self.lock:
            record = self.store.table(object_type).records.get(record_id)
            if record is None or record.archived:
                return None
            return dict(record.properties)

    def find_record(self, object_type: str, id_property: str, value: str) -> dict[str, str] | None:
        with self.lock:
            record = self.store.find(object_type, value, id_property)
            return dict(record.properties) if record is not None else None

    def all_records(self, object_type: str, include_archived: bool = False) -> list[dict[str, str]]:
        with self.lock:
            table = self.store.table(object_type)
            return [dict(r.properties) for r in table.records.values() if include_archived or not r.archived]

    def update_record(self, object_type: str, record_id: str, properties: dict[str, Any]) -> dict[str, str]:
        """A user's edit in the HubSpot UI: validated, bumps hs_lastmodifieddate."""
        with self.lock:
            record = self.store.find(object_type, record_id)
            if record is None:
                msg = f"{object_type} {record_id} not found"
                raise KeyError(msg)
            self.store.update(object_type, record, properties)
            return dict(record.properties)

    def archive_record(self, object_type: str, record_id: str) -> None:
        """A user's delete in the HubSpot UI."""
        with self.lock:
            record = self.store.find(object_type, record_id)
            if record is not None:
                self.store.archive(object_type, record)
                self.assocs.drop_record(object_type, record.id)

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self.lock:
            return sorted(self.assocs.targets(from_type, from_id, to_type), key=int)

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> str:
        """Merge as a user would in the UI; returns the survivor's id."""
        return self.merge_records(object_type, primary_id, merged_id).id

    def object_type_id(self, object_type: str) -> str:
        return resolve_object_type(object_type).type_id

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "records": self.store.dump(),
                "associations": self.assocs.dump(),
                "association_labels": self.assocs.created_labels,
                "property_groups": self.property_groups,
                "daily_used": self.daily_used,
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.store.load(state.get("records", {}))
            self.assocs = AssociationStore(bare=self.store.bare)
            for from_type, to_type, label in state.get("association_labels", []):
                self.assocs.add_label(from_type, to_type, label)
            self.assocs.load(state.get("associations", []))
            groups = state.get("property_groups")
            if groups:
                self.property_groups = groups
            self.daily_used = int(state.get("daily_used", 0))
