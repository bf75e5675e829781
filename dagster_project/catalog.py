"""Which assets exist: one per (system, entity) slice the shipped mappings sync, plus the PRM-side results.

The catalog is static on purpose: definitions must load even when a mapping
file is broken (the ``mappings_valid`` check is what reports it, and blocks
every sync), so the asset graph cannot come from compiling the mappings.
``tests/dagster/test_dagster_definitions.py`` keeps it equal to the slices
the engine derives from ``mappings/``.

Dependencies follow the data: partners before the records that reference
them, registrations before the opportunity write-back, closed opportunities
before attributions, attributions and paid invoices before payouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetKey

SYSTEMS = ("salesforce", "hubspot", "lms", "erp")
CRMS = ("salesforce", "hubspot")

# asset name per entity; a system's own word wins where it has one (HubSpot calls them deals)
ENTITY_NAMES = {
    "partner": "partners",
    "partner_contact": "partner_contacts",
    "end_customer": "end_customers",
    "deal_registration": "deal_registrations",
    "opportunity": "opportunities",
    "course_completion": "course_completions",
    "invoice": "invoices",
    "payment": "payments",
    "payout": "payouts",
}
SYSTEM_NAMES = {("hubspot", "opportunity"): "deals"}

MAPPINGS_KEY = AssetKey(["prm", "mappings"])
ATTRIBUTIONS_KEY = AssetKey(["prm", "attributions"])
PRM_PAYOUTS_KEY = AssetKey(["prm", "payouts"])
HEALTH_KEY = AssetKey(["prm", "sync_health"])  # the health view: every slice's status in one place
FAILURES_KEY = AssetKey(["prm", "failed_records"])  # open failed records by cause, with replay links

# upstream entities; looked up in the same system first, else in every system that has them
ENTITY_DEPS: dict[str, tuple[str, ...]] = {
    "partner_contact": ("partner",),
    "deal_registration": ("partner", "end_customer", "course_completion"),
    "opportunity": ("end_customer", "deal_registration"),
    "invoice": ("opportunity",),
    "payment": ("invoice",),
    "payout": ("partner",),
}


@dataclass(frozen=True)
class SliceAsset:
    """One sync slice as an asset: ``salesforce/partners`` runs the engine for (salesforce, partner)."""

    system: str
    entity: str
    remote_object: str
    description: str
    extra_deps: tuple[AssetKey, ...] = field(default=())

    @property
    def name(self) -> str:
        return SYSTEM_NAMES.get((self.system, self.entity), ENTITY_NAMES[self.entity])

    @property
    def key(self) -> AssetKey:
        return AssetKey([self.system, self.name])

    @property
    def pool(self) -> str:
        return f"{self.system}_api"


SLICES: tuple[SliceAsset, ...] = (
    SliceAsset("salesforce", "partner", "Account", "Partner accounts, both ways (upserted by PRM_Id__c)."),
    SliceAsset("salesforce", "partner_contact", "Contact", "Partner people, both ways."),
    SliceAsset("salesforce", "end_customer", "Account", "Customer accounts read from Salesforce."),
    SliceAsset("salesforce", "deal_registration", "Deal_Registration__c", "Deal registrations, both ways."),
    SliceAsset("salesforce", "opportunity", "Opportunity", "Opportunities read; registration state written back."),
    SliceAsset("hubspot", "partner", "companies", "Partner companies, both ways (upserted by prm_id)."),
    SliceAsset("hubspot", "partner_contact", "contacts", "Partner people, both ways."),
    SliceAsset("hubspot", "end_customer", "companies", "Customer companies read from HubSpot."),
    SliceAsset("hubspot", "deal_registration", "p_deal_registrations", "Deal registrations, both ways."),
    SliceAsset("hubspot", "opportunity", "deals", "Deals read; registration state written back."),
    SliceAsset("lms", "course_completion", "statements", "xAPI completions: certifications and the registration gate."),
    SliceAsset("erp", "partner", "res.partner", "Partners as ERP vendors, for payout bills."),
    SliceAsset("erp", "invoice", "account.move", "Customer invoices read from the ERP."),
    SliceAsset("erp", "payment", "account.payment", "Payments and refunds: commission accrues as invoices are paid."),
    SliceAsset("erp", "payout", "account.move", "Payouts pushed to the ERP as vendor bills.", (PRM_PAYOUTS_KEY,)),
)


def enabled_slices(systems: list[str]) -> list[SliceAsset]:
    return [s for s in SLICES if s.system in systems]


def slice_deps(item: SliceAsset, present: list[SliceAsset]) -> list[AssetKey]:
    """Upstream assets of a slice among those defined (disabled systems drop out of the graph)."""
    keys: list[AssetKey] = [MAPPINGS_KEY]
    for upstream in ENTITY_DEPS.get(item.entity, ()):
        same = [s for s in present if s.entity == upstream and s.system == item.system]
        keys.extend(s.key for s in same or [s for s in present if s.entity == upstream])
    keys.extend(item.extra_deps)
    return list(dict.fromkeys(keys))


def slice_for(system: str, entity: str) -> SliceAsset | None:
    return next((s for s in SLICES if s.system == system and s.entity == entity), None)


def keys_for(present: list[SliceAsset], entity: str) -> list[AssetKey]:
    return [s.key for s in present if s.entity == entity]
