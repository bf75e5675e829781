"""HubSpot's JSON on the wire, both ways: values out as HubSpot's strings, answers in as plain JSON.

Why a module of its own: the connector skips the client library's models on
its hot paths (search pages, batch upserts) because building them costs more
than the HTTP call, so the checks those models made live here, next to the
value encoding the same requests use. Reads, writes and associations share
these helpers; none of them makes a request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
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
        utc = from_ms(to_ms(value))
        return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{to_ms(value) % 1000:03d}Z"  # %Y writes year 1 as "1"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(wire_value(v) for v in value)
    return str(value)



def id_key(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)



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


def read_answer(raw: Any, parse: Callable[[bytes], T]) -> T:
    """A client answer left unparsed (``_preload_content=False``) through ``parse``; its connection goes back."""
    try:
        return parse(raw.data)
    finally:
        raw.release_conn()


def search_answer(data: bytes) -> SearchPage:
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


def upsert_answer(data: bytes) -> dict[str, Any]:
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
    return {"results": answer["results"], "errors": batch_errors(answer)}


def batch_errors(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch answer's ``errors`` (207), each with what a StandardError must have."""
    errors = answer.get("errors") or []
    for err in errors:
        missing = [k for k in _ERROR_KEYS if not isinstance(err, dict) or err.get(k) is None]
        if missing:
            msg = f"Invalid value for `{missing[0]}`, must not be None"
            raise ValueError(msg)
    return list(errors)


