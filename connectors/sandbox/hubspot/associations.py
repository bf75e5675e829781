"""Associations v4: typed, labelled links between records, always stored both ways.

HubSpot keeps an association as a pair of directed links whose type ids are
each other's inverse (company→contact 280 pairs with contact→company 279),
so reading from either side sees it. The standard type ids below are
HubSpot's documented defaults; the custom object's ids are this portal's
USER_DEFINED ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connectors.sandbox.hubspot.schema import resolve_object_type
from connectors.sandbox.hubspot.wire import HubSpotApiError


@dataclass(frozen=True)
class AssociationDef:
    from_type: str
    to_type: str
    type_id: int
    category: str
    label: str | None
    inverse_id: int

    def to_wire(self) -> dict[str, Any]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


def _pair(
    a: str, b: str, a_to_b: int, b_to_a: int, category: str, label: str | None = None
) -> list[AssociationDef]:
    return [
        AssociationDef(a, b, a_to_b, category, label, b_to_a),
        AssociationDef(b, a, b_to_a, category, label, a_to_b),
    ]


HS = "HUBSPOT_DEFINED"
USER = "USER_DEFINED"
REG = "deal_registrations"

DEFINITIONS: tuple[AssociationDef, ...] = (
    *_pair("contacts", "companies", 279, 280, HS),
    *_pair("contacts", "companies", 1, 2, HS, "Primary"),
    *_pair("deals", "contacts", 3, 4, HS),
    *_pair("deals", "companies", 341, 342, HS),
    *_pair("deals", "companies", 5, 6, HS, "Primary"),
    *_pair(REG, "companies", 101, 102, USER),
    *_pair(REG, "companies", 103, 104, USER, "Registering partner"),
    *_pair(REG, "companies", 105, 106, USER, "End customer"),
    *_pair(REG, "deals", 107, 108, USER),
)


# the v3 names of the standard types, as v3 object reads report them ("deal_to_company" is the primary)
_V3_NAMES = {
    ("contacts", "companies", 1): "contact_to_company",
    ("contacts", "companies", 279): "contact_to_company_unlabeled",
    ("companies", "contacts", 2): "company_to_contact",
    ("companies", "contacts", 280): "company_to_contact_unlabeled",
    ("deals", "contacts", 3): "deal_to_contact",
    ("contacts", "deals", 4): "contact_to_deal",
    ("deals", "companies", 5): "deal_to_company",
    ("deals", "companies", 341): "deal_to_company_unlabeled",
    ("companies", "deals", 6): "company_to_deal",
    ("companies", "deals", 342): "company_to_deal_unlabeled",
}
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", REG: "deal_registration"}


def v3_type_name(d: AssociationDef) -> str:
    """The ``type`` a v3 object read shows for a link: a label's internal name, else ``x_to_y``."""
    named = _V3_NAMES.get((d.from_type, d.to_type, d.type_id))
    if named:
        return named
    if d.label:
        return re.sub(r"[^a-z0-9]+", "_", d.label.lower()).strip("_")
    return f"{_SINGULAR.get(d.from_type, d.from_type)}_to_{_SINGULAR.get(d.to_type, d.to_type)}"


def bare_definitions() -> list[AssociationDef]:
    """A new portal's definitions: HubSpot's own and the custom object's unlabelled ones, no user labels."""
    return [d for d in DEFINITIONS if d.category == HS or d.label is None]


Link = tuple[str, int]  # (category, type id)
_FIRST_USER_LABEL_ID = 201  # ids handed to labels created through the API, two at a time


class AssociationStore:
    """Directed links keyed by (from type, from id, to type); callers hold the app lock.

    The definitions (type ids and labels) live here too, so a portal can gain
    labels at run time (``POST /crm/v4/associations/{from}/{to}/labels``).
    """

    def __init__(self, *, bare: bool = False) -> None:
        self.links: dict[tuple[str, str, str], dict[str, set[Link]]] = {}
        self.definitions: list[AssociationDef] = bare_definitions() if bare else list(DEFINITIONS)
        self.created_labels: list[tuple[str, str, str]] = []  # (from, to, label), for dump/load

    def between(self, from_type: str, to_type: str) -> list[AssociationDef]:
        a = resolve_object_type(from_type).name
        b = resolve_object_type(to_type).name
        return [d for d in self.definitions if d.from_type == a and d.to_type == b]

    def from_type(self, object_type: str) -> list[AssociationDef]:
        name = resolve_object_type(object_type).name
        return [d for d in self.definitions if d.from_type == name]

    def default(self, from_type: str, to_type: str) -> AssociationDef:
        for d in self.between(from_type, to_type):
            if d.label is None:
                return d
        msg = f"No association is defined between {from_type} and {to_type}"
        raise HubSpotApiError(
            400, "VALIDATION_ERROR", msg, context={"fromObjectType": [from_type], "toObjectType": [to_type]}
        )

    def add_label(self, from_type: str, to_type: str, label: str) -> list[AssociationDef]:
        """A USER_DEFINED label pair; a label that exists already is a 409 as in HubSpot."""
        a = resolve_object_type(from_type).name
        b = resolve_object_type(to_type).name
        if any((d.label or "").lower() == label.lower() for d in self.between(a, b)):
            msg = f"An association label named {label} already exists between {a} and {b}"
            raise HubSpotApiError(409, "OBJECT_ALREADY_EXISTS", msg)
        used = {d.type_id for d in self.definitions}
        documented = [d for d in DEFINITIONS if (d.from_type, d.to_type, d.label) == (a, b, label)]
        if documented and documented[0].type_id not in used:  # this portal's ids, as the README lists them
            first, second = documented[0].type_id, documented[0].inverse_id
        else:
            first = max([_FIRST_USER_LABEL_ID - 1, *used]) + 1
            second = first + 1
        pair = _pair(a, b, first, second, USER, label)
        self.definitions.extend(pair)
        self.created_labels.append((a, b, label))
        return pair

    def definition(self, from_type: str, to_type: str, category: str, type_id: int) -> AssociationDef:
        for d in self.between(from_type, to_type):
            if d.type_id == type_id and d.category == category:
                return d
        msg = f"association type {category}/{type_id} is not valid between {from_type} and {to_type}"
        raise HubSpotApiError(
            400,
            "VALIDATION_ERROR",
            msg,
            context={"associationTypeId": [str(type_id)], "category": [category]},
        )

    def add(self, d: AssociationDef, from_id: str, to_id: str) -> None:
        self.links.setdefault((d.from_type, from_id, d.to_type), {}).setdefault(to_id, set()).add(
            (d.category, d.type_id)
        )
        self.links.setdefault((d.to_type, to_id, d.from_type), {}).setdefault(from_id, set()).add(
            (d.category, d.inverse_id)
        )

    def remove(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        a = resolve_object_type(from_type).name
        b = resolve_object_type(to_type).name
        self.links.get((a, from_id, b), {}).pop(to_id, None)
        self.links.get((b, to_id, a), {}).pop(from_id, None)

    def targets(self, from_type: str, from_id: str, to_type: str) -> dict[str, set[Link]]:
        a = resolve_object_type(from_type).name
        b = resolve_object_type(to_type).name
        return dict(self.links.get((a, from_id, b), {}))

    def drop_record(self, object_type: str, record_id: str) -> None:
        """An archived record loses its associations on both sides."""
        name = resolve_object_type(object_type).name
        for key in [k for k in self.links if k[0] == name and k[1] == record_id]:
            for to_id in list(self.links[key]):
                self.remove(name, record_id, key[2], to_id)
            self.links.pop(key, None)

    def move(self, object_type: str, loser: str, survivor: str) -> None:
        """After a merge the survivor inherits the loser's associations.

        Moved in the order HubSpot documents: a record has one primary
        company, so the one the survivor already has (from the primary record,
        moved first) wins and the secondary's "Primary" label is dropped; the
        plain association to that company stays. (A company is the primary
        company of any number of deals and contacts: that side is not capped.)
        """
        name = resolve_object_type(object_type).name
        for key in [k for k in self.links if k[0] == name and k[1] == loser]:
            for to_id, links in list(self.links[key].items()):
                if to_id == survivor:
                    continue
                for category, type_id in sorted(links):
                    d = self.definition(name, key[2], category, type_id)
                    if d.label == "Primary" and key[2] == "companies" and self._has_primary(name, survivor, key[2]):
                        continue
                    self.add(d, survivor, to_id)
        self.drop_record(name, loser)

    def _has_primary(self, from_type: str, from_id: str, to_type: str) -> bool:
        return any(
            self.definition(from_type, to_type, category, type_id).label == "Primary"
            for links in self.links.get((from_type, from_id, to_type), {}).values()
            for category, type_id in links
        )

    def label_of(self, from_type: str, to_type: str, link: Link) -> dict[str, Any]:
        category, type_id = link
        for d in self.between(from_type, to_type):
            if d.type_id == type_id and d.category == category:
                return d.to_wire()
        return {"category": category, "typeId": type_id, "label": None}

    def dump(self) -> list[list[Any]]:
        return [
            [a, fid, b, tid, category, type_id]
            for (a, fid, b), targets in self.links.items()
            for tid, links in targets.items()
            for category, type_id in links
        ]

    def load(self, rows: list[list[Any]]) -> None:
        self.links = {}
        for a, fid, b, tid, category, type_id in rows:
            self.links.setdefault((a, fid, b), {}).setdefault(tid, set()).add((category, int(type_id)))
