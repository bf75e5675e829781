"""Values Salesforce cannot hold, found before they are sent.

Salesforce documents two ranges a record's values must keep: a number field
holds ``precision`` digits of which ``scale`` follow the decimal point (from
describe: ``Amount`` is ``Currency(16, 2)``, precision 18 and scale 2), and a
date or datetime lies between 1700-01-01 and 4000-12-31. A value outside
them fails its record (``NUMBER_OUTSIDE_VALID_RANGE``...), and a date the API
cannot even parse (a year written ``1-01-01``) refuses the whole call. The
connector checks the records of a write against the describe it already holds
and keeps a record with such a value out of the call: it becomes a failed
record naming the field and the value, and costs no request.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import FieldInfo

NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
DATE_TYPES = frozenset({"date", "datetime"})
FIRST_YEAR, LAST_YEAR = 1700, 4000
_YEAR = re.compile(r"\s*([+-]?\d+)-")
CODE = "VALUE_OUT_OF_RANGE"


def _year(value: Any) -> int | None:
    if isinstance(value, date):  # datetimes are dates too
        return value.year
    if isinstance(value, str):
        found = _YEAR.match(value)
        return int(found.group(1)) if found else None
    return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None  # not a number at all: Salesforce's own answer says so
    return number if number.is_finite() else None


def problem(info: FieldInfo, value: Any) -> str | None:
    """Why ``value`` cannot go into the field ``info`` describes, or None."""
    if value is None:
        return None
    if info.type in NUMBER_TYPES and info.precision:
        number = _number(value)
        whole = info.precision - (info.scale or 0)
        if number is not None and number and number.adjusted() >= whole:
            return (
                f"{info.name}: {value} is outside the field's range: at most {whole} digits before the "
                f"decimal point (precision {info.precision}, scale {info.scale or 0})"
            )
    if info.type in DATE_TYPES:
        year = _year(value)
        if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
            shown = value.isoformat() if isinstance(value, date) else value
            return f"{info.name}: {shown} is outside Salesforce's date range (1700-01-01 to 4000-12-31)"
    return None


def first_problem(fields: dict[str, FieldInfo], values: dict[str, Any]) -> tuple[str, str] | None:
    """(field, reason) of the first value of a record that the described fields cannot hold."""
    for name, value in values.items():
        info = fields.get(name)
        if info is not None:
            reason = problem(info, value)
            if reason is not None:
                return name, reason
    return None


