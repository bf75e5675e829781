"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timezone-aware timestamp and no exact decimal, so left alone the
two backends would hand back different Python values for the same row. These
decorators pin the behaviour down: every datetime is stored as UTC and comes
back tz-aware, and every money value is rounded the same way before either
database sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator

# SQLite keeps NUMERIC as a double: beyond 15 significant digits it stops being exact.
SQLITE_EXACT_DIGITS = 15


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned tz-aware.

    Naive datetimes are refused rather than guessed at: PostgreSQL would read
    them in the session's time zone and SQLite in none, so the same record
    would mean two different instants.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            msg = f"expected a datetime, got {type(value).__name__} {value!r}"
            raise TypeError(msg)
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} cannot be stored: attach a time zone (the store keeps UTC)"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        # sqlite's DATETIME is a string without an offset: store naive UTC so ordering is lexical
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact decimal, ``Numeric(precision, scale)``, rounded half-even in Python.

    Rounding here (not in the database) keeps both backends identical: PostgreSQL
    would round half away from zero and SQLite would round a binary float.
    Values that would not survive the column exactly raise instead of being
    truncated.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        amount, problem = self.fit(value, dialect.name)
        if problem is not None:
            raise ValueError(problem)
        return amount

    def whole_digits(self, dialect_name: str) -> int:
        """Digits an amount may have before the decimal point on this backend."""
        whole = self.precision - self.scale
        return min(whole, SQLITE_EXACT_DIGITS - self.scale) if dialect_name == "sqlite" else whole

    def fit(self, value: Any, dialect_name: str) -> tuple[Decimal | None, str | None]:
        """``value`` rounded as the column stores it, or why it cannot be stored.

        The magnitude is checked before rounding: quantizing a 30-digit amount
        in the default decimal context raises ``InvalidOperation`` instead of
        saying what is wrong.
        """
        try:
            amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        except (ArithmeticError, TypeError, ValueError):
            return None, f"cannot store {value!r} as an amount"
        if not amount.is_finite():
            return None, f"cannot store non-finite amount {amount}"
        whole_digits = self.whole_digits(dialect_name)
        limit = f"at most {whole_digits} digits before the decimal point"
        if dialect_name == "sqlite":
            limit += f" on SQLite, which keeps {SQLITE_EXACT_DIGITS} digits exactly"
        if amount and amount.adjusted() >= whole_digits:
            return None, f"amount {amount} does not fit Numeric({self.precision},{self.scale}) ({limit})"
        amount = amount.quantize(Decimal(1).scaleb(-self.scale), rounding=ROUND_HALF_EVEN)
        if amount and amount.adjusted() >= whole_digits:  # 9999.995 rounds up to 10000.00
            return None, f"amount {amount} does not fit Numeric({self.precision},{self.scale}) ({limit})"
        return amount, None

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))


def jsonable(value: Any) -> Any:
    """``value`` as it will read back from a JSON column (Decimals and datetimes become strings).

    Converting before the row is written means what a helper returns equals
    what a later query returns.
    """
    return to_jsonable_python(value)
