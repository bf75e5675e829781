"""What the mappings need a CRM to have, worked out from the mapping files alone.

A mapping names remote fields; it does not say how to create them. The type
of each follows from what is written into it: the canonical field's type
(``prm_sync.model``), narrowed by the transform (a ``value_map`` makes a
picklist of its targets, ``join`` with ``values`` a multi-select, ``truncate``
a text of that length, ``reference``/``lookup`` a lookup to the object the
other entity maps to). Fields we only write and whose length is unbounded
become long text (ours are generated, e.g. a conflict reason); two-way text
stays a filterable 255-character text. The match key becomes a unique
external id (Salesforce) or a unique-value property (HubSpot).

Only what the customer's org cannot already have is wanted: on Salesforce
the custom (``__c``) fields and objects; on HubSpot every mapped property
(the portal's own exist, so the plan drops them), the custom object, the
``prm_sync`` property group and the association labels.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from prm_sync.mapping.apply import MappingSet, ObjectMapping
from prm_sync.mapping.canonical import entity_fields
from prm_sync.mapping.field_checks import READS, WRITES, effective_direction
from prm_sync.mapping.registry import TRANSFORMS, split_ref
from prm_sync.mapping.spec import FieldSpec
from prm_sync.model import ENTITIES

SETUP_SYSTEMS = ("salesforce", "hubspot")
GROUP = "prm_sync"
GROUP_LABEL = "PRM sync"
ID_LENGTH = 64  # our ids are ``ptn_`` + hex; room for other prefixes
LONG_TEXT = 32768
HUBSPOT_ASSOCIATION_PREFIX = "associations."


@dataclass(frozen=True)
class Want:
    """One thing a CRM must have; ``body`` is the documented create request for it."""

    system: str
    kind: str  # salesforce: object | field | access; hubspot: group | property | schema | label
    object: str  # remote object (Account, companies, p_deal_registrations)
    name: str  # field, property, group or label name ('' for an object)
    summary: str  # one short line: "Picklist: Registered, Silver, Gold, Platinum"
    body: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.system, self.kind, self.object, self.name)


def _params(ref: Any) -> tuple[str | None, Any]:
    """A transform reference -> (name, validated params) (the mapping was validated already)."""
    name, raw = split_ref(ref)
    transform = TRANSFORMS.get(name or "")
    if transform is None:
        return name, None
    wrapped = {} if raw is None else raw
    if not isinstance(wrapped, dict) and transform.shorthand is not None:
        wrapped = {transform.shorthand: wrapped}
    return name, transform.params.model_validate(wrapped)


def _targets(values: dict[Any, Any], default: Any = None) -> list[str]:
    """The remote values a value_map writes, in order, once each."""
    out: list[str] = []
    for target in values.values():
        out.extend(str(v) for v in (target if isinstance(target, list) else [target]))
    if default is not None:
        out.append(str(default))
    return list(dict.fromkeys(out))


def _max_length(entity: str, prm: str | None) -> int | None:
    info = ENTITIES[entity].model_fields.get(prm or "")
    for meta in info.metadata if info else ():
        if getattr(meta, "max_length", None):
            return int(meta.max_length)
    return None


def _list_enum(entity: str, prm: str | None) -> list[str]:
    """``list[SomeEnum]`` -> the enum's values (options of a multi-select)."""
    info = ENTITIES[entity].model_fields.get(prm or "")
    args = typing.get_args(info.annotation) if info else ()
    if args and isinstance(args[0], type) and issubclass(args[0], Enum):
        return [str(m.value) for m in args[0]]
    return []


@dataclass
class _Shape:
    """A field's type in neutral terms, rendered per system below."""

    kind: str  # text | longtext | picklist | multipicklist | number | datetime | date | bool | lookup
    length: int = 255
    values: list[str] = field(default_factory=list)
    scale: int = 0
    target: str | None = None  # lookup: the remote object


def _shape(mappings: MappingSet, obj: ObjectMapping, spec: FieldSpec) -> _Shape:
    direction = effective_direction(spec, obj.spec)
    canonical = entity_fields(obj.entity).get(spec.prm or "", ("text", ()))
    kind, enum_values = canonical
    name, params = _params(spec.transform) if spec.transform is not None else (None, None)
    if name == "value_map":
        return _Shape("picklist", values=_targets(params.values, params.default))
    if name == "join":
        values = list(params.values.values()) if params.values else _list_enum(obj.entity, spec.prm)
        return _Shape("multipicklist", values=values) if values else _Shape("longtext", LONG_TEXT)
    if name == "truncate":
        return _Shape("text", params.length)
    if name == "constant":
        value = params.value
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            return _Shape("bool")
        return _Shape("text")
    if name in ("reference", "lookup"):
        return _Shape("lookup", 18, target=_lookup_target(mappings, obj, spec, name, params))
    if name == "number" or kind == "number":
        places = getattr(params, "places", None)
        return _Shape("number", scale=2 if places is None else places)
    if name == "datetime" or kind == "datetime":
        return _Shape("datetime")
    if name == "date" or kind == "date":
        return _Shape("date")
    if name == "bool" or kind == "bool":
        return _Shape("bool")
    if kind == "enum":
        return _Shape("picklist", values=list(enum_values))
    bound = _max_length(obj.entity, spec.prm)
    if bound:
        return _Shape("text", bound)
    if (spec.prm or "").endswith("_id"):
        return _Shape("text", ID_LENGTH)
    if direction in WRITES and direction not in READS:
        return _Shape("longtext", LONG_TEXT)
    return _Shape("text", 255)


def _lookup_target(mappings: MappingSet, obj: ObjectMapping, spec: FieldSpec, name: str, params: Any) -> str | None:
    """The remote object a lookup points at: the one the referenced entity maps to in this system."""
    entity: str | None = params.entity if name == "lookup" else None
    if entity is None and spec.inverse is not None:
        inv_name, inv = _params(spec.inverse)
        entity = inv.entity if inv_name == "lookup" else None
    if entity is None and spec.prm and spec.prm.endswith("_id"):
        stem = spec.prm.removesuffix("_id")  # registered_partner_id -> partner, registration_id -> deal_registration
        candidates = [e for e in mappings.entities_for(obj.system) if stem.endswith(e) or e.endswith(stem)]
        entity = candidates[0] if len(candidates) == 1 else None
    target = mappings.for_entity(obj.system, entity) if entity else None
    return target.remote_object if target else None


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ").strip().title() if name.endswith("__c") else (
        name.replace("_", " ").capitalize()
    )


# -- Salesforce --------------------------------------------------------------------------------------


def _sf_metadata(shape: _Shape, label: str) -> tuple[dict[str, Any], str]:
    """A Tooling API ``CustomField`` ``Metadata`` body and its one-line summary."""
    meta: dict[str, Any] = {"label": label}
    if shape.kind == "picklist" or shape.kind == "multipicklist":
        multi = shape.kind == "multipicklist"
        meta["type"] = "MultiselectPicklist" if multi else "Picklist"
        if multi:
            meta["visibleLines"] = 4
        meta["valueSet"] = {
            "restricted": True,
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "label": v, "default": False} for v in shape.values],
            },
        }
        return meta, f"{meta['type']}: {', '.join(shape.values)}"
    if shape.kind == "lookup":
        meta.update(type="Lookup", referenceTo=shape.target, deleteConstraint="SetNull")
        return meta, f"Lookup to {shape.target}"
    if shape.kind == "number":
        meta.update(type="Number", precision=18, scale=shape.scale)
        return meta, f"Number(18, {shape.scale})"
    simple = {"datetime": "DateTime", "date": "Date"}
    if shape.kind in simple:
        meta["type"] = simple[shape.kind]
        return meta, meta["type"]
    if shape.kind == "bool":
        meta.update(type="Checkbox", defaultValue="false")
        return meta, "Checkbox"
    if shape.kind == "longtext":
        meta.update(type="LongTextArea", length=LONG_TEXT, visibleLines=3)
        return meta, f"Long text({LONG_TEXT})"
    meta.update(type="Text", length=min(shape.length, 255))
    return meta, f"Text({meta['length']})"


def salesforce_wants(mappings: MappingSet) -> list[Want]:
    """Custom objects, custom fields (the external ids first) and field access, in creation order."""
    objects: dict[str, Want] = {}
    fields: dict[tuple[str, str], Want] = {}
    for obj in mappings:
        if obj.system != "salesforce":
            continue
        remote = obj.remote_object
        if remote.endswith("__c") and remote not in objects:
            label = _label(remote)
            objects[remote] = Want(
                "salesforce", "object", remote, "", "custom object (Text name field)",
                {"FullName": remote, "Metadata": {
                    "label": label, "pluralLabel": label + "s", "nameField": {"label": f"{label} Name", "type": "Text"},
                    "deploymentStatus": "Deployed", "sharingModel": "ReadWrite",
                }},
            )
        key_field = obj.spec.match.external_id
        if key_field and key_field.endswith("__c") and (remote, key_field) not in fields:
            meta = {"label": "PRM Id", "type": "Text", "length": ID_LENGTH, "externalId": True, "unique": True,
                    "caseSensitive": True}
            fields[(remote, key_field)] = Want(
                "salesforce", "field", remote, key_field, f"Text({ID_LENGTH}) unique external id",
                {"FullName": f"{remote}.{key_field}", "Metadata": meta},
            )
        for spec in obj.spec.fields:
            if not spec.remote.endswith("__c") or (remote, spec.remote) in fields:
                continue
            if effective_direction(spec, obj.spec) == "none":
                continue
            shape = _shape(mappings, obj, spec)
            meta, summary = _sf_metadata(shape, _label(spec.remote))
            if shape.kind == "lookup":
                meta["relationshipName"] = spec.remote.removesuffix("__c")
                meta["relationshipLabel"] = _label(remote) + "s"
            fields[(remote, spec.remote)] = Want(
                "salesforce", "field", remote, spec.remote, summary,
                {"FullName": f"{remote}.{spec.remote}", "Metadata": meta},
            )
    ordered = sorted(fields.values(), key=lambda w: (w.body["Metadata"]["type"] == "Lookup", w.object, w.name))
    return [*objects.values(), *ordered]


# -- HubSpot -----------------------------------------------------------------------------------------


def _hs_property(shape: _Shape, name: str, label: str, group: str | None) -> tuple[dict[str, Any], str]:
    """A properties API create body (``PropertyCreate``) and its one-line summary."""
    body: dict[str, Any] = {"name": name, "label": label}
    if group:
        body["groupName"] = group
    if shape.kind in ("picklist", "multipicklist"):
        multi = shape.kind == "multipicklist"
        body.update(type="enumeration", fieldType="checkbox" if multi else "select")
        body["options"] = [
            {"label": v.replace("_", " ").capitalize(), "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(shape.values)
        ]
        return body, f"{'multiple checkboxes' if multi else 'dropdown'}: {', '.join(shape.values)}"
    types = {
        "number": ("number", "number"),
        "datetime": ("datetime", "date"),
        "date": ("date", "date"),
        "bool": ("bool", "booleancheckbox"),
        "longtext": ("string", "textarea"),
    }
    body["type"], body["fieldType"] = types.get(shape.kind, ("string", "text"))
    if shape.kind == "bool":
        body["options"] = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return body, f"{body['type']} ({body['fieldType']})"


def _hs_object_name(remote: str) -> str | None:
    """``p_deal_registrations`` / ``p123_deal_registrations`` -> ``deal_registrations``; None for standard objects."""
    digits = remote[1 : remote.index("_")] if remote.startswith("p") and "_" in remote else "x"
    if digits == "" or digits.isdigit():
        return remote[remote.index("_") + 1 :]
    return None


_HS_ASSOCIATED = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}


def hubspot_wants(mappings: MappingSet) -> list[Want]:
    """Schemas of custom objects, property groups, properties and association labels, in creation order."""
    schemas: dict[str, Want] = {}
    groups: dict[str, Want] = {}
    props: dict[tuple[str, str], Want] = {}
    labels: dict[tuple[str, str, str], Want] = {}
    for obj in mappings:
        if obj.system != "hubspot":
            continue
        remote = obj.remote_object
        custom = _hs_object_name(remote)
        if remote not in groups:
            groups[remote] = Want("hubspot", "group", remote, GROUP, f"property group '{GROUP_LABEL}'",
                                  {"name": GROUP, "label": GROUP_LABEL, "displayOrder": -1})
        key = obj.spec.match.id_property
        entries: list[tuple[str, _Shape, bool]] = []
        if key:
            entries.append((key, _Shape("text", ID_LENGTH), True))
        for spec in obj.spec.fields:
            if spec.remote.startswith(HUBSPOT_ASSOCIATION_PREFIX) or effective_direction(spec, obj.spec) == "none":
                continue
            entries.append((spec.remote, _shape(mappings, obj, spec), False))
        for name, shape, unique in entries:
            if (remote, name) in props:
                continue
            body, summary = _hs_property(shape, name, _label(name), GROUP)
            if unique:
                body["hasUniqueValue"] = True
                summary = "string (text), unique values"
            props[(remote, name)] = Want("hubspot", "property", remote, name, summary, body)
        if custom and remote not in schemas:
            singular = _label(custom).removesuffix("s")
            associated = [_HS_ASSOCIATED[a.to_object] for a in obj.spec.associations if a.to_object in _HS_ASSOCIATED]
            schemas[remote] = Want(
                "hubspot", "schema", remote, "", f"custom object '{custom}'",
                {"name": custom, "labels": {"singular": singular, "plural": singular + "s"},
                 "primaryDisplayProperty": key, "requiredProperties": [],
                 "searchableProperties": [key] if key else [], "properties": [],
                 "associatedObjects": list(dict.fromkeys(associated))},
            )
        for assoc in obj.spec.associations:
            if assoc.label and (remote, assoc.to_object, assoc.label) not in labels:
                slug = "".join(c if c.isalnum() else "_" for c in assoc.label.lower()).strip("_")
                labels[(remote, assoc.to_object, assoc.label)] = Want(
                    "hubspot", "label", f"{remote} -> {assoc.to_object}", assoc.label,
                    f"association label '{assoc.label}'", {"label": assoc.label, "name": slug},
                )
    for remote, schema in schemas.items():  # the custom object is created with its properties in one request
        schema.body["properties"] = [
            {k: v for k, v in w.body.items() if k != "groupName"} for (o, _), w in props.items() if o == remote
        ]
    return [*schemas.values(), *groups.values(), *props.values(), *labels.values()]


def wants_for(mappings: MappingSet, systems: tuple[str, ...] = SETUP_SYSTEMS) -> list[Want]:
    out: list[Want] = []
    if "salesforce" in systems:
        out += salesforce_wants(mappings)
    if "hubspot" in systems:
        out += hubspot_wants(mappings)
    return out
