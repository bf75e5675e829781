"""The remote objects and fields the default mappings rely on, per system.

Written from ``connectors/sandbox/README.md`` so that ``prm-sync validate``
can catch a misspelt remote field without reaching the system. When a system
is reachable the CLI passes a describe provider instead, and custom fields an
admin added are then accepted too.
"""

from __future__ import annotations

from connectors.base import FieldInfo
from connectors.lms import STATEMENT_FIELDS

TIERS_SF = ("Registered", "Silver", "Gold", "Platinum")
REG_STATUS_SF = ("Submitted", "Under Review", "Approved", "Rejected", "Returned", "Won", "Lost", "Expired")
REG_STATUS_HS = ("submitted", "under_review", "approved", "rejected", "returned", "won", "lost", "expired")
CONFLICT_SF = ("Clear", "Review", "Conflict")
CONFLICT_HS = ("clear", "review", "conflict")
TIERS_HS = ("registered", "silver", "gold", "platinum")


def _f(spec: str, type_: str = "string", *values: str, **kw: object) -> FieldInfo:
    return FieldInfo(name=spec, type=type_, picklist_values=list(values), **kw)  # type: ignore[arg-type]


def _sf_common() -> list[FieldInfo]:
    return [
        _f("Id", "id", updateable=False, unique=True),
        _f("CreatedDate", "datetime", updateable=False),
        _f("LastModifiedDate", "datetime", updateable=False),
        _f("SystemModstamp", "datetime", updateable=False),
        _f("IsDeleted", "boolean", updateable=False),
    ]


def _prm_id_sf() -> FieldInfo:
    return _f("PRM_Id__c", "string", length=40, external_id=True, unique=True)


SALESFORCE: dict[str, list[FieldInfo]] = {
    "Account": [
        *_sf_common(),
        _f("Name", "string", length=255, nillable=False, required_on_create=True),
        _f("Type", "picklist", "Customer", "Partner", "Prospect", "Other"),
        _f("Website", "url"),
        _f("Phone", "phone"),
        _f("BillingStreet", "textarea"),
        _f("BillingCity", "string"),
        _f("BillingCountry", "string"),
        _f("Industry", "picklist"),
        _f("IsPartner", "boolean"),
        _f("MasterRecordId", "reference", updateable=False),
        _prm_id_sf(),
        _f("Partner_Tier__c", "picklist", *TIERS_SF),
        _f("Partner_Status__c", "picklist", "Prospect", "Active", "Suspended", "Terminated"),
        _f(
            "Partner_Type__c",
            "picklist",
            "Reseller",
            "Distributor",
            "System Integrator",
            "MSP",
            "ISV",
            "Referral",
        ),
        _f("Territory__c", "string", length=80),
        _f("Domain__c", "string", length=255),
    ],
    "Contact": [
        *_sf_common(),
        _f("FirstName"),
        _f("LastName", "string", length=80, nillable=False, required_on_create=True),
        _f("Email", "email"),
        _f("Title"),
        _f("Phone", "phone"),
        _f("AccountId", "reference"),
        _prm_id_sf(),
    ],
    "Lead": [
        *_sf_common(),
        _f("FirstName"),
        _f("LastName", "string", nillable=False, required_on_create=True),
        _f("Company", "string", nillable=False, required_on_create=True),
        _f("Email", "email"),
        _f("Status", "picklist", "Open", "Working", "Converted", "Closed"),
    ],
    "Opportunity": [
        *_sf_common(),
        _f("Name", "string", length=120, nillable=False, required_on_create=True),
        _f(
            "StageName",
            "picklist",
            "Prospecting",
            "Qualification",
            "Proposal",
            "Negotiation",
            "Closed Won",
            "Closed Lost",
            nillable=False,
            required_on_create=True,
        ),
        _f("CloseDate", "date", nillable=False, required_on_create=True),
        _f("Amount", "currency"),
        _f("AccountId", "reference"),
        _f("IsClosed", "boolean", updateable=False),
        _f("IsWon", "boolean", updateable=False),
        _prm_id_sf(),
        _f("Registered_Partner__c", "reference"),
        _f("Registration_Status__c", "picklist", *REG_STATUS_SF),
        _f("Protection_Expires__c", "datetime"),
        _f("Partner_Tier__c", "picklist", *TIERS_SF),
        _f("Deal_Registration__c", "reference"),
        _f("Attribution_Summary__c", "string", length=255),
        _f("Conflict_Status__c", "picklist", *CONFLICT_SF),
    ],
    "OpportunityPartner": [
        *_sf_common(),
        _f("OpportunityId", "reference"),
        _f("AccountToId", "reference"),
        _f("Role", "picklist", "Reseller", "Distributor", "System Integrator", "Referral", "Influencer"),
        _f("IsPrimary", "boolean"),
    ],
    "Deal_Registration__c": [
        *_sf_common(),
        _f("Name", "string", length=80),
        _prm_id_sf(),
        _f("Partner__c", "reference"),
        _f("End_Customer__c", "reference"),
        _f("Customer_Name__c", "string", length=255, nillable=False, required_on_create=True),
        _f("Customer_Domain__c", "string", length=255),
        _f("Product_Lines__c", "multipicklist", "Platform", "Analytics", "Security", "Services"),
        _f("Amount__c", "currency"),
        _f("Status__c", "picklist", "Draft", *REG_STATUS_SF),
        _f("Submitted_At__c", "datetime"),
        _f("Approved_At__c", "datetime"),
        _f("Expires_At__c", "datetime"),
        _f("Opportunity__c", "reference"),
        _f("Conflict_Decision__c", "picklist", *CONFLICT_SF),
        _f("Conflict_Score__c", "double"),
        _f("Conflict_Reason__c", "textarea", length=32768),
    ],
}


def _hs_common() -> list[FieldInfo]:
    return [
        _f("hs_object_id", "number", updateable=False, unique=True),
        _f("createdate", "datetime", updateable=False),
        _f("hs_lastmodifieddate", "datetime", updateable=False),
        _f("hs_merged_object_ids", "enumeration", updateable=False),
        _f("prm_id", "string", unique=True),
    ]


_DEAL_REGISTRATIONS = [
    *_hs_common(),
    _f("customer_name"),
    _f("customer_domain"),
    _f("partner_prm_id"),
    _f("product_lines", "enumeration", "platform", "analytics", "security", "services"),
    _f("amount", "number"),
    _f("status", "enumeration", "draft", *REG_STATUS_HS),
    _f("submitted_at", "datetime"),
    _f("approved_at", "datetime"),
    _f("expires_at", "datetime"),
    _f("conflict_decision", "enumeration", *CONFLICT_HS),
    _f("conflict_score", "number"),
    _f("conflict_reason"),
]

HUBSPOT: dict[str, list[FieldInfo]] = {
    "companies": [
        *_hs_common(),
        *(_f(n) for n in ("name", "domain", "website", "phone", "city", "country", "industry")),
        _f("lifecyclestage", "enumeration"),
        _f("is_partner", "bool"),
        _f("partner_tier", "enumeration", *TIERS_HS),
        _f("partner_status", "enumeration", "prospect", "active", "suspended", "terminated"),
        _f(
            "partner_type",
            "enumeration",
            "reseller",
            "distributor",
            "system_integrator",
            "msp",
            "isv",
            "referral",
        ),
        _f("territory"),
    ],
    "contacts": [
        *_hs_common(),
        _f("email", "string", unique=True),
        *(_f(n) for n in ("firstname", "lastname", "jobtitle", "phone", "company")),
    ],
    "deals": [
        *_hs_common(),
        _f("dealname"),
        _f("amount", "number"),
        _f(
            "dealstage",
            "enumeration",
            "appointmentscheduled",
            "qualifiedtobuy",
            "presentationscheduled",
            "decisionmakerboughtin",
            "contractsent",
            "closedwon",
            "closedlost",
        ),
        _f("pipeline", "enumeration", "default"),
        _f("closedate", "datetime"),
        _f("hs_is_closed_won", "bool", updateable=False),
        _f("hs_is_closed", "bool", updateable=False),
        _f("registered_partner_id"),
        _f("registered_partner_name"),
        _f("registration_status", "enumeration", *REG_STATUS_HS),
        _f("protection_expires", "datetime"),
        _f("partner_tier", "enumeration", *TIERS_HS),
        _f("attribution_summary"),
        _f("conflict_status", "enumeration", *CONFLICT_HS),
        _f("associations.companies", "reference", updateable=False),  # read by a v4 batch read, not a property
    ],
    # the custom object answers to its fully qualified name and to its objectTypeId
    "p_deal_registrations": _DEAL_REGISTRATIONS,
    "2-9000001": _DEAL_REGISTRATIONS,
}

# xAPI statements exactly as the LMS connector flattens them (one source of truth: its describe)
LMS: dict[str, list[FieldInfo]] = {
    "statements": [_f("id", "id", unique=True), *STATEMENT_FIELDS],
}


def _odoo_common() -> list[FieldInfo]:
    return [
        _f("id", "integer", updateable=False, unique=True),
        _f("write_date", "datetime", updateable=False),
    ]


ERP: dict[str, list[FieldInfo]] = {
    "res.partner": [
        *_odoo_common(),
        _f("name", "char", nillable=False, required_on_create=True),
        _f("ref", "char"),
        _f("email", "char"),
        _f("is_company", "boolean"),
        _f("x_prm_id", "char", external_id=True, unique=True),
    ],
    "account.move": [
        *_odoo_common(),
        _f("name", "char"),
        _f("ref", "char"),
        _f("move_type", "selection", "out_invoice", "out_refund", "in_invoice", "in_refund", "entry"),
        _f("partner_id", "many2one"),
        _f("x_opportunity_ref", "char"),
        _f("x_prm_id", "char", external_id=True, unique=True),
        _f("amount_total", "monetary"),
        _f("amount_residual", "monetary"),
        _f("currency_id", "many2one"),
        _f("state", "selection", "draft", "posted", "cancel"),
        _f("payment_state", "selection", "not_paid", "in_payment", "paid", "partial", "reversed"),
        _f("invoice_date", "date"),
        _f("reversed_entry_id", "many2one"),
    ],
    "account.payment": [
        *_odoo_common(),
        _f("amount", "monetary"),
        _f("payment_type", "selection", "inbound", "outbound"),
        _f("partner_type", "selection", "customer", "supplier"),
        _f("partner_id", "many2one"),
        _f("date", "date"),
        _f("x_invoice_ids", "many2many"),
        _f("state", "selection", "draft", "posted", "cancel"),
    ],
}

def _with_display_names(objects: dict[str, list[FieldInfo]]) -> dict[str, list[FieldInfo]]:
    """The ERP connector reads a many2one ``[id, name]`` as ``field`` (id) and ``field_name``."""
    return {
        name: fields + [_f(f"{f.name}_name", "char", updateable=False) for f in fields if f.type == "many2one"]
        for name, fields in objects.items()
    }


ERP = _with_display_names(ERP)

KNOWN_FIELDS: dict[str, dict[str, list[FieldInfo]]] = {
    "salesforce": SALESFORCE,
    "hubspot": HUBSPOT,
    "lms": LMS,
    "erp": ERP,
}

# the field a `remote_id: true` match keys on, per system
REMOTE_ID_FIELD: dict[str, str] = {"salesforce": "Id", "hubspot": "hs_object_id", "lms": "id", "erp": "id"}


def known_objects(system: str) -> list[str]:
    return sorted(KNOWN_FIELDS.get(system, {}))


def known_fields(system: str, remote_object: str) -> list[FieldInfo] | None:
    """The static field list of an object, or None when the object is not known."""
    return KNOWN_FIELDS.get(system, {}).get(remote_object)
