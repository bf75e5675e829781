"""Reconcile on a synced world: every seeded kind of difference is found, and --repair fixes it.

The world is the four strict sandboxes seeded from the demo generator and
synced twice (``sync_env``). Drift is then made the way it happens in real
life: users edit and delete records in the CRMs, someone duplicates a vendor
in the ERP or creates a partner account by hand, a script edits the PRM
database directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from sandbox_fixtures.cluster import SyncEnv

from prm_sync.reconcile import ReconcileReport, run_reconcile
from prm_sync.store import records


def _synced(env: SyncEnv) -> None:
    first = env.run()
    assert first.status == "succeeded"
    assert env.run().status == "succeeded"  # reads back the first run's writes once


def _kinds(report: ReconcileReport) -> dict[tuple[str, str, str], int]:
    return {(s.system, s.entity, k): n for s in report.slices for k, n in s.counts.items()}


def _record(env: SyncEnv, entity: str, record_id: str) -> Any:
    with env.runtime.store.session(readonly=True) as session:
        return records.get_record(session, entity, record_id)


def _save(env: SyncEnv, record: Any) -> None:
    with env.runtime.store.session() as session:
        records.save_record(session, record)


def test_reconcile_after_a_sync_is_clean_and_snapshots_both_sides(sync_env: SyncEnv) -> None:
    _synced(sync_env)

    report = run_reconcile(sync_env.runtime)

    assert report.clean, report.samples
    assert report.issues == 0
    assert {(s.system, s.entity) for s in report.slices} == {
        (m.system, m.entity) for m in sync_env.runtime.mappings
    }
    partners = len(sync_env.data.partners)
    sf_partner = next(s for s in report.slices if (s.system, s.entity) == ("salesforce", "partner"))
    assert (sf_partner.remote_rows, sf_partner.prm_rows, sf_partner.linked) == (partners, partners, partners)
    assert "tier" in sf_partner.fields_compared and "name" in sf_partner.fields_compared
    assert all(n > 0 for n in report.api_calls.values())
    snapshot = Path(report.snapshot_dir)
    assert snapshot.parent == sync_env.config.data_dir / "reconcile"
    with duckdb.connect() as conn:
        linked = conn.execute(
            f"SELECT count(*) FROM '{snapshot / 'links.parquet'}' WHERE system = 'salesforce' AND entity = 'partner'"
        ).fetchone()
    assert linked == (partners,)


def test_reconcile_finds_every_kind_and_repair_fixes_them_through_the_engine(sync_env: SyncEnv) -> None:
    env = sync_env
    _synced(env)
    sf, hs, erp = env.apps["salesforce"], env.apps["hubspot"], env.apps["erp"]
    partner_ids = [p["id"] for p in env.data.partners]
    reg_ids = [r["id"] for r in env.data.registrations]

    # a rep changes a partner's tier in Salesforce (two-way field; only the remote changed)
    tier_partner = _record(env, "partner", partner_ids[0])
    sf.update_record("Account", tier_partner.external_ids["salesforce"], {"Partner_Tier__c": "Platinum"})  # type: ignore[attr-defined]
    # a script edits the PRM database directly (two-way field; only the PRM changed)
    city_partner = _record(env, "partner", partner_ids[1])
    _save(env, city_partner.model_copy(update={"city": "Reykjavik"}))
    # ... and an opportunity amount, a field the PRM only reads
    opp = next(o for o in _opportunities(env) if "salesforce" in o.external_ids and o.amount)
    _save(env, opp.model_copy(update={"amount": opp.amount + 1}))
    # a rep overwrites a value prm-sync writes back to the opportunity
    written = next(o for o in _opportunities(env) if "salesforce" in o.external_ids and o.registration_status)
    sf.update_record("Opportunity", written.external_ids["salesforce"], {"Registration_Status__c": "Expired"})  # type: ignore[attr-defined]
    # a registration is deleted in HubSpot
    gone = _record(env, "deal_registration", reg_ids[2])
    hs.archive_record("p_deal_registrations", gone.external_ids["hubspot"])  # type: ignore[attr-defined]
    # a PRM end customer row is deleted by hand (the link stays)
    customer = next(c for c in _end_customers(env) if "hubspot" in c.external_ids)
    with env.runtime.store.session() as session:
        records.delete_record(session, "end_customer", customer.id)
    # someone duplicates a vendor in the ERP (Odoo copies the custom key field)
    erp.insert_records("res.partner", [{"name": "Copy of a partner", "is_company": True, "x_prm_id": partner_ids[3]}])  # type: ignore[attr-defined]
    # a HubSpot partner company carries a key no PRM record has
    hs.insert_records("companies", [{"name": "Ghost Partner", "is_partner": "true", "prm_id": "ptn_ghost0000000001"}])  # type: ignore[attr-defined]
    # a partner account created by hand in Salesforce, without our key
    sf.insert_records("Account", [{"Name": "Handmade Partner", "IsPartner": True, "Type": "Partner"}])  # type: ignore[attr-defined]

    found = run_reconcile(env.runtime)

    kinds = _kinds(found)
    assert kinds[("salesforce", "partner", "field_drift")] >= 1
    assert kinds[("hubspot", "partner", "field_drift")] >= 1  # the PRM city edit, pending for both CRMs
    drift = {(d.system, d.entity, d.record_id, d.field) for d in found.samples if d.kind == "field_drift"}
    assert ("salesforce", "partner", tier_partner.id, "tier") in drift
    assert ("hubspot", "partner", city_partner.id, "city") in drift
    assert ("salesforce", "opportunity", opp.id, "amount") in drift
    assert ("salesforce", "opportunity", written.id, "registration_status") in drift
    assert kinds[("hubspot", "deal_registration", "missing_remote")] == 1
    assert kinds[("hubspot", "end_customer", "missing_prm")] == 1
    assert kinds[("erp", "partner", "duplicate")] == 1
    assert kinds[("hubspot", "partner", "orphan")] == 1
    assert kinds[("salesforce", "partner", "unkeyed")] == 1
    assert not found.clean
    actions = {(d.kind, d.action) for d in found.samples}
    assert {("duplicate", "manual"), ("orphan", "manual"), ("missing_prm", "reread")} <= actions

    repaired = run_reconcile(env.runtime, repair=True)

    assert repaired.repair is not None and repaired.repair.status == "succeeded"
    assert repaired.repair.manual == 3
    assert "salesforce/Account/partner" in repaired.repair.reread  # the tier edit is taken from Salesforce
    assert repaired.repair.pushed.get("hubspot/partner", 0) >= 1
    after = run_reconcile(env.runtime)
    assert {k for k, n in after.counts.items() if n and k != "remote_deleted"} == {"duplicate", "orphan"}
    assert after.issues == 2
    # the repair's re-read adopted the hand-made partner (on_unmatched: adopt): our id is written back to it
    handmade = next(a for a in sf.all_records("Account") if a["Name"] == "Handmade Partner")  # type: ignore[attr-defined]
    adopted = _record(env, "partner", handmade["PRM_Id__c"])
    assert adopted.name == "Handmade Partner" and adopted.external_ids["salesforce"] == handmade["Id"]
    # the rep's tier won (only the remote had changed) and reached HubSpot too; the PRM edits went out
    assert _record(env, "partner", tier_partner.id).tier == "platinum"
    hs_partner = hs.find_record("companies", "prm_id", tier_partner.id)  # type: ignore[attr-defined]
    assert hs_partner["partner_tier"] == "platinum"
    assert sf.get_record("Account", city_partner.external_ids["salesforce"])["BillingCity"] == "Reykjavik"  # type: ignore[attr-defined]
    assert _record(env, "opportunity", opp.id).amount == opp.amount
    assert _record(env, "end_customer", customer.id) is not None
    assert sf.get_record("Opportunity", written.external_ids["salesforce"])["Registration_Status__c"] != "Expired"  # type: ignore[attr-defined]

    # an operator settles what needs a person; then everything agrees
    for row in erp.all_records("res.partner"):  # type: ignore[attr-defined]
        if row.get("name") == "Copy of a partner":
            with erp.lock:  # type: ignore[attr-defined]
                erp.orm.unlink("res.partner", [row["id"]])  # type: ignore[attr-defined]
    ghost = hs.find_record("companies", "prm_id", "ptn_ghost0000000001")  # type: ignore[attr-defined]
    hs.archive_record("companies", ghost["hs_object_id"])  # type: ignore[attr-defined]
    final = run_reconcile(env.runtime)
    assert final.clean, final.samples
    # the HubSpot delete: either the engine's read recorded it during the repair run (the PRM keeps
    # the registration unlinked, by design), or it had not, and the push re-created it by our key
    recreated = hs.find_record("p_deal_registrations", "prm_id", gone.id)  # type: ignore[attr-defined]
    if recreated is None:
        assert final.count("hubspot", "deal_registration", "remote_deleted") == 1
    else:
        assert recreated["hs_object_id"] != gone.external_ids["hubspot"]


def _opportunities(env: SyncEnv) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return records.list_records(session, "opportunity")


def _end_customers(env: SyncEnv) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return records.list_records(session, "end_customer")
