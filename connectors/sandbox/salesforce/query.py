"""Bind a parsed SOQL query to an object's schema and evaluate it in Python.

Binding is where SOQL's semantic errors come from: unknown fields
(INVALID_FIELD), values of the wrong type for a field, LIKE on a non-text
field. Evaluation follows SOQL rules the sync relies on: text comparisons are
case-insensitive, ids compare case-sensitively (15- or 18-character forms
both match), nulls sort first ascending and last descending.

Stored dates and datetimes use one fixed-width UTC format, so comparing
them as strings is comparing them in time; that keeps 60k-row scans fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from connectors.sandbox.salesforce.ids import normalise_id
from connectors.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef
from connectors.sandbox.salesforce.soql import BoolOp, Comparison, Expr, Literal, Not, Query, SoqlError

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

_TEXT_TYPES = {"string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "combobox"}
_ID_TYPES = {"id", "reference"}
_LITERAL_KIND_FOR_TYPE = {
    "boolean": {"boolean"},
    "date": {"date"},
    "datetime": {"datetime"},
    **{t: {"number"} for t in NUMBER_TYPES},
    **{t: {"string"} for t in _TEXT_TYPES | _ID_TYPES},
}


@dataclass
class BoundQuery:
    """A query checked against a schema, ready to run over records."""

    query: Query
    object: ObjectDef
    fields: list[FieldDef]  # selected fields, canonical names, in select order
    predicate: Predicate

    def run(self, records: list[Record]) -> list[Record]:
        """Filter, sort, offset and limit (projection is separate: ``project``)."""
        rows = [r for r in records if self.predicate(r)]
        for item in reversed(self.query.order_by):
            fdef = _field(self.object, item.field)
            nulls_first = item.nulls_first if item.nulls_first is not None else not item.descending
            key = _sort_key(fdef)
            present = [r for r in rows if r.get(fdef.name) is not None]
            missing = [r for r in rows if r.get(fdef.name) is None]
            present.sort(key=lambda r, k=key, n=fdef.name: k(r[n]), reverse=item.descending)
            rows = missing + present if nulls_first else present + missing
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return rows[start:end]

    def project(self, record: Record) -> Record:
        return {f.name: record.get(f.name) for f in self.fields}


def _field(obj: ObjectDef, name: str) -> FieldDef:
    if "." in name:
        msg = f"Didn't understand relationship '{name.split('.')[0]}' in field path. This sandbox serves relationship-free SOQL."
        raise SoqlError(msg, "INVALID_FIELD")
    fdef = obj.get_field(name)
    if fdef is None:
        msg = f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."
        raise SoqlError(msg, "INVALID_FIELD")
    return fdef


def _sort_key(fdef: FieldDef) -> Callable[[Any], Any]:
    if fdef.type in _TEXT_TYPES:
        return lambda v: str(v).casefold()
    return lambda v: v


def _coerce(fdef: FieldDef, literal: Literal) -> Any:
    """The literal as the stored representation of this field, or a SoqlError."""
    if literal.kind == "null":
        return None
    allowed = _LITERAL_KIND_FOR_TYPE.get(fdef.type, {"string"})
    if literal.kind not in allowed:
        quoted = " and should not be enclosed in quotes" if literal.kind == "string" else ""
        msg = f"value of filter criterion for field '{fdef.name}' must be of type {fdef.type}{quoted}"
        raise SoqlError(msg, "INVALID_FIELD")
    if fdef.type in _ID_TYPES:
        return normalise_id(literal.value) or literal.value
    return literal.value


def _like_regex(literal: Literal) -> re.Pattern[str]:
    parts: list[str] = []
    for i, ch in enumerate(literal.value):
        if i in literal.wildcards:
            parts.append(".*" if ch == "%" else ".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _compare(fdef: FieldDef, op: str, value: Any) -> Predicate:
    name = fdef.name
    fold = fdef.type in _TEXT_TYPES
    if value is None:
        if op == "=":
            return lambda r: r.get(name) is None
        if op == "!=":
            return lambda r: r.get(name) is not None
        msg = f"invalid operator on null for field '{name}': {op}"
        raise SoqlError(msg, "INVALID_QUERY_FILTER_OPERATOR")
    if fold:
        value = str(value).casefold()

    def get(r: Record) -> Any:
        v = r.get(name)
        return str(v).casefold() if fold and v is not None else v

    if op == "=":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value
    if fdef.type == "boolean":
        msg = f"invalid operator on boolean field '{name}': {op}"
        raise SoqlError(msg, "INVALID_QUERY_FILTER_OPERATOR")
    ops: dict[str, Callable[[Any], bool]] = {
        "<": lambda v: v < value,
        ">": lambda v: v > value,
        "<=": lambda v: v <= value,
        ">=": lambda v: v >= value,
    }
    check = ops[op]
    return lambda r: (v := get(r)) is not None and check(v)


# (object name, record id) -> the record, for parent-relationship paths in WHERE
ParentLookup = Callable[[str, str], Record | None]
ObjectLookup = Callable[[str], ObjectDef]


@dataclass
class Parents:
    """How a WHERE clause reaches a parent record (``Account.IsPartner`` on a Contact)."""

    objects: ObjectLookup
    records: ParentLookup


def bind_expr(obj: ObjectDef, expr: Expr, parents: Parents | None = None) -> Predicate:
    if isinstance(expr, BoolOp):
        parts = [bind_expr(obj, e, parents) for e in expr.items]
        if expr.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(expr, Not):
        inner = bind_expr(obj, expr.item, parents)
        return lambda r: not inner(r)
    if "." in expr.field and parents is not None:
        return _bind_parent(obj, expr, parents)
    return _bind_comparison(obj, expr)


def _bind_parent(obj: ObjectDef, cmp: Comparison, parents: Parents) -> Predicate:
    """One level of parent traversal, as SOQL allows: ``Relationship.Field op value``."""
    relationship, _, rest = cmp.field.partition(".")
    ref = obj.relationship(relationship)
    if ref is None or not ref.reference_to or "." in rest:
        msg = f"Didn't understand relationship '{relationship}' in field path."
        raise SoqlError(msg, "INVALID_FIELD")
    target = parents.objects(ref.reference_to[0])
    inner = _bind_comparison(target, replace(cmp, field=rest))
    ref_name, target_name = ref.name, target.name

    def through_parent(r: Record) -> bool:
        parent_id = r.get(ref_name)
        parent = parents.records(target_name, parent_id) if parent_id else None
        return parent is not None and inner(parent)

    return through_parent


def _bind_comparison(obj: ObjectDef, cmp: Comparison) -> Predicate:
    fdef = _field(obj, cmp.field)
    name = fdef.name
    if isinstance(cmp.value, list):
        fold = fdef.type in _TEXT_TYPES
        values = {_coerce(fdef, lit) for lit in cmp.value}
        if fold:
            values = {None if v is None else str(v).casefold() for v in values}

        def member(r: Record) -> bool:
            v = r.get(name)
            return (str(v).casefold() if fold and v is not None else v) in values

        return member if cmp.op == "IN" else (lambda r: not member(r))
    if cmp.op == "LIKE":
        if fdef.type not in _TEXT_TYPES | _ID_TYPES:
            msg = f"invalid operator on field '{name}': LIKE works on text fields only"
            raise SoqlError(msg, "INVALID_QUERY_FILTER_OPERATOR")
        pattern = _like_regex(cmp.value)
        return lambda r: (v := r.get(name)) is not None and pattern.fullmatch(str(v)) is not None
    return _compare(fdef, cmp.op, _coerce(fdef, cmp.value))


def bind(query: Query, obj: ObjectDef, parents: Parents | None = None) -> BoundQuery:
    """Check every field and literal against ``obj``; raise SoqlError like the API."""
    fields: list[FieldDef] = []
    seen: set[str] = set()
    for name in query.fields:
        fdef = _field(obj, name)
        if fdef.name in seen:
            msg = f"duplicate field selected: {fdef.name}"
            raise SoqlError(msg, "INVALID_FIELD")
        seen.add(fdef.name)
        fields.append(fdef)
    for item in query.order_by:
        _field(obj, item.field)
    if query.offset is not None and query.offset > 2000:
        msg = "Maximum SOQL offset allowed is 2000"
        raise SoqlError(msg, "NUMBER_OUTSIDE_VALID_RANGE")
    predicate: Predicate = (
        bind_expr(obj, query.where, parents) if query.where is not None else (lambda r: True)
    )
    return BoundQuery(query, obj, fields, predicate)
