"""LMS connector: reads course results from an xAPI 1.0.3 Learning Record Store.

The LMS is read-only for prm-sync: partners' learners earn certifications
there and we only ever read the statements (``upsert``/``delete`` answer
``READ_ONLY`` per record without touching the network). One object is
exposed, ``statements``, flattened to the handful of fields the mapping
needs (learner, verb, course, product line, score, success, completed_at).

Incremental reads page ``more`` links with ``since`` on ``stored``. ``since``
is exclusive in xAPI and ``stored`` is not unique, so the connector asks
from one millisecond before the cursor, drops what the cursor already
covers by ``(stored, id)``, and re-sorts each group of equal ``stored``
by id before yielding, whatever order the LRS returned the tie in.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.base import Cursor, FieldInfo, Quota, RemoteRecord, UpsertRequest, WriteResult
from connectors.httpclient import HttpClient, HttpSettings, load_settings
from prm_sync.errors import ConfigError, FatalError, RemoteError

XAPI_VERSION = "1.0.3"
VERB_PREFIX = "http://adlnet.gov/expapi/verbs/"
RESULT_VERBS = ("completed", "passed", "failed")
VOIDED = VERB_PREFIX + "voided"
PRODUCT_LINE_EXT = "https://prm-sync.dev/xapi/product-line"
OBJECT = "statements"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

STATEMENT_FIELDS: list[FieldInfo] = [
    FieldInfo(name="learner", type="string", label="Learner (email, or LMS account when it has none)",
              updateable=False),
    FieldInfo(name="learner_email", type="email", label="Learner email (actor mbox)", updateable=False),
    FieldInfo(name="learner_name", type="string", label="Learner name", updateable=False),
    FieldInfo(
        name="verb", type="picklist", label="Verb", updateable=False, picklist_values=list(RESULT_VERBS)
    ),
    FieldInfo(name="course_id", type="string", label="Course IRI (activity id)", updateable=False),
    FieldInfo(name="course_name", type="string", label="Course name (en-US)", updateable=False),
    FieldInfo(name="product_line", type="string", label="Product line extension", updateable=False),
    FieldInfo(name="score", type="double", label="Scaled score (-1..1)", updateable=False),
    FieldInfo(name="success", type="boolean", label="Success", updateable=False),
    FieldInfo(name="completed_at", type="datetime", label="Statement timestamp", updateable=False),
]
_FIELD_NAMES = [f.name for f in STATEMENT_FIELDS]


class LmsSettings(HttpSettings):
    """Where the LRS is and how to authenticate.

    xAPI 1.0.3 LRSs issue each client a key and secret for HTTP Basic (the
    default here); ``auth="bearer"`` sends ``access_token`` instead.
    """

    model_config = ConfigDict(extra="forbid")

    auth: Literal["basic", "bearer"] = "basic"
    key: str | None = Field(None, description="basic: the key the LRS issued (the user name)")
    secret: SecretStr | None = Field(None, description="basic: the secret the LRS issued")
    access_token: SecretStr | None = Field(None, description="bearer: the token; never logged")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _credentials(self) -> LmsSettings:
        if self.auth == "basic" and (not self.key or self.secret is None):
            msg = "HTTP Basic needs the LRS key and secret"
            raise ValueError(msg)
        if self.auth == "bearer" and self.access_token is None:
            msg = "bearer auth needs access_token"
            raise ValueError(msg)
        return self

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        if self.auth == "basic":
            assert self.key is not None and self.secret is not None
            pair = f"{self.key}:{self.secret.get_secret_value()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        assert self.access_token is not None
        return f"Bearer {self.access_token.get_secret_value()}"

    def refused_hint(self) -> str:
        if self.auth == "basic":
            return "credentials rejected; check the LRS key and secret (systems.lms.key_env, secret_env)"
        return "credentials rejected; check the LRS token (systems.lms.access_token_env)"

    @classmethod
    def load(cls, data: dict[str, Any], *, source: str | None = None) -> LmsSettings:
        """Validate raw settings, raising one ``ConfigError`` listing every problem."""
        return load_settings(cls, data, source=source)


class _Course(BaseModel):
    name: str | None = None
    product_line: str | None = None


def _parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return _aware(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _short_verb(verb_id: str) -> str:
    return verb_id[len(VERB_PREFIX) :] if verb_id.startswith(VERB_PREFIX) else verb_id


def _scaled(result: dict[str, Any]) -> float | None:
    """``score.scaled``, or raw rescaled between min and max when the LMS sent only those."""
    score = result.get("score") or {}
    if score.get("scaled") is not None:
        return float(score["scaled"])
    raw, low, high = score.get("raw"), score.get("min"), score.get("max")
    if raw is not None and low is not None and high is not None and high > low:
        return (float(raw) - float(low)) / (float(high) - float(low))
    return None


def _lang(names: dict[str, str] | None) -> str | None:
    if not names:
        return None
    return names.get("en-US") or names.get("en") or next(iter(names.values()))


def _learner_email(actor: dict[str, Any]) -> str | None:
    """The learner's email: the ``mbox`` (any case of ``mailto:``), or an LMS account named by an email."""
    mbox = str(actor.get("mbox") or "").strip()
    if mbox[:7].lower() == "mailto:":
        mbox = mbox[7:]
    account = actor.get("account") if isinstance(actor.get("account"), dict) else {}
    name = str(account.get("name") or "").strip()
    return mbox.strip() or (name if _EMAIL.match(name) else None)


def _account_key(actor: dict[str, Any]) -> str | None:
    """An account agent without an email, as ``account:<homePage>|<name>``: kept, never mistaken for an email."""
    account = actor.get("account") if isinstance(actor.get("account"), dict) else {}
    if not account.get("name"):
        return None
    return f"account:{account.get('homePage') or ''}|{account['name']}"


class LmsConnector:
    """prm-sync's view of the LRS: one read-only object, ``statements``."""

    system: ClassVar[str] = "lms"
    batch_size: ClassVar[int] = 100

    def __init__(self, settings: LmsSettings, *, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.http = http or HttpClient(
            self.system,
            settings,
            headers={
                "Authorization": settings.authorization(),
                "X-Experience-API-Version": XAPI_VERSION,
                "Accept": "application/json",
            },
            refused_hint=settings.refused_hint(),
        )
        self._courses: dict[str, _Course] = {}

    @property
    def api_calls(self) -> int:
        return self.http.api_calls

    # -- protocol ----------------------------------------------------------------
    def describe(self, object_name: str) -> list[FieldInfo]:
        self._check_object(object_name)
        return [f.model_copy() for f in STATEMENT_FIELDS]

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
        """Result statements stored in ``(since, until]``, ascending by (stored, id).

        ``where`` may name one verb (``completed``, ``passed``, ``failed`` or a
        verb IRI) to filter on the server; by default all three are read.
        With ``include_deleted`` a voiding statement yields its target as a
        deleted record.
        """
        self._check_object(object_name)
        wanted = self._wanted_fields(fields)
        params: dict[str, str] = {"ascending": "true", "limit": str(self.batch_size)}
        verbs = set(RESULT_VERBS)
        if where:
            verb = _short_verb(where.strip())
            if verb not in RESULT_VERBS:
                msg = f"lms: where must be one of {', '.join(RESULT_VERBS)} (got {where!r})"
                raise ConfigError(msg)
            verbs = {verb}
            if not include_deleted:
                params["verb"] = VERB_PREFIX + verb
        if since.modstamp is not None:
            params["since"] = _iso(since.modstamp - timedelta(milliseconds=1))
        if until is not None:
            params["until"] = _iso(until)
        floor = _aware(since.modstamp) if since.modstamp is not None else None
        for statement in self._sorted_ties(self._statements(params)):
            stored = _parse_ts(statement["stored"])
            if floor is not None:
                if since.last_id is None and stored <= floor:
                    continue
                if since.last_id is not None and (stored, str(statement["id"])) <= (floor, since.last_id):
                    continue
            record = self._to_record(statement, stored, wanted, verbs, include_deleted)
            if record is not None:
                yield record

    def read_all(
        self, object_name: str, fields: list[str], *, where: str | None = None
    ) -> Iterator[RemoteRecord]:
        """Every current (non-voided) result statement."""
        yield from self.read_changes(object_name, fields, Cursor(), where=where, include_deleted=False)

    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        """Refused per record: prm-sync never writes to the LMS."""
        self._check_object(object_name)
        return [self._read_only(r.key) for r in records]

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        """Refused per record: statements are immutable (voiding is the LMS's business)."""
        self._check_object(object_name)
        return [self._read_only(remote_id) for remote_id in remote_ids]

    def quota(self) -> Quota:
        """An LRS publishes no request budget; rate limits surface as 429 instead."""
        return Quota(window="none")

    def statement(self, statement_id: str) -> dict[str, Any] | None:
        """One raw statement by id (None when unknown or voided), for diagnostics."""
        try:
            response = self.http.request("GET", "/xAPI/statements", params={"statementId": statement_id})
        except RemoteError as exc:
            if exc.info.status == 404:
                return None
            raise
        return response.json()

    # -- internals ---------------------------------------------------------------
    @staticmethod
    def _read_only(key: str) -> WriteResult:
        return WriteResult(
            key=key, ok=False, error_code="READ_ONLY", error_message="the LMS is read-only for prm-sync"
        )

    @staticmethod
    def _check_object(object_name: str) -> None:
        if object_name != OBJECT:
            msg = f"lms: unknown object {object_name!r}; the LMS exposes only {OBJECT!r}"
            raise ConfigError(msg)

    @staticmethod
    def _wanted_fields(fields: list[str]) -> list[str]:
        fields = [f for f in fields if f != "id"]  # the statement id is the record id, always there
        unknown = [f for f in fields if f not in _FIELD_NAMES]
        if unknown:
            msg = f"lms: unknown statement field(s) {', '.join(unknown)}; known: {', '.join(_FIELD_NAMES)}"
            raise ConfigError(msg)
        return list(fields) or list(_FIELD_NAMES)

    def _statements(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Follow ``more`` links until the LRS says it is done; a repeated link is a server bug."""
        target: str = "/xAPI/statements"
        query: dict[str, str] | None = params
        seen: set[str] = set()
        while True:
            body = self._get_json(target, query)
            statements = body.get("statements")
            if not isinstance(statements, list):
                msg = "lms: statements response has no 'statements' list"
                raise FatalError(msg)
            yield from statements
            more = body.get("more") or ""
            if not more:
                return
            if more in seen:
                msg = f"lms: the LRS returned the same 'more' link twice ({more}); stopping to avoid a loop"
                raise FatalError(msg)
            seen.add(more)
            target, query = self._resolve_more(more), None

    def _resolve_more(self, more: str) -> str:
        if more.startswith(("http://", "https://")):
            return more
        base = urlsplit(self.settings.base_url)
        return f"{base.scheme}://{base.netloc}{more if more.startswith('/') else '/' + more}"

    def _get_json(self, target: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            response = self.http.request("GET", target, params=params)
            body = response.json()
        except ValueError:
            msg = f"lms: {target} did not answer JSON"
            raise FatalError(msg) from None
        except RemoteError as exc:
            if exc.info.status == 400:
                msg = f"lms: the LRS rejected the query: {exc.info.message}"
                raise FatalError(msg) from None
            raise
        if not isinstance(body, dict):
            msg = f"lms: {target} answered {type(body).__name__}, expected an object"
            raise FatalError(msg)
        return body

    @staticmethod
    def _sorted_ties(statements: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Re-emit each run of equal ``stored`` sorted by id, so cursors by (stored, id) hold."""
        group: list[dict[str, Any]] = []
        for statement in statements:
            if group and _parse_ts(group[0]["stored"]) != _parse_ts(statement["stored"]):
                yield from sorted(group, key=lambda s: s["id"])
                group = []
            group.append(statement)
        yield from sorted(group, key=lambda s: s["id"])

    def _to_record(
        self,
        statement: dict[str, Any],
        stored: datetime,
        wanted: list[str],
        verbs: set[str],
        include_deleted: bool,
    ) -> RemoteRecord | None:
        verb_id = (statement.get("verb") or {}).get("id", "")
        obj = statement.get("object") or {}
        if verb_id == VOIDED:
            if not include_deleted or obj.get("objectType") != "StatementRef":
                return None
            return RemoteRecord(id=str(obj["id"]), fields={}, modstamp=stored, deleted=True)
        verb = _short_verb(verb_id)
        if verb not in verbs:
            return None
        fields = self._flatten(statement, verb, stored)
        return RemoteRecord(id=str(statement["id"]), modstamp=stored, fields={k: fields[k] for k in wanted})

    def _flatten(self, statement: dict[str, Any], verb: str, stored: datetime) -> dict[str, Any]:
        actor = statement.get("actor") or {}
        obj = statement.get("object") or {}
        definition = obj.get("definition") or {}
        course = _Course(
            name=_lang(definition.get("name")),
            product_line=(definition.get("extensions") or {}).get(PRODUCT_LINE_EXT),
        )
        if course.name is None or course.product_line is None:
            known = self._course(str(obj.get("id")))
            course = _Course(
                name=course.name or known.name, product_line=course.product_line or known.product_line
            )
        result = statement.get("result") or {}
        timestamp = statement.get("timestamp")
        email = _learner_email(actor)
        return {
            "learner": email or _account_key(actor),
            "learner_email": email,
            "learner_name": actor.get("name"),
            "verb": verb,
            "course_id": obj.get("id"),
            "course_name": course.name,
            "product_line": course.product_line,
            "score": _scaled(result),
            "success": result.get("success"),
            "completed_at": _parse_ts(timestamp) if timestamp else stored,
        }

    def _course(self, course_id: str) -> _Course:
        """The activity's canonical definition, fetched once per course per connector."""
        if course_id not in self._courses:
            body = self._get_json("/xAPI/activities", {"activityId": course_id})
            definition = body.get("definition") or {}
            self._courses[course_id] = _Course(
                name=_lang(definition.get("name")),
                product_line=(definition.get("extensions") or {}).get(PRODUCT_LINE_EXT),
            )
        return self._courses[course_id]
