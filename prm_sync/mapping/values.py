"""Value helpers shared by compiling, merging and hashing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def is_blank(value: Any) -> bool:
    """None, empty text and empty lists all mean "no value" to a CRM."""
    return value is None or value == "" or value == []


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_json(values: dict[str, Any]) -> str:
    """One spelling per value: 10 == 10.0 == Decimal('10.00'), datetimes in UTC."""
    return json.dumps(_plain(values), sort_keys=True, separators=(",", ":"), default=str)


def same(a: Any, b: Any) -> bool:
    """Equality that ignores representation (Decimal vs float, naive vs UTC, '' vs None)."""
    if is_blank(a) and is_blank(b):
        return True
    return _plain(a) == _plain(b)
