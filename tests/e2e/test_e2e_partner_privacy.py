"""Issue 21 item 5: what a partner can read on its registration names no other partner.

Registrations are what partners see in a partner portal or community, in
Salesforce and HubSpot alike. Three partners register customers that are
already claimed (another partner's earlier registration, the vendor's own open
deal, a near name); after one sync, every field prm-sync writes on a
registration, read back from both CRMs through their client libraries
(simple-salesforce, hubspot-api-client), must say what happens next and
nothing about who else registered, when, or which deal matched; a registration
in conflict is linked to no deal. The full reason stays in the PRM store for
the channel manager.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox_fixtures.cluster import MakeSyncEnv

from prm_sync.model import DealRegistration, Partner
from prm_sync.store import records
from prm_sync.store.conflicts import latest_conflict_check
from prm_sync.sync.engine import SyncScope

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PARTNERS = {"ptn_alpha": "Alpha Integrators", "ptn_beta": "Beta Solutions", "ptn_gamma": "Gamma Resellers"}
NOTICE = "conflict: customer already registered or in direct pipeline; under review"
# every field prm-sync writes on a registration (README "What partners may see in the CRMs")
SF_FIELDS = ["Name", "Partner__c", "End_Customer__c", "Customer_Name__c", "Customer_Domain__c", "Product_Lines__c",
             "Amount__c", "Status__c", "Submitted_At__c", "Approved_At__c", "Expires_At__c", "Opportunity__c",
             "Conflict_Decision__c", "Conflict_Score__c", "Conflict_Reason__c", "PRM_Id__c"]
HS_PROPERTIES = ["prm_id", "partner_prm_id", "customer_name", "customer_domain", "product_lines", "amount", "status",
                 "submitted_at", "approved_at", "expires_at", "conflict_decision", "conflict_score", "conflict_reason"]


def test_partner_visible_registration_fields_name_no_other_partner(make_sync_env: MakeSyncEnv) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"), seed_data=False)
    sf, hs = env.salesforce(), env.hubspot()
    globex = sf.Account.create({"Name": "Globex Corporation", "Type": "Prospect", "Website": "https://globex.com",
                                "BillingCountry": "US"})["id"]
    deal = sf.Opportunity.create({"Name": "Globex - Direct Platform Deal", "StageName": "Qualification",
                                  "CloseDate": "2027-01-15", "Amount": 50000, "AccountId": globex})["id"]
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

    soql = f"SELECT Id, {', '.join(SF_FIELDS)} FROM Deal_Registration__c"
    sf_regs = {r["PRM_Id__c"]: r for r in sf.query_all(soql)["records"]}
    hs_page = hs.crm.objects.basic_api.get_page("p_deal_registrations", limit=100, properties=HS_PROPERTIES)
    hs_regs = {r.properties["prm_id"]: {**r.properties, "id": r.id} for r in hs_page.results}
    decisions = {reg_id: (sf_regs[reg_id]["Conflict_Decision__c"], hs_regs[reg_id]["conflict_decision"]) for reg_id in sf_regs}
    assert decisions == {
        "reg_alpha": ("Clear", "clear"), "reg_beta": ("Conflict", "conflict"),
        "reg_gamma_direct": ("Conflict", "conflict"), "reg_gamma_near": ("Review", "review"),
    }
    assert sf_regs["reg_beta"]["Conflict_Reason__c"] == hs_regs["reg_beta"]["conflict_reason"] == NOTICE
    partner_accounts = {r["PRM_Id__c"]: r["Id"] for r in sf.query_all("SELECT Id, PRM_Id__c FROM Account")["records"]
                        if r["PRM_Id__c"] in PARTNERS}
    deal_facts = {deal, "opp_", "Globex - Direct", "50000"}
    for reg in registrations:
        others = [r for r in registrations if r.partner_id != reg.partner_id]
        forbidden = deal_facts | {r.partner_id for r in others} | {PARTNERS[r.partner_id] for r in others}
        forbidden |= {partner_accounts[r.partner_id] for r in others} | {r.id for r in others}
        forbidden |= {r.submitted_at.date().isoformat() for r in others if r.submitted_at}
        visible = [v for k, v in sf_regs[reg.id].items() if k != "attributes"] + list(hs_regs[reg.id].values())
        leaked = [fact for fact in forbidden for value in visible if value is not None and fact.lower() in str(value).lower()]
        assert not leaked, (reg.id, leaked, sf_regs[reg.id], hs_regs[reg.id])
        # nor through a link: a registration in conflict points at no deal in either CRM
        if reg.id != "reg_alpha":
            assert sf_regs[reg.id]["Opportunity__c"] is None
            linked = hs.crm.associations.v4.basic_api.get_page("p_deal_registrations", hs_regs[reg.id]["id"], "deals")
            assert linked.results == [], reg.id

    # the channel manager still has the whole story in the store
    with env.runtime.store.session(readonly=True) as session:
        beta = latest_conflict_check(session, "reg_beta")
        direct = latest_conflict_check(session, "reg_gamma_direct")
    assert beta is not None and "registration reg_alpha by partner ptn_alpha" in beta.reasons[0]
    assert direct is not None and "open direct opportunity opp_" in direct.reasons[0]
