"""Issue 5 acceptance, end to end: real clients against the strict sandboxes, real store, real rules.

Each test starts from the demo world (``sync_env``: partners and
registrations in the PRM store, customers and pipeline in the CRMs) and
checks one promise of the two-way sync by looking at the CRMs and the store
directly, not at the engine's own counters alone.
"""

from __future__ import annotations

from typing import Any

from prm_sync.model import DealRegistration, Opportunity, Partner
from prm_sync.store import records
from prm_sync.sync.stats import RunReport

SF_TIER = {"registered": "Registered", "silver": "Silver", "gold": "Gold", "platinum": "Platinum"}
SF_STATUS = {"prospect": "Prospect", "active": "Active", "suspended": "Suspended", "terminated": "Terminated"}


def _prm(env: Any, entity: str) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return records.list_records(session, entity)


def _v(value: Any) -> Any:
    return getattr(value, "value", value)  # canonical models keep enum values as plain strings


def _writes(report: RunReport) -> int:
    totals = report.totals()
    return totals["created"] + totals["updated"] + totals["deleted"]


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in rows if r.get(key)}


def test_first_sync_creates_partners_and_registrations_in_both_crms(sync_env) -> None:
    report = sync_env.run()
    assert report.status == "succeeded", report.error
    sf, hs = sync_env.apps["salesforce"], sync_env.apps["hubspot"]
    partners = [p for p in _prm(sync_env, "partner") if isinstance(p, Partner)]
    assert partners

    accounts = _by(sf.all_records("Account"), "PRM_Id__c")
    companies = _by(hs.all_records("companies"), "prm_id")
    for partner in partners:
        account, company = accounts[partner.id], companies[partner.id]
        assert account["IsPartner"] is True and account["Name"] == partner.name
        assert account["Partner_Tier__c"] == SF_TIER[_v(partner.tier)]
        assert account["Partner_Status__c"] == SF_STATUS[_v(partner.status)]
        assert company["is_partner"] == "true" and company["name"] == partner.name
        assert (company["partner_tier"], company["partner_status"]) == (_v(partner.tier), _v(partner.status))
        assert (partner.external_ids["salesforce"], partner.external_ids["hubspot"]) == (account["Id"], company["hs_object_id"])

    registrations = [r for r in _prm(sync_env, "deal_registration") if isinstance(r, DealRegistration)]
    sf_regs = _by(sf.all_records("Deal_Registration__c"), "PRM_Id__c")
    hs_regs = _by(hs.all_records("p_deal_registrations"), "prm_id")
    assert set(sf_regs) == set(hs_regs) == {r.id for r in registrations}
    partner_by_id = {p.id: p for p in partners}
    for reg in registrations:
        partner = partner_by_id[reg.partner_id]
        assert sf_regs[reg.id]["Partner__c"] == partner.external_ids["salesforce"]
        assert sf_regs[reg.id]["Customer_Name__c"] == reg.customer_name
        assert hs_regs[reg.id]["customer_name"] == reg.customer_name
        # the mapping associates a HubSpot registration with its partner's company
        registration_id = hs_regs[reg.id]["hs_object_id"]
        assert hs.associations("p_deal_registrations", registration_id, "companies") == [partner.external_ids["hubspot"]]
        if reg.end_customer_id:  # linked to the customer once the conflict check found it
            customer = next(c for c in _prm(sync_env, "end_customer") if c.id == reg.end_customer_id)
            assert sf_regs[reg.id]["End_Customer__c"] == customer.external_ids.get("salesforce")


def test_a_hubspot_deal_comes_back_with_its_company_as_the_end_customer(sync_env) -> None:
    """Search answers carry no associations: the deal's company is read with a v4 batch read."""
    report = sync_env.run()
    assert report.status == "succeeded", report.error
    hs = sync_env.apps["hubspot"]
    customers = {c.external_ids.get("hubspot"): c.id for c in _prm(sync_env, "end_customer")}
    deals = [o for o in _prm(sync_env, "opportunity") if isinstance(o, Opportunity) and "hubspot" in o.external_ids]
    assert deals
    for deal in deals:
        (company,) = hs.associations("deals", deal.external_ids["hubspot"], "companies")
        assert deal.end_customer_id == customers[company]


def test_a_deal_moved_to_another_company_follows_on_an_edit_or_on_the_full_sync(sync_env) -> None:
    """Incremental pulls read a deal's company only for deals that changed otherwise (echoes cost no call)."""

    sync_env.run()
    hs = sync_env.apps["hubspot"]
    customers = {c.external_ids.get("hubspot"): c.id for c in _prm(sync_env, "end_customer")}
    opps = [o for o in _prm(sync_env, "opportunity") if isinstance(o, Opportunity) and "hubspot" in o.external_ids]
    edited, moved_only = opps[0], opps[1]
    targets = {}
    for deal in (edited, moved_only):
        deal_id = deal.external_ids["hubspot"]
        (old,) = hs.associations("deals", deal_id, "companies")
        new = next(c for c in customers if c and c != old)
        with hs.lock:
            hs.assocs.remove("deals", deal_id, "companies", old)
            hs.assocs.add(hs.assocs.default("deals", "companies"), deal_id, new)
        targets[deal.id] = customers[new]
    hs.update_record("deals", edited.external_ids["hubspot"], {"dealname": "Renamed deal"})
    hs.calls.clear()

    sync_env.run()

    after = {o.id: o for o in _prm(sync_env, "opportunity")}
    assert (after[edited.id].name, after[edited.id].end_customer_id) == ("Renamed deal", targets[edited.id])
    assert after[moved_only.id].end_customer_id == moved_only.end_customer_id  # not re-read: nothing else changed
    assert hs.calls["associations.batch.read"] == 1  # the edited deal only

    sync_env.run(full=True)

    assert {o.id: o for o in _prm(sync_env, "opportunity")}[moved_only.id].end_customer_id == targets[moved_only.id]


def test_closure_in_the_crm_comes_back_to_the_prm_store(sync_env) -> None:
    sync_env.run()
    sf, hs = sync_env.apps["salesforce"], sync_env.apps["hubspot"]
    opps = [o for o in _prm(sync_env, "opportunity") if isinstance(o, Opportunity) and not o.is_closed]
    sf_opp = next(o for o in opps if "salesforce" in o.external_ids)
    hs_opp = next(o for o in opps if "hubspot" in o.external_ids)
    sf.update_record("Opportunity", sf_opp.external_ids["salesforce"], {"StageName": "Closed Won"})
    hs.update_record("deals", hs_opp.external_ids["hubspot"], {"dealstage": "closedlost"})

    report = sync_env.run()

    assert report.status == "succeeded"
    after = {o.id: o for o in _prm(sync_env, "opportunity")}
    assert (after[sf_opp.id].is_closed, after[sf_opp.id].is_won, after[sf_opp.id].stage) == (True, True, "Closed Won")
    assert (after[hs_opp.id].is_closed, after[hs_opp.id].is_won) == (True, False)
    closures = {c.opportunity_id: c for c in _prm(sync_env, "closure")}
    assert _v(closures[sf_opp.id].outcome) == "won"
    assert _v(closures[hs_opp.id].outcome) == "lost"


def test_second_sync_without_changes_writes_nothing_and_reads_once_per_object(sync_env) -> None:
    sync_env.run()
    calls_before = {name: app.total_calls() for name, app in sync_env.apps.items()}

    second = sync_env.run()

    assert second.status == "succeeded"
    assert _writes(second) == 0, second.totals()
    assert second.totals()["failed"] == 0
    pulled = [s for s in second.slices if s.read or s.api_calls]
    assert pulled
    calls = {(s.system, s.entity): s.api_calls for s in second.slices}
    # one read call per object and system (HubSpot's archived-records listing runs on its own interval)
    assert all(n <= 1 for n in calls.values()), calls
    assert {system for (system, _), n in calls.items() if n == 1} == set(sync_env.apps)
    # the sandboxes saw exactly those calls and nothing else (no write route was hit)
    seen = {name: app.total_calls() - calls_before[name] for name, app in sync_env.apps.items()}
    assert sum(seen.values()) == second.totals()["api_calls"]


def test_edit_in_one_crm_reaches_the_store_and_the_other_crm_and_bounces_nowhere(sync_env) -> None:
    sync_env.run()
    sf, hs = sync_env.apps["salesforce"], sync_env.apps["hubspot"]
    partner = _prm(sync_env, "partner")[0]
    sf.update_record("Account", partner.external_ids["salesforce"], {"Name": "Renamed In Salesforce"})

    second = sync_env.run()

    assert second.slice("salesforce", "partner").updated == 1  # pulled into the store
    assert second.slice("hubspot", "partner").updated == 1  # pushed on to HubSpot in the same run
    assert next(p for p in _prm(sync_env, "partner") if p.id == partner.id).name == "Renamed In Salesforce"
    assert hs.get_record("companies", partner.external_ids["hubspot"])["name"] == "Renamed In Salesforce"
    assert sf.get_record("Account", partner.external_ids["salesforce"])["Name"] == "Renamed In Salesforce"

    third = sync_env.run()

    assert _writes(third) == 0, third.totals()
    assert third.totals()["conflicts"] == 0
