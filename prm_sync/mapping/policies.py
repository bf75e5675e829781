"""Checks of an object's lifecycle policies: ``on_unmatched``, ``on_delete`` and ``match.identify_by``.

These say what happens to records whose identity is not simply "the one
carrying our id": a record born in the CRM, one deleted on either side. The
shapes are checked by pydantic (``spec.py``); this adds what needs the
entity and the remote object, with a position and a hint for each problem.
"""

from __future__ import annotations

from connectors.base import FieldInfo
from prm_sync.errors import Problem
from prm_sync.mapping.canonical import ENGINE_FIELDS, entity_fields
from prm_sync.mapping.spec import MarkPolicy, ObjectSpec
from prm_sync.yaml_source import Loc, YamlDocument, did_you_mean

# natural keys used when a mapping names none (partners: "domain, else normalised name + country")
DEFAULT_IDENTIFY_BY: dict[str, list[list[str]]] = {
    "partner": [["domain"], ["name", "country"]],
    "partner_contact": [["email"]],
    "end_customer": [["domain"], ["name", "country"]],
}


def keyed_by_us(spec: ObjectSpec) -> bool:
    """The remote record carries our id (external id / unique property): we create it, so we adopt and delete it."""
    return bool(spec.match.external_id or spec.match.id_property)


def identify_by(spec: ObjectSpec) -> list[list[str]]:
    """The natural keys a record without our id is matched by, in order."""
    if spec.match.identify_by is not None:
        return [list(key) for key in spec.match.identify_by]
    return [list(key) for key in DEFAULT_IDENTIFY_BY.get(spec.entity, [])]


def check_policies(
    doc: YamlDocument, spec: ObjectSpec, loc: Loc, remote_fields: dict[str, FieldInfo] | None
) -> list[Problem]:
    problems: list[Problem] = []
    raw = doc.get(loc) if isinstance(doc.get(loc), dict) else {}
    ours = keyed_by_us(spec)
    for key in ("on_unmatched", "on_delete"):
        if key in raw and not ours:
            problems.append(doc.problem(
                (*loc, key), f"{key} applies to objects keyed by our id (match: external_id or id_property)",
                f"{spec.entity} in {spec.remote_object} is owned by the system (match: remote_id/natural_key)",
            ))
    canonical = entity_fields(spec.entity)
    for i, key in enumerate(spec.match.identify_by or []):
        if not key:
            problems.append(doc.problem((*loc, "match", "identify_by", i), "an empty natural key matches everything",
                                        "list canonical fields, e.g. [domain] or [name, country]"))
        for j, name in enumerate(key):
            if name not in canonical or name in ENGINE_FIELDS:
                problems.append(doc.problem(
                    (*loc, "match", "identify_by", i, j), f"unknown {spec.entity} field '{name}' in identify_by",
                    did_you_mean(name, [n for n in canonical if n not in ENGINE_FIELDS]),
                ))
    if isinstance(spec.on_delete, MarkPolicy) and remote_fields is not None:
        for name in spec.on_delete.mark:
            info = remote_fields.get(name)
            if info is None:
                problems.append(doc.problem(
                    (*loc, "on_delete", "mark", name), f"unknown {spec.remote_object} field '{name}' in on_delete.mark",
                    did_you_mean(name, list(remote_fields)),
                ))
            elif not info.updateable:
                problems.append(doc.problem((*loc, "on_delete", "mark", name), f"{name} is read-only: it cannot be marked"))
            elif info.picklist_values and str(spec.on_delete.mark[name]) not in info.picklist_values:
                problems.append(doc.problem(
                    (*loc, "on_delete", "mark", name), f"{spec.on_delete.mark[name]!r} is not a value of {name}",
                    "values: " + ", ".join(info.picklist_values),
                ))
    return problems
