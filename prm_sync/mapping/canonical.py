"""What the validator needs to know about canonical fields: kind and allowed values.

Derived from the pydantic models in ``prm_sync.model`` so that a new field or
enum value there is understood by the mapping checks without a second list.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Literal, Union

from prm_sync.model import ENTITIES

Kind = Literal["text", "enum", "bool", "date", "datetime", "number", "list", "dict", "other"]

# fields the engine fills itself; a mapping never has to supply them
ENGINE_FIELDS = frozenset({"id", "external_ids", "created_at", "updated_at"})

# remote type names (Salesforce describe, HubSpot properties, Odoo fields) per canonical kind that
# can carry the value unchanged; anything else needs a transform
_TEXT = {
    "string",
    "textarea",
    "email",
    "url",
    "phone",
    "id",
    "reference",
    "picklist",
    "combobox",
    "enumeration",
    "char",
    "text",
    "selection",
    "html",
}
COMPATIBLE: dict[str, set[str]] = {
    "text": _TEXT,
    "enum": _TEXT,
    "bool": {"boolean", "bool"},
    "date": {"date"},
    "datetime": {"datetime"},
    "number": {"double", "currency", "percent", "int", "integer", "number", "float", "monetary"},
    "list": set(),
    "dict": set(),
}


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    ann = _unwrap(annotation)
    origin = typing.get_origin(ann)
    if origin in (list, tuple, set):
        return "list", ()
    if origin is dict:
        return "dict", ()
    if isinstance(ann, type):
        if issubclass(ann, Enum):
            return "enum", tuple(str(m.value) for m in ann)
        if issubclass(ann, bool):
            return "bool", ()
        if issubclass(ann, datetime):
            return "datetime", ()
        if issubclass(ann, date):
            return "date", ()
        if issubclass(ann, int | float | Decimal):
            return "number", ()
        if issubclass(ann, str):
            return "text", ()
    return "other", ()


@cache
def entity_fields(entity: str) -> dict[str, tuple[Kind, tuple[str, ...]]]:
    """Canonical field -> (kind, enum values) for an entity."""
    model = ENTITIES[entity]
    return {name: _kind(info.annotation) for name, info in model.model_fields.items()}


@cache
def required_fields(entity: str) -> tuple[str, ...]:
    """Fields without a default, other than those the engine fills."""
    model = ENTITIES[entity]
    return tuple(n for n, info in model.model_fields.items() if info.is_required() and n not in ENGINE_FIELDS)


@cache
def field_type(entity: str, name: str) -> type | None:
    """The Python type a canonical field holds (``X | None`` unwrapped); None for anything compound."""
    info = ENTITIES[entity].model_fields.get(name)
    if info is None:
        return None
    ann = _unwrap(info.annotation)
    return ann if isinstance(ann, type) and typing.get_origin(ann) is None else None
