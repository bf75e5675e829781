"""Odoo domains (prefix notation) and ``order`` clauses, evaluated in memory.

A domain is a list of leaves ``[field, operator, value]`` and the prefix
operators ``'&'`` (and), ``'|'`` (or) and ``'!'`` (not), each applying to
the one or two expressions that follow; consecutive expressions without an
operator are ANDed. Null handling follows Odoo's SQL: ``!=``, ``not in``,
``not like`` and ``not ilike`` also match empty values, ``=``/``!=``
compare with ``False`` to test for emptiness.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connectors.sandbox.erp.schema import OdooError, OdooField, OdooModel, get_field, value_error

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
Resolver = Callable[[str, int], str | None]  # (model, id) -> display name

OPERATORS = (
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not in",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "=like",
    "=ilike",
)
_NEGATIVE = {"!=", "not in", "not like", "not ilike"}


def _empty(value: Any) -> bool:
    return value is None or value is False or value == []


def _pattern(value: str, *, wrap: bool, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE to a regex: ``%`` any run, ``_`` one char; ``like``/``ilike`` wrap in ``%``."""
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
    if wrap:
        body = f".*{body}.*"
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if op in ("=", "!="):
        hit = _empty(actual) if _empty(wanted) else not _empty(actual) and actual == wanted
        return hit if op == "=" else not hit
    if op in ("in", "not in"):
        if not isinstance(wanted, list | tuple):
            raise value_error(f"The value of operator '{op}' must be a list, got {wanted!r}")
        values = list(wanted)
        hit = (_empty(actual) and any(_empty(v) for v in values)) or (not _empty(actual) and actual in values)
        return hit if op == "in" else not hit
    if op in ("like", "not like", "ilike", "not ilike", "=like", "=ilike"):
        if _empty(actual):
            return op in _NEGATIVE
        pattern = _pattern(str(wanted), wrap=not op.startswith("="), ignore_case="ilike" in op)
        hit = bool(pattern.match(str(actual)))
        return not hit if op.startswith("not") else hit
    if _empty(actual) or _empty(wanted):
        return False
    try:
        return {
            ">": actual > wanted,
            ">=": actual >= wanted,
            "<": actual < wanted,
            "<=": actual <= wanted,
        }[op]
    except TypeError:
        raise value_error(f"Cannot compare {actual!r} {op} {wanted!r}") from None


def _leaf(model: OdooModel, leaf: list[Any], resolve: Resolver) -> Predicate:
    if len(leaf) != 3 or not isinstance(leaf[0], str):
        raise value_error(f"Invalid leaf {leaf!r}")
    name, op, wanted = leaf
    if op not in OPERATORS:
        raise value_error(f"Invalid leaf {leaf!r}: unknown operator {op!r}")
    if "." in name:
        raise value_error(f"Invalid leaf {leaf!r}: dotted paths are not supported by this sandbox")
    try:
        fld: OdooField = get_field(model, name)
    except OdooError:
        raise value_error(f"Invalid field {model.name}.{name} in leaf {tuple(leaf)!r}") from None

    if fld.type == "many2one" and isinstance(wanted, str) and op not in ("in", "not in"):
        relation = fld.relation or ""

        def by_name(row: Row) -> bool:  # Odoo compares a string against the display name
            target = row.get(name)
            label = resolve(relation, target) if isinstance(target, int) else None
            return _compare(op, label, wanted)

        return by_name

    if fld.type == "many2many":

        def contains(row: Row) -> bool:
            ids = row.get(name) or []
            values = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
            if op in ("in", "="):
                return (not ids and any(_empty(v) for v in values)) or any(v in ids for v in values)
            if op in ("not in", "!="):
                return not any(v in ids for v in values)
            raise value_error(f"Operator {op!r} is not supported on many2many field {name!r}")

        return contains

    return lambda row: _compare(op, row.get(name), wanted)


def compile_domain(model: OdooModel, domain: Any, resolve: Resolver) -> Predicate:
    """Turn a domain into a predicate, raising Odoo's ``ValueError`` for malformed input."""
    if domain in (None, False):
        domain = []
    if not isinstance(domain, list | tuple):
        raise value_error(f"Invalid domain {domain!r}: expected a list")
    items = list(domain)
    position = 0

    def parse() -> Predicate:
        nonlocal position
        if position >= len(items):
            raise value_error(f"Invalid domain {domain!r}: an operator is missing its operands")
        item = items[position]
        position += 1
        if item == "!":
            inner = parse()
            return lambda row: not inner(row)
        if item in ("&", "|"):
            left, right = parse(), parse()
            if item == "&":
                return lambda row: left(row) and right(row)
            return lambda row: left(row) or right(row)
        if isinstance(item, list | tuple):
            return _leaf(model, list(item), resolve)
        raise value_error(f"Invalid domain term {item!r}")

    terms: list[Predicate] = []
    while position < len(items):
        terms.append(parse())
    return lambda row: all(term(row) for term in terms)


def parse_order(model: OdooModel, order: str | None) -> list[tuple[str, bool]]:
    """``"write_date asc, id desc"`` -> ``[("write_date", False), ("id", True)]`` (field, descending)."""
    if not order:
        return [("id", False)]
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        words = part.strip().split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise value_error(f'Invalid "order" specified ({order}).')
        fld = model.fields.get(words[0])
        if fld is None or fld.type == "many2many":
            raise value_error(f'Invalid "order" specified ({order}): unknown field {words[0]!r}.')
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def sort_rows(rows: list[Row], keys: list[tuple[str, bool]]) -> list[Row]:
    """Stable multi-key sort; empty values sort last ascending, first descending (PostgreSQL)."""
    result = list(rows)
    for name, descending in reversed(keys):
        result.sort(
            key=lambda r, n=name: (_empty(r.get(n)), r.get(n) if not _empty(r.get(n)) else 0),
            reverse=descending,
        )
    return result
