"""Mapping filters parsed in their system's own syntax before any query is built from them.

A Salesforce filter is pasted into ``WHERE (<filter>) AND SystemModstamp >=
...``: text such as ``IsPartner = true) OR (Name != ''`` is balanced on the
whole yet closes the wrapper's parenthesis and widens the pull to every
account. So a SOQL filter must parse as one condition (comparisons joined by
AND/OR/NOT, parentheses, ``IN``/``INCLUDES`` lists and semi-join sub-queries)
that never closes a parenthesis it did not open and leaves nothing after it
(no ``ORDER BY``, ``LIMIT`` or second clause). A HubSpot filter is a list of
``{propertyName, operator, value}`` objects: known operators, scalar values,
no other keys. An Odoo domain is a list of ``[field, operator, value]`` terms
in Polish notation, each ``&``/``|`` taking two terms and ``!`` one.
Each function returns the problem (as text), or None.
"""

from __future__ import annotations

import re
from typing import Any

MAX_NESTING = 20

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<open_string>')
    | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?)(?![\w.])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<paren>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_VALUE_WORDS = {"TRUE", "FALSE", "NULL"}
_CLAUSE_WORDS = {"ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "FOR", "WITH", "UPDATE", "FROM", "SELECT", "WHERE"}
_RESERVED = {"AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", *_CLAUSE_WORDS}


class _Refused(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        value = match.group(kind)
        if kind == "open_string":
            msg = "unterminated quote: a ' string never ends"
            raise _Refused(msg)
        if kind == "other":
            msg = f"unexpected character {value!r}"
            raise _Refused(msg)
        out.append((kind, value))
    return out


class _SoqlParser:
    """Recursive descent over the tokens; the grammar is the part of SOQL a WHERE condition may use."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def word(self) -> str | None:
        token = self.peek()
        return token[1].upper() if token and token[0] == "word" else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1].upper() != value):
            found = "the end of the filter" if token is None else repr(token[1])
            msg = f"expected {value or kind} but found {found}"
            raise _Refused(msg)
        self.pos += 1
        return token[1]

    def condition(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            msg = f"parentheses nest more than {MAX_NESTING} deep"
            raise _Refused(msg)
        self.conjunction()
        while self.word() in ("AND", "OR"):
            self.pos += 1
            self.conjunction()
        self.depth -= 1

    def conjunction(self) -> None:
        if self.word() == "NOT":
            self.pos += 1
        token = self.peek()
        if token == ("paren", "("):
            self.pos += 1
            self.condition()
            self.take("paren", ")")
            return
        self.comparison()

    def comparison(self) -> None:
        field = self.word()
        if field is None or field in _RESERVED or field in _VALUE_WORDS:
            token = self.peek()
            found = "the end of the filter" if token is None else repr(token[1])
            msg = f"expected a field name but found {found}"
            raise _Refused(msg)
        self.pos += 1
        if self.word() == "NOT" and self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][1].upper() == "IN":
            self.pos += 1
        op = self.word()
        if op in ("IN", "INCLUDES", "EXCLUDES"):
            self.pos += 1
            self.value_list(allow_subquery=op == "IN")
            return
        if op == "LIKE":
            self.pos += 1
            self.take("string")
            return
        self.take("op")
        self.value()

    def value(self) -> None:
        token = self.peek()
        if token is None:
            msg = "a comparison has no value"
            raise _Refused(msg)
        kind, text = token
        if kind in ("string", "number", "datetime") or (kind == "word" and text.upper() not in _RESERVED):
            self.pos += 1  # literals, true/false/null, date literals (TODAY, LAST_N_DAYS:30)
            return
        msg = f"expected a value but found {text!r}"
        raise _Refused(msg)

    def value_list(self, *, allow_subquery: bool) -> None:
        self.take("paren", "(")
        if allow_subquery and self.word() == "SELECT":
            self.pos += 1
            self.take("word")
            self.take("word", "FROM")
            self.take("word")
            if self.word() == "WHERE":
                self.pos += 1
                self.condition()
        else:
            self.value()
            while self.peek() == ("paren", ","):
                self.pos += 1
                self.value()
        self.take("paren", ")")


def soql_filter_problem(text: str) -> str | None:
    """Why ``text`` is not one SOQL WHERE condition that stays inside its parentheses, or None."""
    if not text.strip():
        return "the filter is empty; leave it out to read every record"
    try:
        parser = _SoqlParser(_tokens(text))
        parser.condition()
        rest = parser.peek()
        if rest == ("paren", ")"):
            return "')' closes a parenthesis the filter never opened: it would escape the sync's own condition"
        if rest is not None:
            return f"unexpected {rest[1]!r} after the condition: a filter is a WHERE condition only"
    except _Refused as exc:
        return str(exc)
    return None


HUBSPOT_OPERATORS = {
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
}
_HUBSPOT_KEYS = {"propertyName", "operator", "value", "values", "highValue"}
_PROPERTY = re.compile(r"[A-Za-z0-9_]{1,100}")


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 1000


def hubspot_filter_problem(clause: Any) -> str | None:
    """Why one HubSpot search filter is not ``{propertyName, operator, value | values | highValue}``, or None."""
    if not isinstance(clause, dict):
        return "each HubSpot filter is an object {propertyName, operator, value}"
    extra = sorted(set(clause) - _HUBSPOT_KEYS)
    if extra:
        return f"unknown key {extra[0]!r} in a HubSpot filter (keys: {', '.join(sorted(_HUBSPOT_KEYS))})"
    if not {"propertyName", "operator"} <= set(clause):
        return "each HubSpot filter needs propertyName and operator"
    if not isinstance(clause["propertyName"], str) or not _PROPERTY.fullmatch(clause["propertyName"]):
        return f"propertyName {clause['propertyName']!r} is not a HubSpot property name"
    operator = clause["operator"]
    if operator not in HUBSPOT_OPERATORS:
        return f"unknown operator {operator!r}; HubSpot's are {', '.join(sorted(HUBSPOT_OPERATORS))}"
    for key in ("value", "highValue"):
        if key in clause and not _scalar(clause[key]):
            return f"{key} must be one text, number or boolean value"
    if "values" in clause and not (
        isinstance(clause["values"], list) and len(clause["values"]) <= 100 and all(map(_scalar, clause["values"]))
    ):
        return "values must be a list of at most 100 texts or numbers"
    return None


ODOO_OPERATORS = {
    "=", "!=", ">", ">=", "<", "<=", "=?", "=like", "like", "not like", "ilike", "not ilike", "=ilike", "in",
    "not in", "child_of", "parent_of", "any", "not any",
}
_ODOO_FIELD = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")


def _odoo_term_problem(term: list[Any]) -> str | None:
    field_name, operator, value = term
    if not isinstance(field_name, str) or not _ODOO_FIELD.fullmatch(field_name):
        return f"{field_name!r} is not an Odoo field name"
    if operator not in ODOO_OPERATORS:
        return f"unknown Odoo operator {operator!r}; use one of {', '.join(sorted(ODOO_OPERATORS))}"
    values = value if isinstance(value, list) else [value]
    if len(values) > 1000 or not all(v is None or _scalar(v) for v in values):
        return "an Odoo domain value is one text, number, boolean or null, or a list of them"
    return None


def odoo_domain_problem(domain: list[Any]) -> tuple[int | None, str] | None:
    """The index and reason of the first bad term of an Odoo domain, or None when it is well formed."""
    operands = 0
    for index in range(len(domain) - 1, -1, -1):  # prefix notation reads right to left
        term = domain[index]
        if term in ("&", "|"):
            if operands < 2:
                return index, f"'{term}' needs two terms after it"
            operands -= 1
        elif term == "!":
            if operands < 1:
                return index, "'!' needs a term after it"
        elif isinstance(term, list) and len(term) == 3:
            problem = _odoo_term_problem(term)
            if problem:
                return index, problem
            operands += 1
        else:
            return index, "each Odoo domain term is [field, operator, value] or '&', '|', '!'"
    return None
