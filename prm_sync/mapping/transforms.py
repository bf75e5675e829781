"""Text, picklist, list and id transforms (dates and numbers are in transforms_values).

Importing this module fills the registry; ``TRANSFORMS`` is the one table the
validator, the JSON Schema and the compiler read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from prm_sync.mapping import transforms_values
from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.registry import (
    TRANSFORMS,
    Fn,
    NoParams,
    Params,
    Transform,
    fail,
    register,
    text_value,
    transform_names,
)

__all__ = ["TRANSFORMS", "NoParams", "Params", "Transform", "transform_names", "transforms_values"]


# --- text -------------------------------------------------------------------------


def _string_fn(name: str, fn: Callable[[str], str]) -> Fn:
    def apply(value: Any, params: Any, ctx: TransformContext) -> Any:
        return None if value is None else fn(text_value(value, name))

    return apply


for _name, _fn, _doc in (
    ("trim", str.strip, "strip surrounding whitespace (same both ways)"),
    ("lower", str.lower, "lower-case text (same both ways)"),
    ("upper", str.upper, "upper-case text (same both ways)"),
    ("title", str.title, "Title Case text (same both ways)"),
):
    _f = _string_fn(_name, _fn)
    # normalising strips text too, so a trimmed value reads back as the PRM value normalises
    _trips = (lambda p: (str,)) if _name == "trim" else None
    register(_name, _doc, to_remote=_f, from_remote=_f, two_way=True, round_trips=_trips)


def _domain_from_url(value: Any, params: Any, ctx: TransformContext) -> Any:
    if value is None or value == "":
        return None
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text_value(value, "domain_from_url").strip().lower())
    host = re.split(r"[/?#]", host, maxsplit=1)[0].split("@")[-1].split(":")[0]
    return host.removeprefix("www.") or None


def _domain_from_email(value: Any, params: Any, ctx: TransformContext) -> Any:
    if value is None or value == "":
        return None
    text = text_value(value, "domain_from_email").strip().lower().removeprefix("mailto:")
    if "@" not in text:
        raise fail(f"not an email address: {value!r}", value)
    return text.rsplit("@", 1)[1] or None


register(
    "domain_from_url",
    "bare domain of a URL: no scheme, www., port or path (one-way)",
    to_remote=_domain_from_url,
    from_remote=_domain_from_url,
    two_way=False,
)
register(
    "domain_from_email",
    "domain part of an email address (one-way)",
    to_remote=_domain_from_email,
    from_remote=_domain_from_email,
    two_way=False,
)


class PrefixParams(Params):
    prefix: str


def _strip_prefix(value: Any, params: PrefixParams, ctx: TransformContext) -> Any:
    return None if value is None else text_value(value, "strip_prefix").removeprefix(params.prefix)


register(
    "strip_prefix",
    "drop a fixed prefix such as 'mailto:' (one-way)",
    to_remote=_strip_prefix,
    from_remote=_strip_prefix,
    params=PrefixParams,
    two_way=False,
    shorthand="prefix",
)


class TruncateParams(Params):
    length: int = Field(gt=0)


def _truncate(value: Any, params: TruncateParams, ctx: TransformContext) -> Any:
    return None if value is None else text_value(value, "truncate")[: params.length]


register(
    "truncate",
    "cut text to a maximum length (one-way)",
    to_remote=_truncate,
    from_remote=_truncate,
    params=TruncateParams,
    two_way=False,
    shorthand="length",
)


class SplitNameParams(Params):
    part: Literal["first", "last"]


def _split_name(value: Any, params: SplitNameParams, ctx: TransformContext) -> Any:
    if value is None:
        return None
    words = text_value(value, "split_name").split()
    if not words:
        return None
    if params.part == "first":
        return " ".join(words[:-1]) or None
    return words[-1]


register(
    "split_name",
    "first or last part of a full name (one-way)",
    to_remote=_split_name,
    from_remote=_split_name,
    params=SplitNameParams,
    two_way=False,
    shorthand="part",
)


class ConcatParams(Params):
    fields: list[str] = Field(min_length=2)
    separator: str = " "


def _concat(value: Any, params: ConcatParams, ctx: TransformContext) -> Any:
    parts = [str(value.get(f)) for f in params.fields if value.get(f) not in (None, "")]
    return params.separator.join(parts) or None


register(
    "concat",
    "join several source fields with a separator (one-way)",
    to_remote=_concat,
    from_remote=_concat,
    params=ConcatParams,
    two_way=False,
    inputs=lambda p: list(p.fields),
)


class FirstOfParams(Params):
    fields: list[str] = Field(min_length=2, description="remote fields, in order: the first that is not blank wins")
    lookup: dict[str, str] = Field(
        default_factory=dict, description="field -> the entity whose record id (in this system) that field holds")


def _first_of(value: Any, params: FirstOfParams, ctx: TransformContext) -> Any:
    for name in params.fields:
        found = _first_id(value.get(name))
        if found in (None, "", False):
            continue
        entity = params.lookup.get(name)
        if entity is None:
            return found
        if ctx.ids is not None and (ours := ctx.ids.prm_id_for(entity, ctx.system, str(found))) is not None:
            return ours
    return None


register(
    "first_of",
    "the first of several remote fields that holds a value, remote ids looked up as ours (one-way, read)",
    to_remote=None,
    from_remote=_first_of,
    params=FirstOfParams,
    two_way=False,
    inputs=lambda p: list(p.fields),
)


class CrmRefParams(Params):
    entity: str
    systems: list[str] = Field(["salesforce", "hubspot"], description="systems whose record ids the field may hold")


def _crm_ref(value: Any, params: CrmRefParams, ctx: TransformContext) -> Any:
    """A record named by its id in one of ``systems`` (what a CRM-to-ERP quote carries) -> our id; ours passes."""
    value = _first_id(value)
    if value in (None, "", False):
        return None
    if ctx.ids is not None:
        for system in params.systems:
            if (ours := ctx.ids.prm_id_for(params.entity, system, str(value))) is not None:
                return ours
    return value


register(
    "crm_ref",
    "a record named by its id in a CRM (or by our id) -> our id (one-way, read)",
    to_remote=None,
    from_remote=_crm_ref,
    params=CrmRefParams,
    two_way=False,
    shorthand="entity",
)


class ConstantParams(Params):
    value: Any


def _constant(value: Any, params: ConstantParams, ctx: TransformContext) -> Any:
    return params.value


register(
    "constant",
    "always this value, whatever the source (one-way)",
    to_remote=_constant,
    from_remote=_constant,
    params=ConstantParams,
    two_way=False,
    shorthand="value",
)


# --- picklists and lists ------------------------------------------------------------


class ValueMapParams(Params):
    """``values`` maps canonical value -> remote value (or a list: first is written, all are read)."""

    values: dict[Any, Any] = Field(min_length=1)
    default: Any = Field(None, description="remote value for an unmapped canonical value")
    inverse_default: Any = Field(None, description="canonical value for an unmapped remote value")
    ignore_case: bool = Field(False, description="match remote values case-insensitively when reading")

    def remote_values(self) -> list[Any]:
        out: list[Any] = []
        for v in self.values.values():
            out.extend(v if isinstance(v, list) else [v])
        if "default" in self.model_fields_set and self.default is not None:
            out.append(self.default)
        return out


def _key(value: Any) -> Any:
    return getattr(value, "value", value)  # enums compare by their stored value


def _vm_to_remote(value: Any, params: ValueMapParams, ctx: TransformContext) -> Any:
    if value is None:
        return None
    key = _key(value)
    for candidate in (key, str(key)):
        if candidate in params.values:
            target = params.values[candidate]
            return target[0] if isinstance(target, list) else target
    if "default" in params.model_fields_set:
        return params.default
    raise fail(f"unmapped value {key!r} (mapped: {', '.join(map(str, params.values))})", value)


def _vm_from_remote(value: Any, params: ValueMapParams, ctx: TransformContext) -> Any:
    if value is None:
        return None
    probe = value.lower() if params.ignore_case and isinstance(value, str) else value
    for canonical, target in params.values.items():
        options = target if isinstance(target, list) else [target]
        if params.ignore_case:
            options = [o.lower() if isinstance(o, str) else o for o in options]
        if probe in options:
            return canonical
    if "inverse_default" in params.model_fields_set:
        return params.inverse_default
    raise fail(f"unmapped value {value!r} (known: {', '.join(map(str, params.remote_values()))})", value)


register(
    "value_map",
    "translate picklist values; the inverse reads the map backwards",
    to_remote=_vm_to_remote,
    from_remote=_vm_from_remote,
    params=ValueMapParams,
    two_way=True,
)


class SeparatorParams(Params):
    separator: str = ";"
    values: dict[str, str] | None = None  # canonical item -> remote item (a multi-picklist's API names)


def _join(value: Any, params: SeparatorParams, ctx: TransformContext) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    items = [str(_key(v)) for v in value]
    if params.values is not None:
        unmapped = [i for i in items if i not in params.values]
        if unmapped:
            raise fail(f"no remote value for {', '.join(unmapped)} (mapped: {', '.join(params.values)})", value)
        items = [params.values[i] for i in items]
    return params.separator.join(items) or None


def _split(value: Any, params: SeparatorParams, ctx: TransformContext) -> Any:
    if value is None or value == "":
        return [] if value == "" else None
    items = value if isinstance(value, list) else [
        p.strip() for p in text_value(value, "split").split(params.separator) if p.strip()
    ]
    if params.values is not None:
        back = {remote.casefold(): canonical for canonical, remote in params.values.items()}
        unmapped = [i for i in items if str(i).casefold() not in back]
        if unmapped:
            raise fail(f"no canonical value for {', '.join(map(str, unmapped))}", value)
        items = [back[str(i).casefold()] for i in items]
    return items


register(
    "join",
    "canonical list <-> remote multi-select text separated by ';'",
    to_remote=_join,
    from_remote=_split,
    params=SeparatorParams,
    two_way=True,
    shorthand="separator",
)
register(
    "split",
    "canonical separated text <-> remote list",
    to_remote=_split,
    from_remote=_join,
    params=SeparatorParams,
    two_way=True,
    shorthand="separator",
)


class BoolParams(Params):
    true: Any = "true"
    false: Any = "false"


_TRUTHY = {"true", "1", "yes", "y", "on"}
_FALSY = {"false", "0", "no", "n", "off", ""}


def _bool_to_remote(value: Any, params: BoolParams, ctx: TransformContext) -> Any:
    if value is None:
        return None
    return params.true if _bool_from_remote(value, params, ctx) else params.false


def _bool_from_remote(value: Any, params: BoolParams, ctx: TransformContext) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if value == params.true:
        return True
    if value == params.false:
        return False
    text = str(value).strip().lower()
    if text in _TRUTHY:
        return True
    if text in _FALSY:
        return False
    raise fail(f"not a boolean: {value!r}", value)


register(
    "bool",
    "python bool <-> 'true'/'false' text (HubSpot checkboxes)",
    to_remote=_bool_to_remote,
    from_remote=_bool_from_remote,
    params=BoolParams,
    two_way=True,
)


# --- ids -------------------------------------------------------------------------------


class LookupParams(Params):
    entity: str
    missing: Literal["error", "null"] = Field("error", description="what to do when the id is not known yet")


def _first_id(value: Any) -> Any:
    """Odoo many2one reads as [id, name] and x2many as [ids]; the first id is the link."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _lookup(direction: str) -> Fn:
    def apply(value: Any, params: LookupParams, ctx: TransformContext) -> Any:
        value = _first_id(value)
        if value is None or value is False or value == "":  # odoo reads an empty link as false
            return None
        if ctx.ids is None:
            raise fail(f"lookup of {params.entity} ids needs an id map", value)
        if direction == "to_remote":
            found = ctx.ids.remote_id_for(params.entity, ctx.system, str(value))
        else:
            found = ctx.ids.prm_id_for(params.entity, ctx.system, str(value))
        if found is None and params.missing == "error":
            side = "remote id" if direction == "to_remote" else "PRM id"
            raise fail(f"no {ctx.system} {side} known for {params.entity} {value!r} (not synced yet?)", value)
        return found

    return apply


register(
    "lookup",
    "PRM id of another entity <-> that record's id in this system",
    to_remote=_lookup("to_remote"),
    from_remote=_lookup("from_remote"),
    params=LookupParams,
    two_way=True,
    shorthand="entity",
)


class ReferenceParams(Params):
    relationship: str = Field(description="relationship name, e.g. Registered_Partner__r or Account")
    external_id: str = Field("PRM_Id__c", description="external-id field on the related object")


def _reference(value: Any, params: ReferenceParams, ctx: TransformContext) -> Any:
    return None if value is None or value == "" else {params.external_id: str(value)}


register(
    "reference",
    "Salesforce relationship upsert by our id: {Partner__r: {PRM_Id__c: id}} (to_remote only)",
    to_remote=_reference,
    from_remote=None,
    params=ReferenceParams,
    two_way=False,
    output_key=lambda p, remote: p.relationship,
)


class Many2oneParams(Params):
    part: Literal["id", "name"] = "name"


def _many2one(value: Any, params: Many2oneParams, ctx: TransformContext) -> Any:
    if value in (None, False, []):
        return None  # odoo reads an empty many2one as false
    if isinstance(value, list | tuple):
        picked = value[0] if params.part == "id" else (value[1] if len(value) > 1 else None)
        return None if picked is None else str(picked)
    return str(value)


register(
    "many2one",
    "id or display name of an Odoo many2one [id, name] (one-way)",
    to_remote=_many2one,
    from_remote=_many2one,
    params=Many2oneParams,
    two_way=False,
    shorthand="part",
)
