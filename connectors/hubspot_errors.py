"""HubSpot refusals -> prm-sync's exceptions and failed write results.

Why a module of its own: every call the connector makes (reads, upserts,
associations, setup's calls) ends in one place when HubSpot says no, and the
reading of that refusal (status, category, detail code, ``policyName``, a
portal that lacks a property) decides whether the engine retries, stops for
the day, asks the user to run setup or dead-letters one record. Keeping that
decision in one table-like function makes it reviewable alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hubspot.crm.associations.v4 import exceptions as assoc_exceptions
from hubspot.crm.associations.v4.schema import exceptions as assoc_schema_exceptions
from hubspot.crm.objects import exceptions as object_exceptions
from hubspot.crm.properties import exceptions as property_exceptions
from hubspot.crm.schemas import exceptions as schema_exceptions

from connectors.base import WriteResult
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

SYSTEM = "hubspot"
API_ERRORS = (
    object_exceptions.ApiException,
    property_exceptions.ApiException,
    assoc_exceptions.ApiException,
    assoc_schema_exceptions.ApiException,
    schema_exceptions.ApiException,
)


def translate(what: str, exc: Any, on_4xx: str) -> Exception:
    """One refused client call -> the exception that says how to recover (``on_4xx="record"``: dead-letter)."""
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
    info = RemoteErrorInfo(SYSTEM, status, code, message, fields)
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
    missing = missing_in_portal(str(body.get("message") or ""))
    if status == 400 and missing:
        hint = "create it with `prm-sync setup` (`prm-sync validate --remote` lists everything missing)"
        return ConfigError([Problem(f"the HubSpot portal has no {missing} ({what})", hint=hint)])
    return FatalError(f"hubspot: HTTP {status} {code}: {message}")


_MISSING_PROPERTY = re.compile(r'Property "?([\w.]+)"? does not exist')
_MISSING_OBJECT = re.compile(r"Unable to infer object type from: ([\w-]+)")


def missing_in_portal(message: str) -> str | None:
    """``property 'x'`` / ``object type 'y'`` when HubSpot's answer says the portal lacks it (a new portal)."""
    found = _MISSING_PROPERTY.search(message)
    if found:
        return f"property '{found.group(1)}'"
    found = _MISSING_OBJECT.search(message)
    return f"object type '{found.group(1)}'" if found else None



def error_info_raw(err: dict[str, Any]) -> RemoteErrorInfo:
    """A 207's StandardError (plain JSON) -> our error info; the detail code (INVALID_OPTION...) beats the category."""
    details = list(err.get("errors") or [])
    first = details[0] if details and isinstance(details[0], dict) else {}
    code = str(first["code"]) if first.get("code") else str(err["category"])
    fields = list((err.get("context") or {}).get("propertyName") or [])
    return RemoteErrorInfo("hubspot", None, code, str(err["message"]), fields)


def failed_result(key: str, info: RemoteErrorInfo, *, retryable: bool = False) -> WriteResult:
    return WriteResult(
        key=key,
        ok=False,
        error_code=info.code,
        error_message=info.message,
        error_fields=list(info.fields),
        retryable=retryable,
    )
