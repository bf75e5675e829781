"""LMS sandbox: an xAPI 1.0.3 Learning Record Store (statements and activities).

Serves the part of the xAPI Communication spec prm-sync reads from a real
LRS: ``GET/POST /xAPI/statements`` (filters, ``more`` paging, voiding),
``GET /xAPI/activities`` and ``GET /xAPI/about``. Every xAPI request must
carry ``X-Experience-API-Version`` (400 otherwise, as the spec requires);
auth is the bearer token, or HTTP Basic whose password is the token because
that is what most LRSs hand out.

Wire choices worth knowing:

* ``stored`` is set by the server, never decreases, and a batch POSTed
  together shares one value; set ``app.clock`` to freeze it (ties on
  ``stored`` are then common, which is what the connector must survive).
* Results are ordered by ``(stored, id)``; ``more`` is an opaque cursor URL
  (``""`` when done); ``limit`` defaults to and is capped at 100.
* A rate limit answers 429 with ``Retry-After``; an exhausted quota answers
  403 with ``{"error": "quota_exceeded"}`` so it is never mistaken for a
  retryable rate limit.
* Protocol rules from the 1.0.3 Communication spec: the version header must
  be ``1.0`` or ``1.0.x`` (anything else is 400, 3.3); a statement body must
  be ``application/json`` (400 otherwise, 3.2; ``multipart/mixed``
  attachments are a JSON 501); ``PUT /statements?statementId=`` stores one
  statement and answers 204 (2.1.1); every Statement Resource answer carries
  ``X-Experience-API-Consistent-Through`` (2.1.3) and every answer, a 405
  too, ``X-Experience-API-Version`` (3.3). ``format`` (exact, ids,
  canonical), ``related_activities``, ``related_agents`` and
  ``attachments=true`` (the multipart answer) follow 2.1.3; their shapes
  live in ``xapi_shapes.py``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.utils
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from connectors.sandbox.http import DropConnection, SandboxApp, SandboxRequest, SandboxResponse
from connectors.sandbox.xapi_shapes import multipart, related_activity_ids, related_agents, shape

XAPI_VERSION = "1.0.3"
VERB_PREFIX = "http://adlnet.gov/expapi/verbs/"
VOIDED = VERB_PREFIX + "voided"
PRODUCT_LINE_EXT = "https://prm-sync.dev/xapi/product-line"
MAX_LIMIT = 100
_SUPPORTED_VERSION = re.compile(r"1\.0(\.\d+)?")
_ALLOWED_PARAMS = {
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
    "cursor",
}
_CHOICES = {
    "format": ("exact", "ids", "canonical"),
    "attachments": ("true", "false"),
    "related_activities": ("true", "false"),
    "related_agents": ("true", "false"),
    "ascending": ("true", "false"),
}
_AUTHORITY = {"objectType": "Agent", "name": "prm-sync LRS sandbox", "mbox": "mailto:lrs@sandbox.invalid"}


class XapiError(Exception):
    """A request the LRS answers with 4xx and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def format_stored(value: datetime) -> str:
    """xAPI timestamps as this LRS writes them: UTC, millisecond precision, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"not an ISO 8601 timestamp: {value!r}"
        raise XapiError(400, msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def make_statement(
    email: str,
    course_id: str,
    *,
    verb: str = "completed",
    name: str | None = None,
    course_name: str | None = None,
    product_line: str | None = None,
    scaled: float | None = None,
    success: bool | None = None,
    timestamp: datetime | str | None = None,
    statement_id: str | None = None,
) -> dict[str, Any]:
    """Build a completion-style statement the way an LMS would send it (for seeding and tests)."""
    definition: dict[str, Any] = {"type": "http://adlnet.gov/expapi/activities/course"}
    if course_name:
        definition["name"] = {"en-US": course_name}
    if product_line:
        definition["extensions"] = {PRODUCT_LINE_EXT: product_line}
    statement: dict[str, Any] = {
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}", **({"name": name} if name else {})},
        "verb": {"id": VERB_PREFIX + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": course_id, "definition": definition},
    }
    result: dict[str, Any] = {"completion": verb in ("completed", "passed")}
    if scaled is not None:
        result["score"] = {"scaled": scaled, "raw": round(scaled * 100, 2), "min": 0, "max": 100}
    if success is not None:
        result["success"] = success
    statement["result"] = result
    if timestamp is not None:
        statement["timestamp"] = timestamp if isinstance(timestamp, str) else format_stored(timestamp)
    if statement_id:
        statement["id"] = statement_id
    return statement


def _agent_key(agent: Any) -> str | None:
    """The inverse functional identifier that names an agent (mbox or account)."""
    if not isinstance(agent, dict):
        return None
    if agent.get("mbox"):
        return f"mbox:{str(agent['mbox']).lower()}"
    account = agent.get("account")
    if isinstance(account, dict) and account.get("name"):
        return f"account:{account.get('homePage')}|{account['name']}"
    return None


class LmsSandbox(SandboxApp):
    """An in-memory xAPI 1.0.3 Learning Record Store."""

    system = "lms"

    def __init__(
        self,
        *,
        strict: bool = False,
        access_token: str | None = "sandbox-token",
        key: str = "sandbox-key",
        secret: str = "sandbox-secret",
    ) -> None:
        super().__init__(strict=strict, access_token=access_token or "")
        self.bearer_enabled = access_token is not None  # an LRS may also accept a bearer token it issued
        self.key = key  # HTTP Basic credentials issued to the client
        self.secret = secret
        self.clock: datetime | None = None  # set to freeze `stored`; None = wall clock
        self.statements: dict[str, dict[str, Any]] = {}
        self.voided: set[str] = set()
        self.activities: dict[str, dict[str, Any]] = {}
        self._last_stored: datetime | None = None
        self.route("GET", r"/xAPI/about", self._about, "lms.about")
        self.route("GET", r"/xAPI/statements", self._get_statements, "lms.statements.get")
        self.route("POST", r"/xAPI/statements", self._post_statements, "lms.statements.post")
        self.route("PUT", r"/xAPI/statements", self._put_statement, "lms.statements.put")
        self.route("GET", r"/xAPI/activities", self._get_activity, "lms.activities.get")

    # -- SandboxApp hooks ------------------------------------------------------
    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """HTTP Basic with the issued key and secret (or the bearer token, if enabled)."""
        if request.path == "/xAPI/about":  # the about resource is public and version-agnostic
            return None
        auth = request.header("authorization", "") or ""
        bearer_ok = self.bearer_enabled and hmac.compare_digest(auth.encode(), f"Bearer {self.access_token}".encode())
        if not (bearer_ok or self._basic_ok(auth)):
            return self._error(
                401, "invalid or missing credentials", {"WWW-Authenticate": 'Basic realm="LRS"'}
            )
        return None

    def refuse_request(self, request: SandboxRequest) -> SandboxResponse | None:
        """The version header (3.3) and, for statements sent in, their media type (3.2)."""
        if request.path == "/xAPI/about":
            return None
        version = request.header("x-experience-api-version")
        if not version:
            return self._error(400, "the X-Experience-API-Version header is required")
        if not _SUPPORTED_VERSION.fullmatch(version.strip()):
            return self._error(400, f"X-Experience-API-Version {version!r} is not supported (use 1.0.x)")
        if request.method in ("POST", "PUT") and request.path == "/xAPI/statements":
            if "method" in request.query:
                return self.not_implemented(request, "the alternate request syntax (method parameter)")
            if request.media_type == "multipart/mixed":
                return self.not_implemented(request, "multipart/mixed attachments")
            if request.media_type != "application/json":
                declared = request.header("content-type") or "none"
                return self._error(400, f"statements must be sent as application/json, not {declared}")
        return None

    def http_error_response(self, status: int, message: str) -> SandboxResponse:
        return self._error(status, message)

    def quota_exhausted_response(self) -> SandboxResponse:
        return self._error(403, "request quota exhausted", error="quota_exceeded")

    def rate_limited_response(self) -> SandboxResponse:
        retry = {"Retry-After": str(self.faults.retry_after_seconds)}
        return self._error(429, "too many requests", retry, error="rate_limited")

    def unavailable_response(self) -> SandboxResponse:
        return self._error(503, "service unavailable (injected)", error="unavailable")

    def _basic_ok(self, auth: str) -> bool:
        if not auth.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(auth[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return (bool(sep) and hmac.compare_digest(user.encode(), self.key.encode())
                and hmac.compare_digest(password.encode(), self.secret.encode()))

    @staticmethod
    def _error(
        status: int, message: str, headers: dict[str, str] | None = None, *, error: str | None = None
    ) -> SandboxResponse:
        payload = {"error": error or HTTPStatus(status).phrase.lower().replace(" ", "_"), "message": message}
        return SandboxResponse.json(
            status, payload, {"X-Experience-API-Version": XAPI_VERSION, **(headers or {})}
        )

    @staticmethod
    def _ok(payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
        return SandboxResponse.json(
            200, payload, {"X-Experience-API-Version": XAPI_VERSION, **(headers or {})}
        )

    # -- helpers for tests, seeding and the demo --------------------------------
    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def add_course(self, course_id: str, name: str, product_line: str) -> None:
        """Register a course activity with its canonical definition."""
        with self.lock:
            self.activities[course_id] = {
                "objectType": "Activity",
                "id": course_id,
                "definition": {
                    "type": "http://adlnet.gov/expapi/activities/course",
                    "name": {"en-US": name},
                    "extensions": {PRODUCT_LINE_EXT: product_line},
                },
            }

    def insert_statements(self, statements: list[dict[str, Any]]) -> list[str]:
        """Store statements as a POST would (validation, voiding, shared ``stored``)."""
        with self.lock:
            return self._store(statements)

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "statements": copy.deepcopy(list(self.statements.values())),
                "voided": sorted(self.voided),
                "activities": copy.deepcopy(self.activities),
                "last_stored": self._last_stored.isoformat() if self._last_stored else None,
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.statements = {s["id"]: s for s in copy.deepcopy(state.get("statements", []))}
            self.voided = set(state.get("voided", []))
            self.activities = copy.deepcopy(state.get("activities", {}))
            last = state.get("last_stored")
            self._last_stored = datetime.fromisoformat(last) if last else None

    # -- storing -----------------------------------------------------------------
    def _next_stored(self) -> datetime:
        now = self.now().astimezone(UTC)
        now = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        if self._last_stored is not None and now < self._last_stored:
            now = self._last_stored  # stored never goes backwards, even if the clock does
        self._last_stored = now
        return now

    def _store(self, statements: list[dict[str, Any]]) -> list[str]:
        prepared = [self._validate(copy.deepcopy(s)) for s in statements]
        seen: set[str] = set()
        for statement in prepared:
            if statement["id"] in seen:
                msg = f"statement id {statement['id']} appears twice in one request"
                raise XapiError(400, msg)
            seen.add(statement["id"])
        fresh = [s for s in prepared if s["id"] not in self.statements]
        stored = format_stored(self._next_stored())
        for statement in fresh:
            statement["stored"] = stored
            statement.setdefault("timestamp", stored)
            statement.setdefault("authority", dict(_AUTHORITY))
            statement.setdefault("version", "1.0.0")
            self.statements[statement["id"]] = statement
            self._learn_activity(statement.get("object", {}))
            if statement["verb"]["id"] == VOIDED:
                self.voided.add(statement["object"]["id"])
        return [s["id"] for s in prepared]

    def _validate(self, statement: Any) -> dict[str, Any]:
        if not isinstance(statement, dict):
            raise XapiError(400, "a statement must be a JSON object")
        for key in ("actor", "verb", "object"):
            if not isinstance(statement.get(key), dict):
                msg = f"statement is missing the required property '{key}'"
                raise XapiError(400, msg)
        if _agent_key(statement["actor"]) is None:
            raise XapiError(400, "actor needs an inverse functional identifier (mbox or account)")
        if not statement["verb"].get("id"):
            raise XapiError(400, "verb.id is required")
        if not statement["object"].get("id"):
            raise XapiError(400, "object.id is required")
        statement.pop("stored", None)  # the LRS owns `stored`; a client value is replaced
        if "timestamp" in statement:
            parse_timestamp(str(statement["timestamp"]))
        statement_id = statement.setdefault("id", str(uuid.uuid4()))
        try:
            uuid.UUID(str(statement_id))
        except ValueError:
            msg = f"statement id must be a UUID (got {statement_id!r})"
            raise XapiError(400, msg) from None
        existing = self.statements.get(statement_id)
        if existing is not None and self._comparable(existing) != self._comparable(statement):
            msg = f"statement {statement_id} already exists with different content"
            raise XapiError(409, msg)
        if statement["verb"]["id"] == VOIDED:
            target = statement["object"]
            if target.get("objectType") != "StatementRef":
                raise XapiError(400, "a voiding statement's object must be a StatementRef")
            voided_target = self.statements.get(target["id"])
            if voided_target is not None and voided_target["verb"]["id"] == VOIDED:
                raise XapiError(400, "a voiding statement cannot be voided")
        return statement

    @staticmethod
    def _comparable(statement: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v for k, v in statement.items() if k not in ("stored", "authority", "version", "timestamp")
        }

    def _learn_activity(self, obj: dict[str, Any]) -> None:
        if obj.get("objectType", "Activity") != "Activity" or obj["id"] in self.activities:
            return
        self.activities[obj["id"]] = {
            "objectType": "Activity",
            "id": obj["id"],
            **({"definition": copy.deepcopy(obj["definition"])} if obj.get("definition") else {}),
        }

    # -- routes ------------------------------------------------------------------
    def _about(self, request: SandboxRequest) -> SandboxResponse:
        return self._ok(
            {"version": [XAPI_VERSION], "extensions": {"https://prm-sync.dev/xapi/sandbox": True}}
        )

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        response = super().dispatch(request)
        response.headers.setdefault("X-Experience-API-Version", XAPI_VERSION)  # 3.3: on every answer
        if request.path == "/xAPI/statements":  # every Statement Resource answer says how fresh reads are
            with self.lock:
                now = self.now().astimezone(UTC)
                through = max(now, self._last_stored) if self._last_stored else now
            response.headers["X-Experience-API-Consistent-Through"] = format_stored(through)
        return response

    @staticmethod
    def _statements_from(request: SandboxRequest) -> Any:
        try:
            return request.json()
        except ValueError:  # UnicodeDecodeError is one too
            raise XapiError(400, "the body is not valid JSON") from None

    def _post_statements(self, request: SandboxRequest) -> SandboxResponse:
        try:
            body = self._statements_from(request)
            statements = body if isinstance(body, list) else [body]
            with self.lock:
                ids = self._store(statements)
        except XapiError as exc:
            return self._error(exc.status, exc.message)
        if self.consume_write_drop():
            raise DropConnection
        return self._ok(ids)

    def _put_statement(self, request: SandboxRequest) -> SandboxResponse:
        """Store one statement under the id in the URL (2.1.1): 204, or 409 for a different one."""
        statement_id = request.arg("statementId")
        try:
            unknown = sorted(set(request.query) - {"statementId"})
            if unknown:
                raise XapiError(400, f"unknown query parameter(s): {', '.join(unknown)}")
            if not statement_id:
                raise XapiError(400, "PUT /statements needs the statementId parameter")
            statement = self._statements_from(request)
            if not isinstance(statement, dict):
                raise XapiError(400, "PUT /statements takes a single statement object")
            if statement.get("id", statement_id) != statement_id:
                raise XapiError(400, "the statement's id does not match the statementId parameter")
            with self.lock:
                self._store([{**statement, "id": statement_id}])
        except XapiError as exc:
            return self._error(exc.status, exc.message)
        if self.consume_write_drop():
            raise DropConnection
        return SandboxResponse.empty(204, {"X-Experience-API-Version": XAPI_VERSION})

    def _get_activity(self, request: SandboxRequest) -> SandboxResponse:
        activity_id = request.arg("activityId")
        if not activity_id:
            return self._error(400, "activityId is required")
        with self.lock:
            activity = copy.deepcopy(self.activities.get(activity_id))
        # the spec asks for an Activity even when the LRS has no definition of it
        return self._ok(activity or {"objectType": "Activity", "id": activity_id})

    def _get_statements(self, request: SandboxRequest) -> SandboxResponse:
        headers: dict[str, str] = {}
        try:
            query = self._query_from(request)
            with self.lock:
                if "statementId" in query or "voidedStatementId" in query:
                    found = self._single(query)
                    modified = email.utils.format_datetime(parse_timestamp(found["stored"]), usegmt=True)
                    headers["Last-Modified"] = modified  # 2.1.3.s2.b8
                    result: Any = self._shaped(found, query, request)
                else:
                    page, more = self._page(query)
                    result = {"statements": [self._shaped(s, query, request) for s in page], "more": more}
        except XapiError as exc:
            return self._error(exc.status, exc.message)
        if query.get("attachments", "false").lower() == "true":  # 2.1.3: the multipart response format
            body, content_type = multipart(result)
            return SandboxResponse(
                200, body, {"Content-Type": content_type, "X-Experience-API-Version": XAPI_VERSION, **headers}
            )
        return self._ok(result, headers)

    def _shaped(self, statement: dict[str, Any], query: dict[str, str], request: SandboxRequest) -> dict[str, Any]:
        """The statement in the asked ``format``; canonical Activities are the ones this LRS knows."""
        fmt = query.get("format", "exact").lower()
        return shape(statement, fmt, self.activities.get, request.header("accept-language"))

    # -- querying ----------------------------------------------------------------
    def _query_from(self, request: SandboxRequest) -> dict[str, str]:
        query = {name: values[0] for name, values in request.query.items()}
        unknown = sorted(set(query) - _ALLOWED_PARAMS)
        if unknown:
            msg = f"unknown query parameter(s): {', '.join(unknown)}"
            raise XapiError(400, msg)
        if "cursor" in query:
            if len(query) > 1:
                raise XapiError(400, "a 'more' cursor URL cannot be combined with other parameters")
            try:
                decoded = json.loads(base64.urlsafe_b64decode(query["cursor"].encode()).decode())
            except (ValueError, binascii.Error):
                raise XapiError(400, "malformed cursor") from None
            if not isinstance(decoded, dict):
                raise XapiError(400, "malformed cursor")
            return {str(k): str(v) for k, v in decoded.items()}
        for name, accepted in _CHOICES.items():
            if name in query and query[name].lower() not in accepted:
                msg = f"{name} must be one of {', '.join(accepted)} (got {query[name]!r})"
                raise XapiError(400, msg)
        if "statementId" in query and "voidedStatementId" in query:
            raise XapiError(400, "statementId and voidedStatementId cannot be combined")
        if ("statementId" in query or "voidedStatementId" in query) and len(
            set(query) - {"statementId", "voidedStatementId", "format", "attachments"}
        ):
            raise XapiError(400, "statementId cannot be combined with filter parameters")
        return query

    def _single(self, query: dict[str, str]) -> dict[str, Any]:
        if "statementId" in query:
            found = self.statements.get(query["statementId"])
            if found is None or found["id"] in self.voided:
                raise XapiError(404, f"no statement {query['statementId']}")
        else:
            found = self.statements.get(query["voidedStatementId"])
            if found is None or found["id"] not in self.voided:
                raise XapiError(404, f"no voided statement {query['voidedStatementId']}")
        return found

    def _page(self, query: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        limit = self._limit(query.get("limit"))
        ascending = query.get("ascending", "false").lower() == "true"
        matches = sorted(
            (s for s in self.statements.values() if self._matches(s, query)),
            key=lambda s: (s["stored"], s["id"]),
            reverse=not ascending,
        )
        after = query.get("after")
        if after:
            position = tuple(json.loads(after))
            if ascending:
                matches = [s for s in matches if (s["stored"], s["id"]) > position]
            else:
                matches = [s for s in matches if (s["stored"], s["id"]) < position]
        page = matches[:limit]
        if len(matches) <= limit:
            return copy.deepcopy(page), ""
        next_query = {k: v for k, v in query.items() if k != "after"}
        next_query["after"] = json.dumps([page[-1]["stored"], page[-1]["id"]])
        token = base64.urlsafe_b64encode(json.dumps(next_query).encode()).decode()
        return copy.deepcopy(page), f"/xAPI/statements?cursor={token}"

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None:
            return MAX_LIMIT
        try:
            value = int(raw)
        except ValueError:
            msg = f"limit must be a non-negative integer (got {raw!r})"
            raise XapiError(400, msg) from None
        if value < 0:
            raise XapiError(400, "limit must be a non-negative integer")
        return MAX_LIMIT if value == 0 else min(value, MAX_LIMIT)

    def _matches(self, statement: dict[str, Any], query: dict[str, str]) -> bool:
        if statement["id"] in self.voided:
            return False
        stored = parse_timestamp(statement["stored"])
        if "since" in query and not stored > parse_timestamp(query["since"]):
            return False
        if "until" in query and not stored <= parse_timestamp(query["until"]):
            return False
        if "verb" in query and statement["verb"]["id"] != query["verb"]:
            return False
        if "activity" in query:
            if query.get("related_activities", "false").lower() == "true":
                if query["activity"] not in set(related_activity_ids(statement)):
                    return False
            elif statement["object"].get("objectType", "Activity") != "Activity" or (
                statement["object"].get("id") != query["activity"]
            ):
                return False
        if (
            "registration" in query
            and statement.get("context", {}).get("registration") != query["registration"]
        ):
            return False
        if "agent" in query:
            try:
                wanted = _agent_key(json.loads(query["agent"]))
            except ValueError:
                raise XapiError(400, "agent must be a JSON Agent object") from None
            if wanted is None:
                raise XapiError(400, "agent needs an mbox or account")
            if query.get("related_agents", "false").lower() == "true":
                candidates = [_agent_key(a) for a in related_agents(statement)]
            else:
                candidates = [_agent_key(statement["actor"]), _agent_key(statement["object"])]
            if wanted not in candidates:
                return False
        return True
