"""The sandbox org's objects and fields, and how describe reports them.

The definitions follow connectors/sandbox/README.md (the contract the
mappings rely on). Fields are plain dataclasses so that validation, SOQL and
describe read one source of truth; custom fields added at run time through
the Tooling API land here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# object -> three-character key prefix of its record ids (as in a real org)
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "OpportunityPartner": "00K",
    "Deal_Registration__c": "a0X",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "FieldPermissions": "01k",
    "ObjectPermissions": "110",
}
# the objects whose records decide object and field-level security
SECURITY_OBJECTS = frozenset({"PermissionSet", "PermissionSetAssignment", "FieldPermissions", "ObjectPermissions"})
# ObjectPermissions flags and what each requires on the same row (the object reference's dependencies)
OBJECT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "PermissionsRead": (),
    "PermissionsCreate": ("PermissionsRead",),
    "PermissionsEdit": ("PermissionsRead",),
    "PermissionsDelete": ("PermissionsRead", "PermissionsEdit"),
    "PermissionsViewAllRecords": ("PermissionsRead",),
    "PermissionsModifyAllRecords": ("PermissionsRead", "PermissionsDelete", "PermissionsEdit",
                                    "PermissionsViewAllRecords"),
}

STRING_TYPES = {"string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "combobox"}
NUMBER_TYPES = {"double", "currency", "percent", "int"}
# Tooling API CustomField metadata type -> describe type
METADATA_TYPES: dict[str, str] = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Lookup": "reference",
}
# key prefixes handed to custom objects created at run time, in order (a real org's look like these)
CUSTOM_PREFIXES = ("a0X", "a0Y", "a0Z", "a10", "a11", "a12")


@dataclass
class FieldDef:
    """One field as the org stores it; ``describe()`` renders the API's shape."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False  # not nillable and no default: REQUIRED_FIELD_MISSING on create
    picklist: tuple[str, ...] = ()
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    system: bool = False  # maintained by the server (Id, stamps, IsDeleted, derived fields)
    custom: bool = False
    precision: int = 0  # numbers: total digits (0: the type's default, see __post_init__)
    scale: int = 0  # numbers: digits after the decimal point
    secured: bool = False  # created through the Tooling API: the API user sees it only when FLS grants it
    hidden: bool = False  # secured and not readable by the API user: absent from describe, SOQL and writes

    def __post_init__(self) -> None:
        # Currency(16, 2) is what Setup offers by default (precision 18, scale 2); int fields hold 9 digits
        if self.type in NUMBER_TYPES and not self.precision:
            self.precision, self.scale = (9, 0) if self.type == "int" else (18, self.scale or 2)

    def describe(self) -> dict[str, Any]:
        nillable = not self.required and self.type not in {"boolean", "id"} and not self.system
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "length": self.length if self.type in STRING_TYPES or self.type in {"id", "reference"} else 0,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None}
                for v in self.picklist
            ],
            "restrictedPicklist": bool(self.picklist),
            "externalId": self.external_id,
            "unique": self.unique,
            "nillable": nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.system or self.type == "boolean",
            "custom": self.custom,
            "idLookup": self.name == "Id" or self.external_id,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "calculated": False,
            "filterable": True,
            "sortable": self.type != "textarea" or self.length <= 255,
            "precision": self.precision if self.type in NUMBER_TYPES - {"int"} else 0,
            "scale": self.scale if self.type in NUMBER_TYPES - {"int"} else 0,
            "digits": self.precision if self.type == "int" else 0,
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass
class ObjectDef:
    name: str
    label: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    custom: bool = False
    # created through the Tooling API: the API user reaches it only through ObjectPermissions
    # (absent from the global describe and every API call without read, writes need create/edit/delete)
    secured: bool = False
    hidden: bool = False
    can_create: bool = True
    can_edit: bool = True
    can_delete: bool = True

    def __post_init__(self) -> None:
        self._lower: dict[str, str] = {name.lower(): name for name in self.fields}

    def add(self, f: FieldDef) -> None:
        self.fields[f.name] = f
        self._lower[f.name.lower()] = f.name

    def get_field(self, name: str) -> FieldDef | None:
        """Field names are case-insensitive in the API, as in SOQL."""
        canonical = self._lower.get(name.lower())
        found = self.fields[canonical] if canonical else None
        return None if found is None or found.hidden else found

    def has_field(self, name: str) -> bool:
        """Whether the org has the field at all, whoever may see it (a duplicate name is refused)."""
        return name.lower() in self._lower

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (``Account`` -> ``AccountId``)."""
        lowered = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lowered and not f.hidden:
                return f
        return None

    def external_id_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.external_id and not f.hidden]

    def describe(self, version: str) -> dict[str, Any]:
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields.values() if not f.hidden],
            "childRelationships": [],
            "recordTypeInfos": [],
        }

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.can_create,
            "updateable": self.can_edit,
            "deletable": self.can_delete,
            "queryable": True,
            "replicateable": True,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }


def _text(name: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", length=length, **kw)


def _pick(name: str, values: tuple[str, ...], **kw: Any) -> FieldDef:
    return FieldDef(name, "picklist", length=255, picklist=values, **kw)


def _ref(name: str, target: str, **kw: Any) -> FieldDef:
    relationship = name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id")
    return FieldDef(
        name, "reference", length=18, reference_to=(target,), relationship_name=relationship, **kw
    )


def _prm_id() -> FieldDef:
    return _text("PRM_Id__c", 40, external_id=True, unique=True, custom=True, label="PRM Id")


def _system_fields(with_master: bool) -> list[FieldDef]:
    fields = [
        FieldDef("Id", "id", length=18, createable=False, updateable=False, system=True),
        FieldDef("IsDeleted", "boolean", createable=False, updateable=False, system=True),
        FieldDef("CreatedDate", "datetime", createable=False, updateable=False, system=True),
        FieldDef("LastModifiedDate", "datetime", createable=False, updateable=False, system=True),
        FieldDef("SystemModstamp", "datetime", createable=False, updateable=False, system=True),
    ]
    if with_master:
        fields.append(
            FieldDef(
                "MasterRecordId",
                "reference",
                length=18,
                createable=False,
                updateable=False,
                system=True,
                relationship_name="MasterRecord",
            )
        )
    return fields


TIERS = ("Registered", "Silver", "Gold", "Platinum")
REGISTRATION_STATUSES = (
    "Submitted",
    "Under Review",
    "Approved",
    "Rejected",
    "Returned",
    "Won",
    "Lost",
    "Expired",
)
CONFLICT = ("Clear", "Review", "Conflict")
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost")


def _obj(
    name: str, label: str, fields: list[FieldDef], *, master: bool = False, custom: bool = False
) -> ObjectDef:
    all_fields = _system_fields(master) + fields
    if master:  # MasterRecordId points at the same object
        all_fields[5].reference_to = (name,)
    return ObjectDef(name, label, KEY_PREFIXES[name], {f.name: f for f in all_fields}, custom=custom)


def default_objects(*, bare: bool = False) -> dict[str, ObjectDef]:
    """A fresh copy of the org schema in the README (mutable: Tooling adds fields and objects).

    ``bare`` is a new customer's org: the standard objects and fields only, none
    of the custom fields and objects the mappings write (``prm-sync setup``
    creates them through the Tooling API, as it would in a real org).
    """
    account = _obj(
        "Account",
        "Account",
        [
            _text("Name", required=True),
            _pick("Type", ("Customer", "Partner", "Prospect", "Other")),
            FieldDef("Website", "url", length=255),
            FieldDef("Phone", "phone", length=40),
            FieldDef("BillingStreet", "textarea", length=255),
            _text("BillingCity", 40),
            _text("BillingCountry", 80),
            _pick(
                "Industry",
                (
                    "Agriculture",
                    "Banking",
                    "Consulting",
                    "Education",
                    "Healthcare",
                    "Manufacturing",
                    "Retail",
                    "Technology",
                    "Telecommunications",
                    "Other",
                ),
            ),
            FieldDef("IsPartner", "boolean"),
            _prm_id(),
            _pick("Partner_Tier__c", TIERS, custom=True),
            _pick("Partner_Status__c", ("Prospect", "Active", "Suspended", "Terminated"), custom=True),
            _pick(
                "Partner_Type__c",
                ("Reseller", "Distributor", "System Integrator", "MSP", "ISV", "Referral"),
                custom=True,
            ),
            _text("Territory__c", 80, custom=True),
            _text("Domain__c", 255, custom=True),
        ],
        master=True,
    )
    contact = _obj(
        "Contact",
        "Contact",
        [
            _text("FirstName", 40),
            _text("LastName", 80, required=True),
            FieldDef("Email", "email", length=80),
            _text("Title", 128),
            FieldDef("Phone", "phone", length=40),
            _ref("AccountId", "Account"),
            _prm_id(),
        ],
        master=True,
    )
    lead = _obj(
        "Lead",
        "Lead",
        [
            _text("FirstName", 40),
            _text("LastName", 80, required=True),
            _text("Company", 255, required=True),
            FieldDef("Email", "email", length=80),
            _pick("Status", ("Open", "Working", "Converted", "Closed")),
        ],
        master=True,
    )
    opportunity = _obj(
        "Opportunity",
        "Opportunity",
        [
            _text("Name", 120, required=True),
            _pick("StageName", STAGES, required=True),
            FieldDef("CloseDate", "date", required=True),
            FieldDef("Amount", "currency"),
            _ref("AccountId", "Account"),
            FieldDef("IsClosed", "boolean", createable=False, updateable=False, system=True),
            FieldDef("IsWon", "boolean", createable=False, updateable=False, system=True),
            _prm_id(),
            _ref("Registered_Partner__c", "Account", custom=True),
            _pick("Registration_Status__c", REGISTRATION_STATUSES, custom=True),
            FieldDef("Protection_Expires__c", "datetime", custom=True),
            _pick("Partner_Tier__c", TIERS, custom=True),
            _ref("Deal_Registration__c", "Deal_Registration__c", custom=True),
            _text("Attribution_Summary__c", 255, custom=True),
            _pick("Conflict_Status__c", CONFLICT, custom=True),
        ],
    )
    opportunity_partner = _obj(
        "OpportunityPartner",
        "Opportunity Partner",
        [
            _ref("OpportunityId", "Opportunity", required=True),
            _ref("AccountToId", "Account", required=True),
            _pick("Role", ("Reseller", "Distributor", "System Integrator", "Referral", "Influencer")),
            FieldDef("IsPrimary", "boolean"),
        ],
    )
    deal_registration = _obj(
        "Deal_Registration__c",
        "Deal Registration",
        [
            _text("Name", 80),
            _prm_id(),
            _ref("Partner__c", "Account", custom=True),
            _ref("End_Customer__c", "Account", custom=True),
            _text("Customer_Name__c", 255, required=True, custom=True),
            _text("Customer_Domain__c", 255, custom=True),
            FieldDef(
                "Product_Lines__c",
                "multipicklist",
                length=4099,
                picklist=("Platform", "Analytics", "Security", "Services"),
                custom=True,
            ),
            FieldDef("Amount__c", "currency", custom=True),
            _pick("Status__c", ("Draft", *REGISTRATION_STATUSES), custom=True),
            FieldDef("Submitted_At__c", "datetime", custom=True),
            FieldDef("Approved_At__c", "datetime", custom=True),
            FieldDef("Expires_At__c", "datetime", custom=True),
            _ref("Opportunity__c", "Opportunity", custom=True),
            _pick("Conflict_Decision__c", CONFLICT, custom=True),
            FieldDef("Conflict_Score__c", "double", custom=True),
            FieldDef("Conflict_Reason__c", "textarea", length=32768, custom=True),
        ],
        custom=True,
    )
    permission_set = _obj("PermissionSet", "Permission Set", [_text("Name", 80, required=True),
                                                              _text("Label", 80, required=True)])
    assignment = _obj("PermissionSetAssignment", "Permission Set Assignment", [
        _text("AssigneeId", 18, required=True),  # a User id (the sandbox keeps its users in the OAuth server)
        _ref("PermissionSetId", "PermissionSet", required=True),
    ])
    field_permissions = _obj("FieldPermissions", "Field Permissions", [
        _ref("ParentId", "PermissionSet", required=True),
        _text("SobjectType", 80, required=True),
        _text("Field", 255, required=True),
        FieldDef("PermissionsRead", "boolean"),
        FieldDef("PermissionsEdit", "boolean"),
    ])
    object_permissions = _obj("ObjectPermissions", "Object Permissions", [
        _ref("ParentId", "PermissionSet", required=True),
        _text("SobjectType", 40, required=True),
        *(FieldDef(name, "boolean") for name in OBJECT_PERMISSIONS),
    ])
    objects = [account, contact, lead, opportunity, opportunity_partner, deal_registration, permission_set, assignment,
               field_permissions, object_permissions]
    if bare:
        objects = [o for o in objects if not o.custom]
        for o in objects:
            for name in [n for n, f in o.fields.items() if f.custom]:
                del o.fields[name]
            o.__post_init__()
    return {o.name: o for o in objects}


def object_from_metadata(full_name: str, metadata: dict[str, Any], key_prefix: str) -> ObjectDef:
    """Turn a Tooling API ``CustomObject`` body into an ObjectDef with its system and name fields.

    Raises ValueError with the message the API would put in its error body.
    """
    if not full_name.endswith("__c") or "." in full_name or not full_name[:-3].replace("_", "a").isalnum():
        msg = f"Invalid FullName {full_name!r}: expected Object__c"
        raise ValueError(msg)
    label = str(metadata.get("label") or "")
    if not label or not metadata.get("pluralLabel"):
        msg = "Required fields are missing: [label, pluralLabel]"
        raise ValueError(msg)
    name_field = metadata.get("nameField") or {}
    if name_field.get("type") not in ("Text", "AutoNumber"):
        msg = "nameField: type must be Text or AutoNumber"
        raise ValueError(msg)
    text_name = name_field.get("type") == "Text"
    name = _text("Name", 80, label=str(name_field.get("label") or "Name"), createable=text_name, updateable=text_name)
    fields = [*_system_fields(False), name]
    return ObjectDef(full_name, label, key_prefix, {f.name: f for f in fields}, custom=True, secured=True,
                     hidden=True, can_create=False, can_edit=False, can_delete=False)


_DEVELOPER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")


def metadata_of(fdef: FieldDef) -> dict[str, Any]:
    """A field's Tooling ``CustomField.Metadata``, as ``GET tooling/sobjects/CustomField/{id}`` answers it."""
    kinds = {v: k for k, v in METADATA_TYPES.items() if k not in ("LongTextArea",)}
    kind = "LongTextArea" if fdef.type == "textarea" and fdef.length > 255 else kinds.get(fdef.type, "Text")
    out: dict[str, Any] = {"label": fdef.label or fdef.name.removesuffix("__c").replace("_", " "), "type": kind,
                           "required": fdef.required, "externalId": fdef.external_id, "unique": fdef.unique}
    if fdef.type in STRING_TYPES - {"picklist", "multipicklist"}:
        out["length"] = fdef.length
    if fdef.type in NUMBER_TYPES:
        out["precision"], out["scale"] = fdef.precision, fdef.scale
    if fdef.picklist:
        out["valueSet"] = {"restricted": True, "valueSetDefinition": {"sorted": False, "value": [
            {"fullName": v, "label": v, "default": False} for v in fdef.picklist]}}
    if fdef.reference_to:
        out["referenceTo"] = fdef.reference_to[0]
        out["relationshipName"] = (fdef.relationship_name or "").removesuffix("__r")
    return out


def field_from_metadata(full_name: str, metadata: dict[str, Any]) -> tuple[str, FieldDef]:
    """Turn a Tooling API ``CustomField`` body into (object, FieldDef).

    Raises ValueError with the message the API would put in its error body.
    """
    object_name, sep, field_name = full_name.partition(".")
    if not sep or not field_name.endswith("__c"):
        msg = f"Invalid FullName {full_name!r}: expected Object.Field__c"
        raise ValueError(msg)
    if not _DEVELOPER_NAME.match(field_name[:-3]) or len(field_name) - 3 > 40:
        msg = (
            f"Invalid field name {field_name}: a name starts with a letter, has at most 40 characters, "
            "and has no spaces, double underscores or trailing underscore"
        )
        raise ValueError(msg)
    meta_type = str(metadata.get("type", ""))
    sf_type = METADATA_TYPES.get(meta_type)
    if sf_type is None:
        msg = f"Unsupported field type {meta_type!r}; use one of {sorted(METADATA_TYPES)}"
        raise ValueError(msg)
    picklist: tuple[str, ...] = ()
    if sf_type in {"picklist", "multipicklist"}:
        value_set = metadata.get("valueSet", {}).get("valueSetDefinition", {}).get("value", [])
        picklist = tuple(str(v.get("fullName") or v.get("label")) for v in value_set)
    default_length = {"string": 255, "textarea": 32768, "email": 80, "url": 255, "phone": 40, "reference": 18}
    length = int(metadata.get("length") or default_length.get(sf_type, 0))
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    if sf_type == "reference":
        target = metadata.get("referenceTo")
        rel = str(metadata.get("relationshipName") or "")
        if not target or not rel:
            msg = "A Lookup field needs referenceTo and relationshipName"
            raise ValueError(msg)
        reference_to, relationship = (str(target),), rel + "__r"
    # Tooling API numbers: ``precision`` is every digit, ``scale`` those after the point
    precision, scale = int(metadata.get("precision") or 0), int(metadata.get("scale") or 0)
    if sf_type in NUMBER_TYPES and precision and not 0 <= scale <= precision <= 18:
        msg = f"Invalid precision {precision} and scale {scale}: precision is at most 18 and scale at most precision"
        raise ValueError(msg)
    return object_name, FieldDef(
        field_name,
        sf_type,
        label=str(metadata.get("label") or field_name),
        length=length,
        required=bool(metadata.get("required", False)),
        picklist=picklist,
        external_id=bool(metadata.get("externalId", False)),
        unique=bool(metadata.get("unique", False)),
        reference_to=reference_to,
        relationship_name=relationship,
        custom=True,
        precision=precision,
        scale=scale,
        secured=True,
        hidden=True,
    )
