"""What the demo's runs changed where people look: read back from the CRMs and the ERP.

A run report counts decisions; a channel team wants to see their effect in
the systems it works in. This module reads the partners' tiers, the
protected and attributed opportunities and the payout documents back
**through the connectors** (the same reads a sync makes, so what it shows is
what Salesforce, HubSpot and Odoo hold), and explains tier changes with the
reasons the rules recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from connectors.base import RemoteRecord
from prm_sync.model import Partner
from prm_sync.rules.certifications import TIER_ORDER
from prm_sync.runtime import Runtime
from prm_sync.store import records
from prm_sync.store.orm import AuditLogRow

EXAMPLES = 3
ZERO = Decimal("0")


class TierChange(BaseModel):
    partner_id: str
    name: str
    before: str
    after: str
    salesforce: str | None = None  # Partner_Tier__c as Salesforce holds it now
    hubspot: str | None = None  # partner_tier as HubSpot holds it now
    reason: str


class Tiers(BaseModel):
    promoted: int = 0
    demoted: int = 0
    in_grace: int = 0  # qualify for less, keep their tier until the grace period ends
    crms_agree: int = 0  # partners whose tier reads the same in the PRM and in every CRM
    partners: int = 0
    examples: list[TierChange] = Field(default_factory=list)


class Deals(BaseModel):
    salesforce: int = 0
    hubspot: int = 0
    examples: list[dict[str, Any]] = Field(default_factory=list)


class Payouts(BaseModel):
    bills: int = 0
    owed: Decimal = ZERO  # unpaid bills
    paid: Decimal = ZERO
    credit_notes: int = 0
    clawed_back: Decimal = ZERO
    examples: list[dict[str, Any]] = Field(default_factory=list)


class Outcomes(BaseModel):
    tiers: Tiers = Field(default_factory=Tiers)
    protected: Deals = Field(default_factory=Deals)  # open deals showing an approved registration's partner
    attributed: Deals = Field(default_factory=Deals)  # won deals showing who sourced them
    payouts: Payouts = Field(default_factory=Payouts)
    learners: dict[str, Any] = Field(default_factory=dict)


def _read(runtime: Runtime, system: str, obj: str, fields: list[str], where: Any) -> list[RemoteRecord]:
    connectors = runtime.connectors()
    if system not in connectors:
        return []
    return list(connectors[system].read_all(obj, fields, where=where))


def _tier_decisions(runtime: Runtime, run_ids: list[str]) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """(partner id, fields before, fields after, reason) of every tier decision the runs made, in order."""
    with runtime.store.session(readonly=True) as session:
        rows = session.execute(
            select(AuditLogRow.record_id, AuditLogRow.fields_before, AuditLogRow.fields_after, AuditLogRow.reason)
            .where(AuditLogRow.action == "partner.tier", AuditLogRow.run_id.in_(run_ids))
            .order_by(AuditLogRow.id)
        ).all()
    return [(rid or "", before or {}, after or {}, reason or "") for rid, before, after, reason in rows]


def tiers(runtime: Runtime, run_ids: list[str]) -> Tiers:
    with runtime.store.session(readonly=True) as session:
        partners = {p.id: p for p in records.list_records(session, Partner.entity) if isinstance(p, Partner)}
    salesforce = {str(r.fields.get("PRM_Id__c")): r.fields.get("Partner_Tier__c") for r in _read(
        runtime, "salesforce", "Account", ["PRM_Id__c", "Partner_Tier__c"], "IsPartner = true")}
    hubspot = {str(r.fields.get("prm_id")): r.fields.get("partner_tier") for r in _read(
        runtime, "hubspot", "companies", ["prm_id", "partner_tier"], "is_partner = true")}
    out = Tiers(partners=len(partners))
    for pid, partner in partners.items():
        seen = [v.lower() for v in (salesforce.get(pid), hubspot.get(pid)) if v is not None]
        out.crms_agree += bool(seen) and all(v == partner.tier for v in seen)
        out.in_grace += partner.tier_grace_until is not None
    rank = {tier.value: i for i, tier in enumerate(TIER_ORDER)}
    graced = 0
    for pid, before, after, reason in _tier_decisions(runtime, run_ids):
        partner = partners.get(pid)
        old, new = before.get("tier"), after.get("tier")
        if old and new and old != new:
            up = rank.get(new, 0) > rank.get(old, 0)
            out.promoted += up
            out.demoted += not up
            show = len(out.examples) < EXAMPLES or (not up and out.demoted <= EXAMPLES)
        elif after.get("tier_grace_until") and partner is not None:  # qualifies for less: grace starts
            old = new = partner.tier
            graced += 1
            show = graced <= 2
        else:
            continue
        if show:
            out.examples.append(TierChange(partner_id=pid, name=partner.name if partner else pid, before=old,
                                           after=new, salesforce=salesforce.get(pid), hubspot=hubspot.get(pid),
                                           reason=reason))
    return out


def _deals(rows: Iterable[tuple[str, dict[str, Any]]], count: dict[str, int]) -> Deals:
    deals = Deals(**count)
    deals.examples = [{"system": system, **fields} for system, fields in rows][:EXAMPLES]
    return deals


def protected_and_attributed(runtime: Runtime) -> tuple[Deals, Deals]:
    """Opportunities and deals carrying a registered partner (open: protected) or an attribution (won)."""
    sf = _read(runtime, "salesforce", "Opportunity",
               ["Name", "IsClosed", "Registered_Partner__c", "Registration_Status__c", "Protection_Expires__c",
                "Attribution_Summary__c"], "Registered_Partner__c != null")
    hs = _read(runtime, "hubspot", "deals",
               ["dealname", "hs_is_closed", "registered_partner_id", "registration_status", "protection_expires",
                "attribution_summary"], "registered_partner_id is set")
    sf_open = [r.fields for r in sf if not r.fields.get("IsClosed")]
    hs_open = [r.fields for r in hs if str(r.fields.get("hs_is_closed")).lower() != "true"]
    sf_won = [r.fields for r in sf if r.fields.get("Attribution_Summary__c")]
    hs_won = [r.fields for r in hs if r.fields.get("attribution_summary")]
    protected = _deals(
        [("salesforce", {"deal": f["Name"], "status": f["Registration_Status__c"],
                         "protected_until": f["Protection_Expires__c"]}) for f in sf_open]
        + [("hubspot", {"deal": f["dealname"], "status": f["registration_status"],
                        "protected_until": f["protection_expires"]}) for f in hs_open],
        {"salesforce": len(sf_open), "hubspot": len(hs_open)})
    attributed = _deals(
        [("salesforce", {"deal": f["Name"], "attribution": f["Attribution_Summary__c"]}) for f in sf_won]
        + [("hubspot", {"deal": f["dealname"], "attribution": f["attribution_summary"]}) for f in hs_won],
        {"salesforce": len(sf_won), "hubspot": len(hs_won)})
    return protected, attributed


def payouts(runtime: Runtime) -> Payouts:
    """Vendor bills and credit notes prm-sync wrote to the ERP, with what Odoo says about their payment."""
    moves = _read(runtime, "erp", "account.move",
                  ["move_type", "partner_id_name", "ref", "amount_total", "payment_state", "x_prm_id"],
                  [["move_type", "in", ["in_invoice", "in_refund"]], ["x_prm_id", "!=", False]])
    out = Payouts()
    for move in moves:
        f = move.fields
        amount = Decimal(str(f.get("amount_total") or 0)).quantize(Decimal("0.01"))
        if f.get("move_type") == "in_refund":
            out.credit_notes += 1
            out.clawed_back += amount
        else:
            out.bills += 1
            if f.get("payment_state") == "paid":
                out.paid += amount
            else:
                out.owed += amount
        if len(out.examples) < EXAMPLES or f.get("move_type") == "in_refund":
            out.examples.append({"document": "credit note" if f.get("move_type") == "in_refund" else "bill",
                                 "partner": f.get("partner_id_name"), "period": f.get("ref"),
                                 "amount": str(amount), "payment_state": f.get("payment_state")})
    return out


def read_outcomes(runtime: Runtime, run_ids: list[str], learners: dict[str, Any]) -> Outcomes:
    protected, attributed = protected_and_attributed(runtime)
    return Outcomes(tiers=tiers(runtime, run_ids), protected=protected, attributed=attributed,
                    payouts=payouts(runtime), learners=learners)


def _day(value: Any) -> str:
    """A CRM timestamp as people read a date (``2026-12-18T18:00:00.000+0000`` -> ``2026-12-18``)."""
    return str(value)[:10] if value else "-"


def outcome_lines(outcomes: Outcomes) -> list[str]:
    """The summary people read, a few lines per outcome, with an example or three."""
    t, p, a, pay, lrn = outcomes.tiers, outcomes.protected, outcomes.attributed, outcomes.payouts, outcomes.learners
    lines = [f"partners: {t.promoted} promoted, {t.demoted} demoted, {t.in_grace} in demotion grace; "
             f"Salesforce and HubSpot show the PRM's tier for {t.crms_agree} of {t.partners}"]
    lines += [f"  {c.name}: {c.before} -> {c.after} (Salesforce {c.salesforce}, HubSpot {c.hubspot}): {c.reason}"
              if c.before != c.after else
              f"  {c.name}: stays {c.after} for now (Salesforce {c.salesforce}, HubSpot {c.hubspot}): {c.reason}"
              for c in t.examples]
    lines.append(f"registrations protecting open deals: Salesforce {p.salesforce} opportunities, HubSpot {p.hubspot} deals")
    lines += [f"  {e['system']} {e['deal']}: {e['status']}, protected until {_day(e['protected_until'])}"
              for e in p.examples]
    lines.append(f"won deals attributed: Salesforce {a.salesforce} opportunities, HubSpot {a.hubspot} deals")
    lines += [f"  {e['system']} {e['deal']}: {e['attribution']}" for e in a.examples]
    lines.append(f"payouts in the ERP: {pay.bills} bills (owed {pay.owed:,.2f}, paid {pay.paid:,.2f}), "
                 f"{pay.credit_notes} clawback credit notes ({pay.clawed_back:,.2f})")
    lines += [f"  {e['document']} for {e['partner']} ({e['period']}): {float(e['amount']):,.2f}, "
              f"{str(e['payment_state']).replace('_', ' ')}"
              for e in pay.examples]
    if lrn:
        lines.append(f"learners: {lrn['credited_to_their_partner']} of {lrn['by_partner_contacts']} completions by "
                     f"partner contacts credited to that contact's partner ({lrn['share_pct']} %)")
    return lines
