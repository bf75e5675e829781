"""``where`` for HubSpot reads: a tiny filter syntax, or HubSpot's own filter list.

Mapping files give filters in HubSpot's form (``[{propertyName, operator,
value}]``); the CLI and tests may use the short text form. Both end up as
search filters ANDed in one filter group.
"""

from __future__ import annotations

import re
from typing import Any

from prm_sync.errors import ConfigError, Problem

_OPS = {"=": "EQ", "!=": "NEQ", "<": "LT", "<=": "LTE", ">": "GT", ">=": "GTE"}
_CLAUSE = re.compile(
    r"^\s*(?P<prop>[A-Za-z_][\w]*)\s*(?:"
    r"(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>[^=<>!\s].*?)"
    r"|(?P<list_op>not\s+in|in)\s*\((?P<values>.*)\)"
    r"|(?P<set_op>is\s+not\s+set|is\s+set))\s*$",
    re.IGNORECASE,
)
WHERE_EXAMPLE = "is_partner = true and partner_tier in (gold, platinum) and territory is set"


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_and(text: str) -> list[str]:
    """Split on ``and`` outside quotes and parentheses."""
    parts, current, quote, depth, i = [], [], "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif depth == 0 and re.match(r"\s+and\s+", text[i:], re.IGNORECASE) and current:
            parts.append("".join(current))
            current = []
            i += len(re.match(r"\s+and\s+", text[i:], re.IGNORECASE).group(0))  # type: ignore[union-attr]
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def parse_where(where: str | list[dict[str, Any]] | None, *, max_filters: int = 6) -> list[dict[str, Any]]:
    """``where`` -> HubSpot search filters (ANDed in one filter group).

    Mapping files give the filters already in HubSpot's own form, a list of
    ``{propertyName, operator, value}``; those pass through unchanged.

    Syntax: clauses joined by ``and``; each ``prop OP value`` with OP one of
    ``= != < <= > >=``, or ``prop in (a, b)`` / ``prop not in (a, b)``, or
    ``prop is set`` / ``prop is not set``. Values may be quoted. Example:
    ``is_partner = true and partner_tier in (gold, platinum)``.
    """
    if isinstance(where, list):
        if len(where) > max_filters:
            msg = f"hubspot: at most {max_filters} filters fit beside the sync's own (got {len(where)})"
            raise ConfigError(msg)
        return [dict(f) for f in where]
    if not where or not where.strip():
        return []
    filters: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for clause in _split_and(where.strip()):
        m = _CLAUSE.match(clause)
        if m is None:
            problems.append(Problem(f"cannot read where clause {clause.strip()!r}", hint=f"e.g. {WHERE_EXAMPLE}"))
            continue
        prop = m.group("prop")
        if m.group("op"):
            filters.append({"propertyName": prop, "operator": _OPS[m.group("op")], "value": _unquote(m.group("value"))})
        elif m.group("list_op"):
            op = "IN" if m.group("list_op").lower() == "in" else "NOT_IN"
            values = [_unquote(v) for v in m.group("values").split(",") if v.strip()]
            filters.append({"propertyName": prop, "operator": op, "values": values})
        else:
            op = "HAS_PROPERTY" if m.group("set_op").lower() == "is set" else "NOT_HAS_PROPERTY"
            filters.append({"propertyName": prop, "operator": op})
    if len(filters) > max_filters:
        problems.append(Problem(f"where has {len(filters)} conditions; HubSpot allows {max_filters} here"))
    if problems:
        raise ConfigError(problems)
    return filters
