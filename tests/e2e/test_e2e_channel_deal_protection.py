"""Issue 6 end to end: two partners, one customer, protection on the open deal, payout on cash.

Through the strict sandboxes and the real connectors, with hand-made records
and a frozen clock per sync (protection windows and payout periods depend on
it). The story, in order:

1. Alpha and Beta register Acme Robotics (same domain, Beta a day later):
   Beta's is flagged ``conflict`` on the registration in Salesforce and
   HubSpot; the reason naming Alpha's registration stays in the PRM store.
2. The channel manager approves Alpha's through the lifecycle; another one
   (Globex) is approved in Salesforce itself, and an illegal move typed in
   HubSpot is undone with a recorded reason.
3. Reps open deals: after a sync, the earliest Acme deal shows Alpha, the
   status and the protection expiry in Salesforce, and a HubSpot deal shows
   its registered partner too.
4. The deal closes won: closure and attribution exist, but no payout until
   the ERP invoice is paid; a later refund becomes a clawback, written to the
   ERP as a vendor credit note that finance nets against the next bill.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox_fixtures.cluster import MakeSyncEnv, SyncEnv

from prm_sync.model import DealRegistration, Partner, Payout
from prm_sync.rules.actions import apply_action
from prm_sync.store import records
from prm_sync.store.audit import query_audit
from prm_sync.store.conflicts import latest_conflict_check
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.stats import RunReport

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SYSTEMS = ("salesforce", "hubspot", "erp")


def sync(env: SyncEnv, at: datetime) -> RunReport:
    report = env.runtime.engine(list(SYSTEMS), clock=lambda: at).run(SyncScope(), trigger="cli")
    failed = [f for s in report.slices for f in s.failures]
    assert report.status == "succeeded" and not failed, failed
    return report


def one(rows: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    found = [r for r in rows if match(r)]
    assert len(found) == 1, found
    return found[0]


def seed(env: SyncEnv) -> dict[str, str]:
    sf: Any = env.apps["salesforce"]
    acme, globex = sf.insert_records("Account", [
        {"Name": "Acme Robotics Inc", "Type": "Prospect", "Website": "https://www.acmerobotics.com/", "BillingCountry": "US"},
        {"Name": "Globex Corporation", "Type": "Prospect", "Website": "https://globex.com", "BillingCountry": "US"},
    ])
    with env.runtime.store.session() as session:
        records.save_records(session, [
            Partner(id="ptn_alpha", name="Alpha Integrators"),
            Partner(id="ptn_beta", name="Beta Solutions"),
            DealRegistration(id="reg_first", partner_id="ptn_alpha", customer_name="Acme Robotics",
                             customer_domain="acmerobotics.com", customer_country="US", product_lines=["platform"],
                             amount=Decimal("100000"), submitted_at=T0 - timedelta(days=2)),
            DealRegistration(id="reg_second", partner_id="ptn_beta", customer_name="ACME Robotics LLC",
                             contact_email="buyer@acmerobotics.com", customer_country="US", product_lines=["platform"],
                             submitted_at=T0 - timedelta(days=1)),
            DealRegistration(id="reg_globex", partner_id="ptn_alpha", customer_name="Globex Corp",
                             customer_domain="globex.com", customer_country="US", product_lines=["analytics"],
                             submitted_at=T0 - timedelta(days=3)),
            DealRegistration(id="reg_initech", partner_id="ptn_beta", customer_name="Initech Inc",
                             product_lines=["security"], submitted_at=T0 - timedelta(days=4)),
        ])
    return {"acme": acme, "globex": globex}


def registration_in_crms(env: SyncEnv, reg_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sf: Any = env.apps["salesforce"]
    hs: Any = env.apps["hubspot"]
    return (one(sf.all_records("Deal_Registration__c"), lambda r: r["PRM_Id__c"] == reg_id),
            one(hs.all_records("p_deal_registrations"), lambda r: r.get("prm_id") == reg_id))


def bill_and_pay(erp: Any, opportunity_id: str, amount: float, day: datetime) -> int:
    customer = erp.insert_records("res.partner", [{"name": "Customer", "is_company": True}])[0]
    return erp.insert_records("account.move", [{
        "move_type": "out_invoice", "partner_id": customer, "x_opportunity_ref": opportunity_id,
        "amount_total": amount, "invoice_date": day.date().isoformat(), "state": "posted",
    }])[0]


def prm_opportunity_id(env: SyncEnv, salesforce_id: str) -> str:
    with env.runtime.store.session(readonly=True) as session:
        return next(o.id for o in records.list_records(session, "opportunity") if o.external_ids.get("salesforce") == salesforce_id)


def payouts(env: SyncEnv) -> dict[str, Payout]:
    with env.runtime.store.session(readonly=True) as session:
        return {p.period: p for p in records.list_records(session, Payout.entity) if isinstance(p, Payout)}


def test_channel_story_from_conflict_to_clawback(make_sync_env: MakeSyncEnv) -> None:
    env = make_sync_env(systems=SYSTEMS, seed_data=False)
    sf: Any = env.apps["salesforce"]
    hs: Any = env.apps["hubspot"]
    erp: Any = env.apps["erp"]
    accounts = seed(env)

    # 1. the second registrant is flagged in either CRM; why (whose registration) is for the channel manager
    first = sync(env, T0)
    assert first.rule_decisions == {"clear": 3, "conflict": 1}
    sf_second, hs_second = registration_in_crms(env, "reg_second")
    assert sf_second["Conflict_Decision__c"] == "Conflict" and sf_second["Status__c"] == "Under Review"
    assert sf_second["Conflict_Reason__c"].startswith("conflict: customer already registered")
    assert float(sf_second["Conflict_Score__c"]) == 100.0
    assert hs_second["conflict_decision"] == "conflict" and hs_second["status"] == "under_review"
    assert hs_second["conflict_reason"] == sf_second["Conflict_Reason__c"]
    with env.runtime.store.session(readonly=True) as session:
        check = latest_conflict_check(session, "reg_second")
    assert check is not None and "same domain acmerobotics.com as registration reg_first by partner ptn_alpha" in check.reasons[0]
    assert registration_in_crms(env, "reg_first")[0]["Conflict_Decision__c"] == "Clear"

    # 2. approvals: one by the channel manager through the lifecycle, one typed in Salesforce;
    #    an illegal move typed in HubSpot is undone
    approved_at = T0 + timedelta(hours=1)
    with env.runtime.store.session() as session:
        for reg_id in ("reg_first", "reg_initech"):
            apply_action(session, "approve", reg_id, actor="cm@vendor.example", reason="first to register",
                         now=approved_at, rules=env.config.rules)
    sf_globex, _ = registration_in_crms(env, "reg_globex")
    sf.update_record("Deal_Registration__c", sf_globex["Id"], {"Status__c": "Approved"})
    hs.update_record("p_deal_registrations", registration_in_crms(env, "reg_second")[1]["hs_object_id"], {"status": "won"})

    # 3. the rep opens deals; the earliest Acme deal gets Alpha's protection
    acme_first, acme_later, globex_deal = sf.insert_records("Opportunity", [
        {"Name": "Acme Robotics - Platform", "StageName": "Qualification", "CloseDate": "2027-01-15",
         "Amount": 100000, "AccountId": accounts["acme"]},
        {"Name": "Acme Robotics - Services", "StageName": "Prospecting", "CloseDate": "2027-03-01",
         "Amount": 20000, "AccountId": accounts["acme"]},
        {"Name": "Globex - Analytics", "StageName": "Prospecting", "CloseDate": "2027-01-20",
         "Amount": 50000, "AccountId": accounts["globex"]},
    ])
    [initech_deal] = hs.insert_records("deals", [{"dealname": "Initech LLC - Security", "dealstage": "qualifiedtobuy",
                                                  "pipeline": "default", "closedate": "2027-02-01T00:00:00Z",
                                                  "amount": "30000"}])
    second_at = T0 + timedelta(hours=2)
    second = sync(env, second_at)
    # reg_second was pulled (the HubSpot edit), so its conflict check ran again: still a conflict
    assert second.rule_decisions == {"crm_approved": 1, "transition_rejected": 1, "linked": 3, "conflict": 1}
    alpha = one(sf.all_records("Account"), lambda a: a.get("PRM_Id__c") == "ptn_alpha")
    opp = sf.get_record("Opportunity", acme_first)
    assert opp["Registered_Partner__c"] == alpha["Id"]
    assert opp["Registration_Status__c"] == "Approved" and opp["Partner_Tier__c"] == "Registered"
    assert opp["Deal_Registration__c"] == registration_in_crms(env, "reg_first")[0]["Id"]
    assert opp["Conflict_Status__c"] == "Clear"
    assert opp["Protection_Expires__c"].startswith((approved_at + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"))
    assert sf.get_record("Opportunity", acme_later)["Registered_Partner__c"] is None
    assert registration_in_crms(env, "reg_first")[0]["Opportunity__c"] == acme_first
    # the Salesforce approval went through the lifecycle: the window runs from when the PRM saw it
    sf_globex = registration_in_crms(env, "reg_globex")[0]
    assert sf_globex["Expires_At__c"].startswith((second_at + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"))
    assert sf.get_record("Opportunity", globex_deal)["Registration_Status__c"] == "Approved"
    # a HubSpot deal (its company association is not read) is matched on the customer part of its name
    deal = hs.get_record("deals", initech_deal)
    assert (deal["registered_partner_id"], deal["registration_status"]) == ("ptn_beta", "approved")
    assert deal["protection_expires"].startswith((approved_at + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"))
    # the illegal HubSpot move is pushed back, with the reason in the audit log
    assert registration_in_crms(env, "reg_second")[1]["status"] == "under_review"
    with env.runtime.store.session(readonly=True) as session:
        [rejected] = [e for e in query_audit(session, record_id="reg_second") if e.action == "registration.transition_rejected"]
    assert "cannot move from under_review to won" in (rejected.reason or "")
    acme_opp_id = prm_opportunity_id(env, acme_first)

    # 4. closed won: attribution now, payout only on cash
    sf.update_record("Opportunity", acme_first, {"StageName": "Closed Won", "CloseDate": "2026-11-03"})
    third = sync(env, T0 + timedelta(days=1))
    assert third.rule_decisions.get("attributed") == 1
    closed = sf.get_record("Opportunity", acme_first)
    assert closed["Registration_Status__c"] == "Won"
    assert closed["Attribution_Summary__c"] == "Sourced: Alpha Integrators (10%)"
    with env.runtime.store.session(readonly=True) as session:
        [attribution] = records.list_records(session, "attribution")
        assert records.get_record(session, "closure", attribution.closure_id) is not None  # type: ignore[attr-defined]
    assert attribution.amount == Decimal("10000.00") and attribution.partner_id == "ptn_alpha"  # type: ignore[attr-defined]

    invoice = bill_and_pay(erp, acme_opp_id, 100000.0, T0 + timedelta(days=1))
    sync(env, T0 + timedelta(days=2))
    assert payouts(env) == {}  # invoiced, not paid: nothing earned yet

    erp.register_payment(invoice, 100000.0, (T0 + timedelta(days=3)).date().isoformat())
    paid = sync(env, T0 + timedelta(days=3))
    assert paid.rule_decisions.get("payouts") == 1
    november = payouts(env)["2026-11"]
    assert (november.amount, november.clawback) == (Decimal("10000.00"), Decimal("0"))
    bill = one(erp.all_records("account.move"), lambda m: m.get("x_prm_id") == november.id)
    assert bill["move_type"] == "in_invoice" and float(bill["amount_total"]) == 10000.0

    # a refund in December: booked as Odoo does (credit memo + outbound payment), clawed back
    december_day = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    erp.credit_memo(invoice, 20000.0, december_day.date().isoformat())
    erp.refund(invoice, 20000.0, december_day.date().isoformat())
    sync(env, december_day)
    after_refund = payouts(env)
    assert after_refund["2026-11"].amount == Decimal("10000.00")  # never rewritten
    assert (after_refund["2026-12"].amount, after_refund["2026-12"].clawback) == (Decimal("0"), Decimal("2000.00"))
    credit_note = one(erp.all_records("account.move"), lambda m: m.get("x_prm_id") == after_refund["2026-12"].id)
    assert credit_note["move_type"] == "in_refund" and float(credit_note["amount_total"]) == 2000.0

    # the next earning is billed in full: finance nets December's open credit note against it
    january_day = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
    sf.update_record("Opportunity", globex_deal, {"StageName": "Closed Won", "CloseDate": "2027-01-04"})
    sync(env, january_day)
    globex_invoice = bill_and_pay(erp, prm_opportunity_id(env, globex_deal), 50000.0, january_day)
    erp.register_payment(globex_invoice, 50000.0, january_day.date().isoformat())
    sync(env, january_day + timedelta(hours=1))
    january = payouts(env)["2027-01"]
    assert (january.kind, january.amount, january.clawback) == ("bill", Decimal("5000.00"), Decimal("0"))
