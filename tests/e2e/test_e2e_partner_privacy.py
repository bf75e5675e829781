"""Issue 21 item 5: what a partner can read on its registration names no other partner.

Registrations are what partners see in a partner portal or community, in
Salesforce and HubSpot alike. Three partners register customers that are
already claimed (another partner's earlier registration, the vendor's own open
deal, a near name); after one sync, every conflict text read back from both
CRMs through the sandboxes must say what happens next and nothing about who
else registered, when, or which deal matched. The full reason stays in the
PRM store for the channel manager.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox_fixtures.cluster import MakeSyncEnv

from prm_sync.model import DealRegistration, Partner
from prm_sync.store import records
from prm_sync.store.conflicts import latest_conflict_check
from prm_sync.sync.engine import SyncScope

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PARTNERS = {"ptn_alpha": "Alpha Integrators", "ptn_beta": "Beta Solutions", "ptn_gamma": "Gamma Resellers"}


def test_partner_visible_conflict_text_names_no_other_partner(make_sync_env: MakeSyncEnv) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"), seed_data=False)
    sf: Any = env.apps["salesforce"]
    hs: Any = env.apps["hubspot"]
    [globex] = sf.insert_records("Account", [
        {"Name": "Globex Corporation", "Type": "Prospect", "Website": "https://globex.com", "BillingCountry": "US"},
    ])
    [deal] = sf.insert_records("Opportunity", [
        {"Name": "Globex - Direct Platform Deal", "StageName": "Qualification", "CloseDate": "2027-01-15",
         "Amount": 50000, "AccountId": globex},
    ])
    registrations = [
        DealRegistration(id="reg_alpha", partner_id="ptn_alpha", customer_name="Initech", customer_domain="initech.com",
                         customer_country="US", product_lines=["platform"], submitted_at=T0 - timedelta(days=3)),
        DealRegistration(id="reg_beta", partner_id="ptn_beta", customer_name="Initech LLC",
                         contact_email="buyer@initech.com", customer_country="US", product_lines=["platform"],
                         submitted_at=T0 - timedelta(days=2)),
        DealRegistration(id="reg_gamma_direct", partner_id="ptn_gamma", customer_name="Globex Corp",
                         customer_domain="globex.com", customer_country="US", product_lines=["platform"],
                         submitted_at=T0 - timedelta(days=1)),
        DealRegistration(id="reg_gamma_near", partner_id="ptn_gamma", customer_name="Initech Systems",
                         customer_country="US", product_lines=["platform"], submitted_at=T0 - timedelta(hours=12)),
    ]
    with env.runtime.store.session() as session:
        records.save_records(session, [Partner(id=pid, name=name) for pid, name in PARTNERS.items()])
        records.save_records(session, registrations)

    report = env.runtime.engine(["salesforce", "hubspot"], clock=lambda: T0).run(SyncScope(), trigger="cli")
    assert not [f for s in report.slices for f in s.failures]

    sf_regs = {r["PRM_Id__c"]: r for r in sf.all_records("Deal_Registration__c")}
    hs_regs = {r["prm_id"]: r for r in hs.all_records("p_deal_registrations")}
    decisions = {reg_id: (sf_regs[reg_id]["Conflict_Decision__c"], hs_regs[reg_id]["conflict_decision"]) for reg_id in sf_regs}
    assert decisions == {
        "reg_alpha": ("Clear", "clear"), "reg_beta": ("Conflict", "conflict"),
        "reg_gamma_direct": ("Conflict", "conflict"), "reg_gamma_near": ("Review", "review"),
    }
    deal_facts = {deal, globex, "opp_", "Globex - Direct"}
    for reg in registrations:
        others = [r for r in registrations if r.partner_id != reg.partner_id]
        forbidden = deal_facts | {r.partner_id for r in others} | {PARTNERS[r.partner_id] for r in others}
        forbidden |= {r.id for r in others} | {r.submitted_at.date().isoformat() for r in others if r.submitted_at}
        for text in (sf_regs[reg.id]["Conflict_Reason__c"], hs_regs[reg.id]["conflict_reason"]):
            assert text, reg.id
            leaked = [fact for fact in forbidden if fact.lower() in text.lower()]
            assert not leaked, (reg.id, text, leaked)
    assert sf_regs["reg_beta"]["Conflict_Reason__c"] == "conflict: customer already registered or in direct pipeline; under review"

    # the channel manager still has the whole story in the store
    with env.runtime.store.session(readonly=True) as session:
        beta = latest_conflict_check(session, "reg_beta")
        direct = latest_conflict_check(session, "reg_gamma_direct")
    assert beta is not None and "registration reg_alpha by partner ptn_alpha" in beta.reasons[0]
    assert direct is not None and "open direct opportunity opp_" in direct.reasons[0]
