"""Object types and property definitions the HubSpot sandbox serves.

HubSpot keeps every value as a string on the wire and validates it against
the property's ``type``/``fieldType``: numbers must parse, enumerations must
be one of the options, datetimes arrive as ms epoch or ISO-8601. The sandbox
keeps the same definitions so the properties API, write validation and
search comparisons all agree with one another.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from connectors.sandbox.hubspot.wire import HubSpotApiError, validation_detail

PORTAL_ID = 1234567

_DEAL_STAGES = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
]
_REG_STATUS = ["submitted", "under_review", "approved", "rejected", "returned", "won", "lost", "expired"]
_TIERS = ["registered", "silver", "gold", "platinum"]
_CONFLICT = ["clear", "review", "conflict"]

# property type -> HubSpot fieldType used for the definitions below
_FIELD_TYPES = {"string": "text", "number": "number", "datetime": "date", "bool": "booleancheckbox"}


@dataclass
class PropertyDef:
    """One property definition, shaped like the properties API's ``Property``."""

    name: str
    type: str = "string"  # string | number | datetime | date | enumeration | bool
    field_type: str = ""
    label: str = ""
    group_name: str = ""  # empty: the object type's own information group (see ``default_properties``)
    options: list[str] = field(default_factory=list)
    has_unique_value: bool = False
    read_only: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    description: str = ""
    display_order: int = -1
    created_ms: int = 0
    archived_ms: int | None = None  # set once the property is in the recycling bin

    def __post_init__(self) -> None:
        if not self.field_type:
            if self.type == "enumeration":
                self.field_type = "select"
            else:
                self.field_type = _FIELD_TYPES.get(self.type, "text")
        if not self.label:
            self.label = self.name.replace("_", " ").capitalize()
        if self.type == "bool" and not self.options:
            self.options = ["true", "false"]

    @property
    def multi(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"

    def to_wire(self) -> dict[str, Any]:
        stamp = iso_ms(self.created_ms)
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [
                {
                    "label": value.replace("_", " ").capitalize(),
                    "value": value,
                    "displayOrder": i,
                    "hidden": False,
                }
                for i, value in enumerate(self.options)
            ],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": self.archived_ms is not None,
            **({"archivedAt": iso_ms(self.archived_ms)} if self.archived_ms is not None else {}),
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }

    @classmethod
    def from_wire(cls, body: dict[str, Any], created_ms: int) -> PropertyDef:
        """Build a custom property from a properties-API create body."""
        return cls(
            name=str(body["name"]),
            type=str(body.get("type", "string")),
            field_type=str(body.get("fieldType", "")),
            label=str(body.get("label", "")),
            group_name=str(body.get("groupName", "")),
            options=[str(o["value"]) for o in body.get("options") or []],
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hubspot_defined=False,
            description=str(body.get("description", "")),
            display_order=int(body.get("displayOrder", -1)),
            created_ms=created_ms,
        )


@dataclass(frozen=True)
class ObjectType:
    """A CRM object type and every name HubSpot accepts for it in a path."""

    name: str
    type_id: str
    aliases: tuple[str, ...]
    default_properties: tuple[str, ...]
    searchable: tuple[str, ...]


OBJECT_TYPES: tuple[ObjectType, ...] = (
    ObjectType(
        "contacts",
        "0-1",
        ("contact",),
        ("firstname", "lastname", "email"),
        ("email", "firstname", "lastname"),
    ),
    ObjectType("companies", "0-2", ("company",), ("name", "domain"), ("name", "domain", "website")),
    ObjectType(
        "deals", "0-3", ("deal",), ("dealname", "amount", "closedate", "pipeline", "dealstage"), ("dealname",)
    ),
    ObjectType(
        "deal_registrations",
        "2-9000001",
        ("p_deal_registrations", f"p{PORTAL_ID}_deal_registrations", "deal_registration"),
        ("prm_id",),
        ("prm_id", "customer_name"),
    ),
)


def resolve_object_type(name: str) -> ObjectType:
    """Map any accepted path name (``deals``, ``0-3``, ``p_x``...) to its type, else 400."""
    wanted = name.lower()
    for ot in OBJECT_TYPES:
        if wanted in (ot.name, ot.type_id, *ot.aliases):
            return ot
    msg = f"Unable to infer object type from: {name}"
    raise HubSpotApiError(400, "VALIDATION_ERROR", msg, context={"objectType": [name]})


# A new portal's property groups per object type, as HubSpot creates them (name, label). The first one
# holds the object's built-in properties: ``companyinformation`` is where a company's name, domain and
# create date live, and where HubSpot's own examples create properties (``contactinformation``...).
DEFAULT_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "companies": (
        ("companyinformation", "Company information"),
        ("company_activity", "Company activity"),
        ("conversioninformation", "Conversion information"),
        ("socialmediainformation", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
    ),
    "contacts": (
        ("contactinformation", "Contact information"),
        ("contact_activity", "Contact activity"),
        ("conversioninformation", "Conversion information"),
        ("emailinformation", "Email information"),
        ("socialmediainformation", "Social media information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
    ),
    "deals": (
        ("dealinformation", "Deal information"),
        ("deal_activity", "Deal activity"),
        ("dealstages", "Deal stage properties"),
        ("analyticsinformation", "Deal analytics"),
    ),
}


def information_group(object_type: str) -> str:
    """The group of an object type's built-in properties (a custom object's is ``<singular>_information``)."""
    standard = DEFAULT_GROUPS.get(object_type)
    return standard[0][0] if standard else f"{object_type.removesuffix('s')}_information"


def _common() -> list[PropertyDef]:
    return [
        PropertyDef("hs_object_id", "number", label="Record ID", read_only=True),
        PropertyDef("createdate", "datetime", label="Create Date", read_only=True),
        PropertyDef("hs_lastmodifieddate", "datetime", label="Last Modified Date", read_only=True),
        PropertyDef(
            "hs_merged_object_ids",
            "enumeration",
            field_type="checkbox",
            label="Merged record IDs",
            read_only=True,
        ),
    ]


def _custom(name: str, type_: str = "string", **kw: Any) -> PropertyDef:
    return PropertyDef(name, type_, hubspot_defined=False, group_name="prm_sync", **kw)


def default_properties(*, bare: bool = False) -> dict[str, dict[str, PropertyDef]]:
    """The property definitions of a portal, per object type name.

    ``bare`` is a new customer's portal: HubSpot's own properties only, none
    of the ``prm_sync`` group's (``prm-sync setup`` creates those, and the
    registrations object, through the properties and schemas APIs).
    """
    enum = "enumeration"
    companies = [
        PropertyDef("name"),
        PropertyDef("domain"),
        PropertyDef("website"),
        PropertyDef("phone"),
        PropertyDef("city"),
        PropertyDef("country"),
        PropertyDef("industry"),
        PropertyDef("annualrevenue", "number"),
        PropertyDef(
            "lifecyclestage",
            enum,
            options=[
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
                "evangelist",
                "other",
            ],
        ),
        _custom("prm_id", has_unique_value=True),
        _custom("is_partner", "bool"),
        _custom("partner_tier", enum, options=_TIERS),
        _custom("partner_status", enum, options=["prospect", "active", "suspended", "terminated"]),
        _custom(
            "partner_type",
            enum,
            options=["reseller", "distributor", "system_integrator", "msp", "isv", "referral"],
        ),
        _custom("territory"),
    ]
    contacts = [
        PropertyDef("email", has_unique_value=True),
        PropertyDef("firstname"),
        PropertyDef("lastname"),
        PropertyDef("jobtitle"),
        PropertyDef("phone"),
        PropertyDef("company"),
        _custom("prm_id", has_unique_value=True),
    ]
    deals = [
        PropertyDef("dealname"),
        PropertyDef("amount", "number"),
        PropertyDef("dealstage", enum, field_type="radio", options=_DEAL_STAGES),
        PropertyDef("pipeline", enum, options=["default"]),
        PropertyDef("closedate", "datetime"),
        PropertyDef("hs_is_closed_won", "bool", read_only=True, calculated=True),
        PropertyDef("hs_is_closed", "bool", read_only=True, calculated=True),
        _custom("prm_id", has_unique_value=True),
        _custom("registered_partner_id"),
        _custom("registered_partner_name"),
        _custom("registration_status", enum, options=_REG_STATUS),
        _custom("protection_expires", "datetime"),
        _custom("partner_tier", enum, options=_TIERS),
        _custom("attribution_summary"),
        _custom("conflict_status", enum, options=_CONFLICT),
    ]
    registrations = [
        _custom("prm_id", has_unique_value=True),
        _custom("customer_name"),
        _custom("customer_domain"),
        _custom("partner_prm_id"),
        _custom(
            "product_lines",
            enum,
            field_type="checkbox",
            options=["platform", "analytics", "security", "services"],
        ),
        _custom("amount", "number"),
        _custom("status", enum, options=["draft", *_REG_STATUS]),
        _custom("submitted_at", "datetime"),
        _custom("approved_at", "datetime"),
        _custom("expires_at", "datetime"),
        _custom("conflict_decision", enum, options=_CONFLICT),
        _custom("conflict_score", "number"),
        _custom("conflict_reason", field_type="textarea"),
    ]
    table = {
        "companies": companies,
        "contacts": contacts,
        "deals": deals,
        "deal_registrations": registrations,
    }
    out: dict[str, dict[str, PropertyDef]] = {}
    for name, props in table.items():
        out[name] = {p.name: p for p in [*_common(), *props] if not (bare and not p.hubspot_defined)}
        for prop in out[name].values():
            prop.group_name = prop.group_name or information_group(name)
    return out


def is_custom(ot: ObjectType) -> bool:
    """Custom objects (``2-...``) exist only once their schema is created."""
    return ot.type_id.startswith("2-")


# -- values ----------------------------------------------------------------------

_DIGITS = re.compile(r"^-?\d+$")
MAX_TEXT_CHARS = 65_536


def iso_ms(ms: int) -> str:
    """HubSpot's datetime rendering: ISO-8601 UTC with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: str) -> int | None:
    """ms epoch or ISO date/datetime -> ms epoch; None when it is neither."""
    text = value.strip()
    if _DIGITS.match(text):
        return int(text)
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000)


def normalize_value(prop: PropertyDef, raw: Any) -> tuple[str | None, dict[str, Any] | None]:
    """Validate one written value; return (stored value, None) or (None, error detail).

    An empty string or null clears the property, as in HubSpot.
    """
    if raw is None or raw == "":
        return "", None
    value = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if prop.read_only:
        return None, validation_detail(
            prop.name,
            value,
            "READ_ONLY_VALUE",
            f"{prop.name} is a read only property; its value cannot be set.",
        )
    if prop.type != "string" and value != value.strip():
        # HubSpot's changelog, "Enhanced Validations for Non-String Properties" (2025)
        msg = f'"{value}" includes leading or trailing whitespace.'
        return None, validation_detail(prop.name, value, "LEADING_TRAILING_WHITESPACE", msg)
    if prop.type == "number":
        try:
            if not math.isfinite(float(value)):  # "NaN", "Infinity" and "1e400" parse as floats
                raise ValueError(value)
        except ValueError:
            return None, validation_detail(
                prop.name, value, "INVALID_FLOAT", f"{value} was not a valid number."
            )
        return value, None
    if prop.type in ("datetime", "date"):
        ms = parse_ms(value)
        if ms is None:
            msg = f"{value} was not a valid long or ISO 8601 date"
            return None, validation_detail(prop.name, value, "INVALID_DATE", msg)
        return (iso_ms(ms) if prop.type == "datetime" else iso_ms(ms)[:10]), None
    if prop.type == "string" and len(value) > MAX_TEXT_CHARS:
        # HubSpot's knowledge base ("Property field types"): a text value added through the CRM holds at
        # most 65,536 characters; the error code here is the sandbox's own (HubSpot's is not documented)
        msg = f"{prop.name} has {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}"
        return None, validation_detail(prop.name, value[:100], "MAX_CHARACTERS_EXCEEDED", msg)
    if prop.type in ("enumeration", "bool"):
        parts = value.split(";") if prop.multi else [value]
        normalized = [p.lower() if prop.type == "bool" else p for p in parts]
        bad = [p for p in normalized if p not in prop.options]
        if bad:
            allowed = ", ".join(prop.options)
            msg = f"{bad[0]} was not one of the allowed options: [{allowed}]"
            return None, validation_detail(prop.name, value, "INVALID_OPTION", msg)
        return ";".join(normalized), None
    return value, None


def sort_key(prop: PropertyDef | None, value: str | None) -> tuple[int, Any]:
    """Comparable key for search filters and sorts; unset values sort first."""
    if value is None or value == "":
        return (0, "")
    if prop is not None and prop.type == "number":
        try:
            return (1, float(value))
        except ValueError:
            return (2, value.lower())
    if prop is not None and prop.type in ("datetime", "date"):
        ms = parse_ms(value)
        if ms is not None:
            return (1, ms)
    return (2, value.lower())
