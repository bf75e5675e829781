"""A SOQL tokenizer and recursive-descent parser for the subset the sandbox serves.

Grammar (keywords case-insensitive)::

    query      := SELECT select FROM ident [WHERE expr] [ORDER BY order {, order}]
                  [LIMIT int] [OFFSET int]
    select     := COUNT '(' ')' | ident {, ident}
    expr       := term {(AND | OR) term}      -- mixing AND and OR needs parentheses, as in SOQL
    term       := NOT term | '(' expr ')' | ident op value | ident [NOT] IN '(' value {, value} ')'
    op         := = | != | <> | < | > | <= | >= | LIKE
    value      := 'string' | number | TRUE | FALSE | NULL | date | datetime
    order      := ident [ASC | DESC] [NULLS (FIRST | LAST)]

Anything else is a ``SoqlError`` with ``MALFORMED_QUERY``, which the app
turns into the API's 400 body. Parsing knows nothing about objects; field
and type checks happen when the query is bound to a schema (query.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "TRUE",
    "FALSE",
    "NULL",
    "COUNT",
}
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2}))?"
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ",")


class SoqlError(Exception):
    """A query the API would reject; ``code`` is the errorCode it would send."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # ident, keyword, string, number, date, datetime, op, end
    text: str  # the source text (keywords upper-cased)
    pos: int
    value: Any = None
    wildcards: frozenset[int] = frozenset()  # string tokens: positions of unescaped % and _


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any
    wildcards: frozenset[int] = frozenset()


@dataclass
class Comparison:
    field: str
    op: str  # = != < > <= >= LIKE IN NOTIN
    value: Literal | list[Literal]


@dataclass
class BoolOp:
    op: str  # AND / OR
    items: list[Expr]


@dataclass
class Not:
    item: Expr


Expr = Comparison | BoolOp | Not


@dataclass
class OrderItem:
    field: str
    descending: bool = False
    nulls_first: bool | None = None  # None: SOQL default (first for ASC, last for DESC)


@dataclass
class Query:
    object: str
    fields: list[str] = field(default_factory=list)
    count: bool = False
    where: Expr | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def _format_datetime(value: datetime) -> str:
    """The API's own datetime format: UTC, milliseconds, ``+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime_literal(text: str) -> tuple[str, str]:
    """Return (kind, normalised value) for a date or datetime literal, or raise ValueError."""
    m = _DATETIME.fullmatch(text)
    if not m:
        msg = f"not a date or datetime: {text}"
        raise ValueError(msg)
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        return "date", date(year, month, day).isoformat()
    fraction = (m[7] or ".0")[1:]
    micro = int(fraction[:6].ljust(6, "0"))
    tz = m[8]
    stamp = f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6]}.{micro:06d}"
    offset = "+00:00" if tz == "Z" else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
    return "datetime", _format_datetime(datetime.fromisoformat(stamp + offset))


class Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind == "end":
                return out

    def _next(self) -> Token:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos].isspace():
            self.pos += 1
        start = self.pos
        if start >= n:
            return Token("end", "", start)
        ch = text[start]
        if ch == "'":
            return self._string()
        m = _DATETIME.match(text, start)
        if m and (m.end() == n or not (text[m.end()].isalnum() or text[m.end()] in "_.")):
            try:
                kind, value = parse_datetime_literal(m.group(0))
            except ValueError as exc:
                msg = f"invalid date/datetime literal {m.group(0)!r} at position {start}"
                raise SoqlError(msg) from exc
            self.pos = m.end()
            return Token(kind, m.group(0), start, value)
        m = _NUMBER.match(text, start)
        if m and (ch.isdigit() or ch in "+-."):
            self.pos = m.end()
            raw = m.group(0)
            value: int | float = float(raw) if "." in raw else int(raw)
            return Token("number", raw, start, value)
        m = _IDENT.match(text, start)
        if m:
            self.pos = m.end()
            word = m.group(0)
            if word.upper() in KEYWORDS:
                return Token("keyword", word.upper(), start)
            return Token("ident", word, start)
        for op in _OPERATORS:
            if text.startswith(op, start):
                self.pos += len(op)
                return Token("op", op, start)
        msg = f"unexpected character {ch!r} at position {start}"
        raise SoqlError(msg)

    def _string(self) -> Token:
        text, start = self.text, self.pos
        i = start + 1
        chars: list[str] = []
        wildcards: set[int] = set()
        while i < len(text):
            ch = text[i]
            if ch == "'":
                self.pos = i + 1
                return Token("string", text[start : i + 1], start, "".join(chars), frozenset(wildcards))
            if ch == "\\":
                if i + 1 >= len(text):
                    break
                esc = text[i + 1]
                if esc in _ESCAPES:
                    chars.append(_ESCAPES[esc])
                    i += 2
                elif esc in "%_":
                    chars.append(esc)  # escaped: a literal % or _ in LIKE
                    i += 2
                elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                    chars.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                else:
                    msg = f"invalid escape sequence \\{esc} in string literal at position {i}"
                    raise SoqlError(msg)
                continue
            if ch in "%_":
                wildcards.add(len(chars))
            chars.append(ch)
            i += 1
        msg = f"unterminated string literal starting at position {start}"
        raise SoqlError(msg)


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = Tokenizer(text).tokens()
        self.i = 0

    # -- token helpers ------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _is(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def _accept(self, kind: str, text: str | None = None) -> Token | None:
        return self._advance() if self._is(kind, text) else None

    def _expect(self, kind: str, text: str | None = None) -> Token:
        if self._is(kind, text):
            return self._advance()
        want = text or kind
        got = self.tok.text or "end of query"
        msg = f"unexpected token: '{got}' at position {self.tok.pos}, expected {want}"
        raise SoqlError(msg)

    # -- grammar -------------------------------------------------------------
    def parse(self) -> Query:
        self._expect("keyword", "SELECT")
        fields: list[str] = []
        count = False
        if self._is("keyword", "COUNT"):
            self._advance()
            self._expect("op", "(")
            self._expect("op", ")")
            count = True
        else:
            fields.append(self._expect("ident").text)
            while self._accept("op", ","):
                fields.append(self._expect("ident").text)
        self._expect("keyword", "FROM")
        query = Query(object=self._expect("ident").text, fields=fields, count=count)
        if self._accept("keyword", "WHERE"):
            query.where = self._expr()
        if self._accept("keyword", "ORDER"):
            self._expect("keyword", "BY")
            query.order_by.append(self._order_item())
            while self._accept("op", ","):
                query.order_by.append(self._order_item())
        if self._accept("keyword", "LIMIT"):
            query.limit = self._int("LIMIT")
        if self._accept("keyword", "OFFSET"):
            query.offset = self._int("OFFSET")
        if not self._is("end"):
            msg = f"unexpected token: '{self.tok.text}' at position {self.tok.pos}"
            raise SoqlError(msg)
        return query

    def _int(self, clause: str) -> int:
        token = self._expect("number")
        if not isinstance(token.value, int) or token.value < 0:
            msg = f"{clause} must be a non-negative integer, got {token.text}"
            raise SoqlError(msg)
        return token.value

    def _order_item(self) -> OrderItem:
        item = OrderItem(self._expect("ident").text)
        if self._accept("keyword", "DESC"):
            item.descending = True
        else:
            self._accept("keyword", "ASC")
        if self._accept("keyword", "NULLS"):
            if self._accept("keyword", "FIRST"):
                item.nulls_first = True
            else:
                self._expect("keyword", "LAST")
                item.nulls_first = False
        return item

    def _expr(self) -> Expr:
        items = [self._term()]
        op: str | None = None
        while self._is("keyword", "AND") or self._is("keyword", "OR"):
            token = self._advance()
            if op is not None and token.text != op:
                msg = f"unexpected token: '{token.text}' at position {token.pos}: use parentheses to mix AND and OR"
                raise SoqlError(msg)
            op = token.text
            items.append(self._term())
        return items[0] if op is None else BoolOp(op, items)

    def _term(self) -> Expr:
        if self._accept("keyword", "NOT"):
            return Not(self._term())
        if self._accept("op", "("):
            inner = self._expr()
            self._expect("op", ")")
            return inner
        name = self._expect("ident").text
        if self._accept("keyword", "NOT"):
            self._expect("keyword", "IN")
            return Comparison(name, "NOTIN", self._value_list())
        if self._accept("keyword", "IN"):
            return Comparison(name, "IN", self._value_list())
        if self._accept("keyword", "LIKE"):
            value = self._value()
            if value.kind != "string":
                msg = f"LIKE needs a string literal for field {name}"
                raise SoqlError(msg)
            return Comparison(name, "LIKE", value)
        if self.tok.kind == "op" and self.tok.text in {"=", "!=", "<>", "<", ">", "<=", ">="}:
            op = self._advance().text
            return Comparison(name, "!=" if op == "<>" else op, self._value())
        msg = f"unexpected token: '{self.tok.text or 'end of query'}' at position {self.tok.pos}, expected an operator"
        raise SoqlError(msg)

    def _value_list(self) -> list[Literal]:
        self._expect("op", "(")
        values = [self._value()]
        while self._accept("op", ","):
            values.append(self._value())
        self._expect("op", ")")
        return values

    def _value(self) -> Literal:
        token = self._advance()
        if token.kind == "string":
            return Literal("string", token.value, token.wildcards)
        if token.kind in {"number", "date", "datetime"}:
            return Literal(token.kind, token.value)
        if token.kind == "keyword" and token.text in {"TRUE", "FALSE"}:
            return Literal("boolean", token.text == "TRUE")
        if token.kind == "keyword" and token.text == "NULL":
            return Literal("null", None)
        msg = f"unexpected token: '{token.text or 'end of query'}' at position {token.pos}, expected a value"
        raise SoqlError(msg)


def parse(text: str) -> Query:
    """Parse SOQL text into a ``Query`` or raise ``SoqlError``."""
    return Parser(text).parse()
