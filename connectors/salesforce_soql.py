"""Build SOQL safely: every value goes through ``soql_literal``, never string pasting.

SOQL has no bind variables over REST, so a value containing a quote could
otherwise end the literal and inject a condition (``x' OR Name != '``).
Escaping follows the SOQL reference: backslash, both quotes, newline,
carriage return, tab, form feed and backspace are escaped; other unicode
passes through unchanged.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def soql_quote(value: str) -> str:
    """A quoted SOQL string literal for ``value``."""
    if not isinstance(value, str):
        msg = f"soql_quote needs a str, got {type(value).__name__}"
        raise TypeError(msg)
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC (naive datetimes are taken as UTC)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"  # %Y writes year 1 as "1"


def soql_literal(value: Any) -> str:
    """Any supported Python value as a SOQL literal (strings quoted, dates unquoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"cannot express {value} in SOQL"
            raise ValueError(msg)
        return repr(value)
    if isinstance(value, str):
        return soql_quote(value)
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            msg = "an IN list needs at least one value"
            raise ValueError(msg)
        return "(" + ", ".join(soql_literal(v) for v in value) + ")"
    msg = f"no SOQL literal for {type(value).__name__}"
    raise TypeError(msg)


def soql_field(name: str) -> str:
    """Check a field or object name before it goes into a query (names cannot be quoted)."""
    if not _FIELD.fullmatch(name):
        msg = f"not a valid Salesforce field or object name: {name!r}"
        raise ValueError(msg)
    return name
