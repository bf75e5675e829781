"""Date, time, number and money transforms.

Each system writes time differently (Salesforce ``2024-01-31T10:00:00.000+0000``,
HubSpot ISO text or epoch milliseconds, Odoo ``2024-01-31 10:00:00`` in UTC);
reading accepts all of them and always yields a timezone-aware datetime, so
comparisons in the rules never mix naive and aware values. Writing uses the
``format`` the mapping names.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.registry import NoParams, Params, fail, register

_EPOCH_MS = re.compile(r"^-?\d{10,}$")
# a plain decimal, optionally in exponent notation: HubSpot sends numbers as such text ("1.5E7"),
# Salesforce and Odoo as JSON numbers; anything else is decorated text (thousands separators,
# a currency symbol or code) that is cleaned once and must then be plain
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DECORATION = re.compile(r"[\s,'_]|^[A-Z]{3}\s*|\s*[A-Z]{3}$|^[$€£¥]|[$€£¥]$")
MAX_MAGNITUDE = 100
"""Numbers of 10**100 or more are refused outright: no system or store we speak to holds one,
and rounding one to cents would need a decimal context of that many digits."""


def _from_epoch_ms(ms: float, value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise fail(f"epoch milliseconds out of range: {value!r}", value) from None


def parse_datetime(value: Any) -> datetime | None:
    """Any of the systems' datetime spellings -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch_ms(value, value)
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_MS.match(text):
            return _from_epoch_ms(int(text), value)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise fail(f"unparsable datetime {value!r}", value) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise fail(f"unparsable datetime {value!r}", value)


def parse_date(value: Any) -> date | None:
    """An ISO date, an ISO datetime (its UTC date) or epoch milliseconds -> date."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise fail(f"unparsable date {value!r}", value) from None
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.astimezone(UTC).date()


def _date_to_remote(value: Any, params: Any, ctx: TransformContext) -> Any:
    parsed = parse_date(value)
    return None if parsed is None else parsed.isoformat()


register(
    "date",
    "python date <-> ISO 'YYYY-MM-DD'",
    to_remote=_date_to_remote,
    from_remote=lambda v, p, c: parse_date(v),
    params=NoParams,
    two_way=True,
    round_trips=lambda p: (date,),
)


class DatetimeParams(Params):
    format: Literal["salesforce", "iso", "epoch_ms", "odoo"] = Field(
        "iso", description="how to write the value; reading accepts every format"
    )


def format_datetime(value: datetime, fmt: str) -> Any:
    """Write an aware datetime the way a system expects it (always in UTC)."""
    utc = value.astimezone(UTC)
    # the year always has four digits: strftime's %Y writes year 1 as "1", which no API parses
    day = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
    clock = f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"  # strftime's %H:%M:%S, at a fifth of the cost
    if fmt == "salesforce":
        return f"{day}T{clock}.{utc.microsecond // 1000:03d}+0000"
    if fmt == "epoch_ms":
        return int(utc.timestamp() * 1000)
    if fmt == "odoo":
        return f"{day} {clock}"
    return utc.isoformat().replace("+00:00", "Z")


def _dt_to_remote(value: Any, params: DatetimeParams, ctx: TransformContext) -> Any:
    parsed = parse_datetime(value)
    return None if parsed is None else format_datetime(parsed, params.format)


register(
    "datetime",
    "aware datetime <-> Salesforce / ISO / epoch ms / Odoo text (reads all)",
    to_remote=_dt_to_remote,
    from_remote=lambda v, p, c: parse_datetime(v),
    params=DatetimeParams,
    two_way=True,
    shorthand="format",
    # both keep at least the milliseconds normalising keeps; epoch ms rounds through a float, Odoo drops them
    round_trips=lambda p: (datetime,) if p.format in ("salesforce", "iso") else (),
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        msg = f"unknown time zone {name!r}"
        raise ValueError(msg) from err


class TimezoneParams(Params):
    tz: str

    @field_validator("tz")
    @classmethod
    def _known(cls, value: str) -> str:
        _zone(value)
        return value


def _tz_to_remote(value: Any, params: TimezoneParams, ctx: TransformContext) -> Any:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.astimezone(_zone(params.tz))


def _tz_from_remote(value: Any, params: TimezoneParams, ctx: TransformContext) -> Any:
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.astimezone(UTC)


register(
    "timezone",
    "show a datetime in a time zone; read back as UTC",
    to_remote=_tz_to_remote,
    from_remote=_tz_from_remote,
    params=TimezoneParams,
    two_way=True,
    shorthand="tz",
)


def to_decimal(value: Any) -> Decimal | None:
    """Numbers and numeric text -> a finite Decimal, or a ``MappingValueError`` naming the value.

    Text is read as the systems document it: a decimal number, optionally in
    exponent notation (HubSpot's ``"1.5E7"`` is 15,000,000). Thousands
    separators and a currency symbol or code around it are dropped first;
    nothing else is (the old reading dropped every other character, so
    ``"1.5E7"`` became 1.57 and ``"1e30"`` 130). NaN, infinity and numbers of
    10**100 or more are refused: they are nobody's amount.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise fail(f"not a number: {value!r}", value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = str(value).strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            text = _DECORATION.sub("", text)
            if not _DECIMAL_TEXT.fullmatch(text):
                raise fail(f"not a number: {value!r}", value)
        number = Decimal(text)
    if not number.is_finite():
        raise fail(f"not a finite number: {value!r}", value)
    if number and number.adjusted() >= MAX_MAGNITUDE:
        raise fail(f"number out of range: {value!r}", value)
    return number


class NumberParams(Params):
    places: int | None = Field(None, ge=0, le=10, description="decimal places to round to")


# enough digits for any number to_decimal lets through: the default 28 would raise
# InvalidOperation for a 30-digit amount, and that is no MappingValueError
_WIDE = Context(prec=MAX_MAGNITUDE + 12, Emax=MAX_MAGNITUDE * 10, Emin=-MAX_MAGNITUDE * 10, rounding=ROUND_HALF_UP)
_EXPONENTS = {places: Decimal(1).scaleb(-places) for places in range(11)}  # NumberParams.places: 0..10


def _quantize(number: Decimal, places: int | None) -> Decimal:
    if places is None:
        return number
    return number.quantize(_EXPONENTS.get(places) or Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_WIDE)


def _number_to_remote(value: Any, params: NumberParams, ctx: TransformContext) -> Any:
    number = to_decimal(value)
    return None if number is None else float(_quantize(number, params.places))


def _number_from_remote(value: Any, params: NumberParams, ctx: TransformContext) -> Any:
    number = to_decimal(value)
    return None if number is None else _quantize(number, params.places)


register(
    "number",
    "Decimal <-> JSON number, rounded to `places`",
    to_remote=_number_to_remote,
    from_remote=_number_from_remote,
    params=NumberParams,
    two_way=True,
    shorthand="places",
)


class SumParams(Params):
    fields: list[str] = Field(min_length=2, description="canonical number fields to add (blank counts as 0)")
    places: int | None = Field(2, ge=0, le=10, description="decimal places to round to")


def _sum(value: Any, params: SumParams, ctx: TransformContext) -> Any:
    numbers = [to_decimal(value.get(name)) for name in params.fields]
    return float(_quantize(sum((n for n in numbers if n is not None), Decimal(0)), params.places))


register(
    "sum",
    "add several number fields into one remote number (one-way), e.g. a document total",
    to_remote=_sum,
    from_remote=None,  # a total cannot be split back into its parts
    params=SumParams,
    two_way=False,
    inputs=lambda p: list(p.fields),
)


class CurrencyParams(Params):
    code: str | None = Field(None, description="ISO currency code written after the amount")
    places: int = Field(2, ge=0, le=6)


def _currency_to_remote(value: Any, params: CurrencyParams, ctx: TransformContext) -> Any:
    number = to_decimal(value)
    if number is None:
        return None
    text = f"{_quantize(number, params.places):,.{params.places}f}"
    return f"{text} {params.code}" if params.code else text


def _currency_from_remote(value: Any, params: CurrencyParams, ctx: TransformContext) -> Any:
    number = to_decimal(value)
    return None if number is None else _quantize(number, params.places)


register(
    "currency",
    "Decimal amount <-> formatted text '1,234.50 USD'",
    to_remote=_currency_to_remote,
    from_remote=_currency_from_remote,
    params=CurrencyParams,
    two_way=True,
    shorthand="code",
)
