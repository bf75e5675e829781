"""Canonical values in one comparable, JSON-safe form.

Change detection compares what a system holds with what we last saw there.
The two sides come through different code paths (a Salesforce float, a
HubSpot string, a PRM ``Decimal``), so every value is normalised first:
money to a plain decimal string, datetimes to UTC at millisecond precision
(what the CRMs keep), lists sorted (multi-selects have no order), blanks to
``None``. Equal after normalisation means "no change", which is what stops
echoes and ping-pong.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson


def normalize(value: Any) -> Any:
    # the common cases first, by exact type: a sync normalises ~70 values per record
    kind = type(value)
    if kind is str:
        return value.strip() or None
    if value is None or kind is bool:
        return value
    exact = _BY_EXACT_TYPE.get(kind)
    if exact is not None:
        return exact(value)
    return _normalize_other(value)


def _normalize_other(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return _normalize_decimal(value)
    if isinstance(value, float):
        return normalize(Decimal(repr(value)))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return _normalize_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, (list, tuple, set)):
        items = [normalize(v) for v in value]
        items = [v for v in items if v is not None]
        return sorted(items, key=str) or None
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in sorted(value.items())}
    return str(value)


def _normalize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # timespec="milliseconds" truncates the microseconds, as the CRMs do
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _normalize_decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")


# exact types straight to their rule; subclasses (enums, str-enums, IntEnum) take ``_normalize_other``
_BY_EXACT_TYPE: dict[type, Any] = {
    datetime: _normalize_datetime,
    Decimal: _normalize_decimal,
    int: str,
    date: date.isoformat,
}


def normalize_all(values: dict[str, Any]) -> dict[str, Any]:
    return {key: normalize(value) for key, value in values.items()}


def content_hash(values: dict[str, Any]) -> str:
    """Stable hash of normalised values: equal data, equal hash, whatever the key order."""
    return hash_normalized(normalize_all(values))


_HASH_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def hash_normalized(values: dict[str, Any]) -> str:
    """``content_hash`` of values that are normalised already (the engine's hot path)."""
    try:
        payload = orjson.dumps(values, option=_HASH_OPTIONS, default=str)
    except orjson.JSONEncodeError:  # integers beyond 64 bits
        payload = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:32]


_SAME_SCALARS = (type(None), str, bool, int)


def same_json(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are stored as the same JSON and read back as equal values, with equal types.

    Stricter than ``==``, which holds for ``1``, ``1.0`` and ``True`` alike:
    types must match exactly at every level, dicts in the same key order.
    Only ``None``, ``str``, ``bool`` and ``int`` count as scalars (what
    normalised values are made of); anything else (floats with their ``-0.0``,
    datetimes equal across time zones, Decimals) is never "the same", so a
    caller that drops a value equal to another one keeps it in doubt. One
    object is always the same as itself (the common case, checked first).
    """
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _SAME_SCALARS:
        return bool(a == b)
    if kind is list:
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        return list(a) == list(b) and all(same_json(value, b[key]) for key, value in a.items())
    return False
