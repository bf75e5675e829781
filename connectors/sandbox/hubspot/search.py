"""CRM search: filterGroups, sorts, paging and the 10,000-result ceiling.

Semantics follow HubSpot's search guide: filter groups are ORed, filters in
a group are ANDed (at most 5 groups, 6 filters per group, 18 in total); one
sort; ``limit`` up to 200; ``after`` is an offset and paging past 10,000
results is refused with a 400. Archived records are never searched. The
filtered, sorted id list is cached per (query, table version) so paging a
large result set does not re-scan the table on every page.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from connectors.sandbox.hubspot.schema import PropertyDef, resolve_object_type, sort_key
from connectors.sandbox.hubspot.store import Record, RecordStore
from connectors.sandbox.hubspot.wire import HubSpotApiError

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000

OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


def _bad(message: str, **context: list[str]) -> HubSpotApiError:
    return HubSpotApiError(400, "VALIDATION_ERROR", message, context=context or None)


@dataclass
class SearchPage:
    ids: list[str]
    total: int
    next_after: str | None


class SearchEngine:
    """Evaluates search requests against a ``RecordStore``; callers hold the app lock."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str, int], list[str]] = {}

    def search(self, object_type: str, body: dict[str, Any]) -> SearchPage:
        limit = int(body.get("limit") or 10)
        if limit < 1 or limit > MAX_LIMIT:
            raise _bad(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", limit=[str(limit)])
        after_text = str(body.get("after") or "0")
        if not after_text.isdigit():
            raise _bad(f"after must be a number, got {after_text}", after=[after_text])
        after = int(after_text)
        if after >= MAX_RESULTS:
            msg = f"The search endpoints return at most {MAX_RESULTS} results for a query; paging past them is not supported (after={after})"
            raise _bad(msg, after=[after_text])
        ids = self._matching(object_type, body)
        page = ids[after : min(after + limit, MAX_RESULTS)]
        more = after + limit < len(ids)
        return SearchPage(page, len(ids), str(after + limit) if more else None)

    # -- evaluation -------------------------------------------------------------
    def _matching(self, object_type: str, body: dict[str, Any]) -> list[str]:
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        query = body.get("query") or ""
        defs = self.store.prop_defs(object_type)
        self._validate(groups, sorts, defs)
        table = self.store.table(object_type)
        key = (table.name, json.dumps([groups, sorts, query], sort_keys=True, default=str), table.version)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        searchable = _searchable(table.name)
        matched = [
            r
            for r in table.records.values()
            if not r.archived and _matches(r, groups, defs) and _matches_query(r, query, searchable)
        ]
        matched.sort(key=lambda r: int(r.id))
        for sort in reversed(sorts):
            name = sort["propertyName"] if isinstance(sort, dict) else str(sort)
            descending = (
                isinstance(sort, dict) and str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
            )
            prop = defs.get(name)
            matched.sort(key=lambda r, n=name, p=prop: sort_key(p, _value(r, n)), reverse=descending)
        ids = [r.id for r in matched]
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[key] = ids
        return ids

    @staticmethod
    def _validate(groups: list[Any], sorts: list[Any], defs: dict[str, PropertyDef]) -> None:
        if len(groups) > MAX_GROUPS:
            raise _bad(f"Too many filter groups: {len(groups)} (maximum {MAX_GROUPS})")
        total = 0
        for group in groups:
            filters = group.get("filters") or []
            total += len(filters)
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise _bad(
                    f"Too many filters in a filter group: {len(filters)} (maximum {MAX_FILTERS_PER_GROUP})"
                )
            for flt in filters:
                op = str(flt.get("operator", ""))
                name = str(flt.get("propertyName", ""))
                if op not in OPERATORS:
                    raise _bad(f"Unknown filter operator {op!r}", operator=[op])
                if name not in defs:
                    raise _bad(
                        f'Property "{name}" does not exist (PROPERTY_DOESNT_EXIST)', propertyName=[name]
                    )
                if op == "BETWEEN" and ("value" not in flt or "highValue" not in flt):
                    raise _bad("BETWEEN needs value and highValue", propertyName=[name])
                if op in ("IN", "NOT_IN") and not isinstance(flt.get("values"), list):
                    raise _bad(f"{op} needs a values list", propertyName=[name])
                if op not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and "value" not in flt:
                    raise _bad(f"{op} needs a value", propertyName=[name])
        if total > MAX_FILTERS:
            raise _bad(f"Too many filters: {total} (maximum {MAX_FILTERS} across all groups)")
        if len(sorts) > 1:
            raise _bad("Only one sort is supported per search request")
        for sort in sorts:
            name = sort["propertyName"] if isinstance(sort, dict) else str(sort)
            if name not in defs:
                raise _bad(f'Property "{name}" does not exist (PROPERTY_DOESNT_EXIST)', propertyName=[name])


def _searchable(table_name: str) -> tuple[str, ...]:
    return resolve_object_type(table_name).searchable


def _value(record: Record, name: str) -> str | None:
    return record.properties.get(name)


def _tokens(value: str) -> set[str]:
    lowered = value.lower()
    return {lowered, *re.findall(r"[\w@.\-]+", lowered), *re.findall(r"\w+", lowered)}


def _contains_token(value: str | None, wanted: str) -> bool:
    if not value:
        return False
    pattern = wanted.lower()
    tokens = _tokens(value)
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
    return pattern in tokens


def _matches_filter(record: Record, flt: dict[str, Any], defs: dict[str, PropertyDef]) -> bool:
    name = str(flt["propertyName"])
    op = str(flt["operator"])
    prop = defs.get(name)
    raw = _value(record, name)
    present = raw is not None and raw != ""
    if op == "HAS_PROPERTY":
        return present
    if op == "NOT_HAS_PROPERTY":
        return not present
    if op == "CONTAINS_TOKEN":
        return _contains_token(raw, str(flt["value"]))
    if op == "NOT_CONTAINS_TOKEN":
        return not _contains_token(raw, str(flt["value"]))
    if op in ("IN", "NOT_IN"):
        wanted = {sort_key(prop, str(v)) for v in flt.get("values") or []}
        inside = present and sort_key(prop, raw) in wanted
        if prop is not None and prop.multi and present:
            inside = any(sort_key(prop, part) in wanted for part in (raw or "").split(";"))
        return inside if op == "IN" else not inside
    have = sort_key(prop, raw)
    want = sort_key(prop, str(flt["value"]))
    if op == "EQ":
        if prop is not None and prop.multi and present:
            return want[1] in {sort_key(prop, p)[1] for p in (raw or "").split(";")}
        return present and have == want
    if op == "NEQ":
        return have != want
    if not present:
        return False
    if op == "BETWEEN":
        return want <= have <= sort_key(prop, str(flt["highValue"]))
    return {
        "LT": have < want,
        "LTE": have <= want,
        "GT": have > want,
        "GTE": have >= want,
    }[op]


def _matches(record: Record, groups: list[dict[str, Any]], defs: dict[str, PropertyDef]) -> bool:
    if not groups:
        return True
    return any(all(_matches_filter(record, f, defs) for f in g.get("filters") or []) for g in groups)


def _matches_query(record: Record, query: str, searchable: tuple[str, ...]) -> bool:
    if not query:
        return True
    needle = query.lower()
    return any(needle in (record.properties.get(p) or "").lower() for p in searchable)
