"""Every job executes in process against the sandboxes, and its results show up as metadata."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dagster import ExecuteInProcessResult
from sandbox_fixtures.cluster import hubspot_client, salesforce_client

import dagster_project.ops as ops_module
from prm_sync.model import DealRegistration, Opportunity, utcnow
from prm_sync.rules.attribution import write_back
from prm_sync.store import failures, records


def materializations(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {
        m.asset_key.to_user_string(): m.metadata
        for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
    }


def test_dagster_full_sync_job_materializes_every_slice_with_metadata(synced_world) -> None:
    result = synced_world.full_result
    meta = materializations(result)
    assert set(meta) == {k.to_user_string() for k in synced_world.defs.resolve_all_asset_keys()}
    partners = meta["salesforce/partners"]
    assert partners["created"].value == len(synced_world.data.partners)
    assert partners["failed"].value == 0
    assert partners["api_calls"].value > 0
    assert isinstance(partners["quota_remaining"].value, int)
    assert partners["duration_seconds"].value >= 0
    assert partners["failures"].value.records == []
    assert "salesforce / partner" in partners["summary"].value
    assert meta["hubspot/deals"]["read"].value > 0
    assert meta["lms/course_completions"]["read"].value > 0
    assert meta["prm/mappings"]["problems"].value == 0
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks[("salesforce/partners", "partner_counts_agree")]
    assert checks[("hubspot/partners", "partner_counts_agree")]
    assert checks[("prm/mappings", "mappings_valid")]
    assert checks[("erp/invoices", "failed_records_fresh")]
    assert all(checks.values()), [k for k, ok in checks.items() if not ok]
    with synced_world.store() as store, store.session(readonly=True) as session:
        assert failures.count_open(session) == 0


def test_dagster_incremental_sync_job_after_a_full_sync_only_carries_the_registration_links(synced_world) -> None:
    """Slices run one at a time, so the opportunity pull links registrations after they were pushed:
    that link (and nothing else) goes out on the next run."""
    result = synced_world.run("incremental_sync_job")
    assert result.success
    changed = {
        key: (m["created"].value, m["updated"].value, m["failed"].value)
        for key, m in materializations(result).items()
        if "created" in m and (m["created"].value, m["updated"].value, m["failed"].value) != (0, 0, 0)
    }
    assert all(key.endswith("/deal_registrations") and created == failed == 0
               for key, (created, _updated, failed) in changed.items()), changed


def test_dagster_expiry_job_expires_and_clears_the_opportunity_in_salesforce(synced_world) -> None:
    salesforce = synced_world.cluster.apps["salesforce"]
    now = utcnow()
    with synced_world.store() as store, store.session() as session:
        # a protected deal, made explicit rather than hoped for in the seeded data
        opp = next(o for o in records.list_records(session, Opportunity.entity)
                   if isinstance(o, Opportunity) and "salesforce" in o.external_ids and not o.is_closed)
        partner_id = records.list_records(session, "partner", limit=1)[0].id
        reg = DealRegistration(id="reg_expiry_job", partner_id=partner_id, customer_name=opp.name, status="approved",
                               submitted_at=now - timedelta(days=3), approved_at=now - timedelta(days=2),
                               expires_at=now + timedelta(days=30), opportunity_id=opp.id)
        records.save_record(session, reg)
        records.save_record(session, opp.model_copy(update={"registration_id": reg.id}))
        write_back(session, opp.id, now)
    assert synced_world.run("incremental_sync_job").success
    with synced_world.store() as store, store.session() as session:
        reg = records.get_record(session, DealRegistration.entity, "reg_expiry_job")
        assert isinstance(reg, DealRegistration) and reg.status == "approved"
        records.save_record(session, reg.model_copy(update={"expires_at": utcnow() - timedelta(hours=1)}))
    remote_id = opp.external_ids["salesforce"]
    before = next(o for o in salesforce.all_records("Opportunity") if o["Id"] == remote_id)
    assert before["Registered_Partner__c"]

    result = synced_world.run("expiry_job")

    assert result.success
    assert result.output_for_node("expire_registrations") == [opp.id]
    after = next(o for o in salesforce.all_records("Opportunity") if o["Id"] == remote_id)
    assert not after["Registered_Partner__c"]
    with synced_world.store() as store, store.session(readonly=True) as session:
        assert records.get_record(session, DealRegistration.entity, reg.id).status == "expired"


def test_dagster_mapping_plan_job_shows_planned_writes_and_writes_nothing(dagster_world) -> None:
    salesforce = dagster_world.cluster.apps["salesforce"]
    accounts_before = len(salesforce.all_records("Account"))

    result = dagster_world.run("mapping_plan_job")

    assert result.success
    plan = result.output_for_node("plan_mapping_push")
    slices = {(s["system"], s["entity"]): s for s in plan["slices"]}
    assert slices[("salesforce", "partner")]["create"] == len(dagster_world.data.partners)
    assert slices[("hubspot", "deal_registration")]["create"] == len(dagster_world.data.registrations)
    assert any(d["field"] == "name" and d["action"] == "create" for d in plan["samples"])
    step_meta = result.get_step_success_events()[0]  # the plan is markdown in the op's output metadata
    assert step_meta.step_key == "plan_mapping_push"
    output_meta = next(e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT").event_specific_data.metadata
    assert "| salesforce | partner | Account |" in output_meta["plan"].value
    assert len(salesforce.all_records("Account")) == accounts_before
    with dagster_world.store() as store, store.session(readonly=True) as session:
        assert records.count_records(session, "end_customer") == 0  # nothing was pulled either


def test_dagster_reconcile_job_reports_when_reconcile_is_missing(dagster_world, monkeypatch) -> None:
    monkeypatch.setattr(ops_module, "reconcile_available", lambda: False)
    result = dagster_world.run("reconcile_job")
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "reconcile is not installed" in error.description


def test_dagster_reconcile_job_reports_store_and_systems_in_agreement(synced_world) -> None:
    result = synced_world.run("reconcile_job")
    assert result.success
    report = result.output_for_node("reconcile")
    assert report["systems"] == ["salesforce", "hubspot", "lms", "erp"]
    assert {(s["system"], s["entity"]) for s in report["slices"]} >= {("salesforce", "partner"), ("hubspot", "partner")}
    output = next(e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT")
    metadata = output.event_specific_data.metadata
    assert metadata["clean"].value == report["clean"]
    assert metadata["slices"].value.records


def test_dagster_inbox_sensor_turns_a_change_notification_into_a_targeted_sync(synced_world) -> None:
    from prm_sync.store.inbox import add_event, list_unprocessed
    from prm_sync.webhooks import InboxPayload

    salesforce, hubspot = synced_world.cluster.apps["salesforce"], synced_world.cluster.apps["hubspot"]
    partner_id = synced_world.data.partners[2]["id"]
    account = next(a for a in salesforce.all_records("Account") if a.get("PRM_Id__c") == partner_id)
    salesforce.update_record("Account", account["Id"], {"Phone": "+1 555 0199"})
    payload = InboxPayload(system="salesforce", remote_object="Account", action="notification",
                           remote_ids=[account["Id"]])
    with synced_world.store() as store, store.session() as session:
        assert add_event(session, "salesforce", "delivery-1", payload.model_dump(mode="json"))
    sensor = synced_world.defs.resolve_sensor_def("inbox_sensor")

    request = sensor(synced_world.sensor_context("inbox_sensor"))

    config = request.run_config["ops"]["targeted_sync"]["config"]
    assert config["record_ids"]["partner"] == [partner_id]
    with synced_world.store() as store, store.session(readonly=True) as session:
        assert list_unprocessed(session) == []
    assert "no pending" in sensor(synced_world.sensor_context("inbox_sensor")).skip_message

    result = synced_world.run("targeted_sync_job", request.run_config)

    assert result.success
    with synced_world.store() as store, store.session(readonly=True) as session:
        assert records.get_record(session, "partner", partner_id).phone == "+1 555 0199"
    company = next(c for c in hubspot.all_records("companies") if c.get("prm_id") == partner_id)
    assert company["phone"] == "+1 555 0199"  # pushed on to the other CRM, only that record


def test_dagster_inbox_sensor_sweeps_a_deleted_company_at_once(dagster_world) -> None:
    """A HubSpot deletion webhook makes the targeted run look for deletes now, not at the sweep's interval."""
    from prm_sync.store.inbox import add_event
    from prm_sync.webhooks import InboxPayload

    synced_world = dagster_world  # its own world: the shared one keeps its partners
    assert synced_world.run("full_sync_job").success
    systems = synced_world.cluster.state()["systems"]
    salesforce, hubspot = salesforce_client(systems["salesforce"]), hubspot_client(systems["hubspot"])
    partner_id = synced_world.data.partners[1]["id"]
    company = hubspot.crm.companies.basic_api.get_by_id(partner_id, id_property="prm_id").id
    hubspot.crm.companies.basic_api.archive(company)  # a marketer deletes the partner company
    payload = InboxPayload(system="hubspot", remote_object="companies", action="deletion",
                           remote_ids=[company], deleted_ids=[company])
    with synced_world.store() as store, store.session() as session:
        assert add_event(session, "hubspot", "delivery-9", payload.model_dump(mode="json"))

    request = synced_world.defs.resolve_sensor_def("inbox_sensor")(synced_world.sensor_context("inbox_sensor"))
    assert request.run_config["ops"]["targeted_sync"]["config"]["deletes_announced"] == [["hubspot", "companies"]]
    assert synced_world.run("targeted_sync_job", request.run_config).success

    with synced_world.store() as store, store.session(readonly=True) as session:
        assert records.get_record(session, "partner", partner_id).status == "terminated"
    [account] = salesforce.query_all(f"SELECT Partner_Status__c FROM Account WHERE PRM_Id__c = '{partner_id}'")["records"]
    assert account["Partner_Status__c"] == "Terminated"  # Salesforce's on_delete: mark


def test_dagster_slice_metadata_counts_a_partner_born_in_salesforce_and_one_left_for_a_person(synced_world) -> None:
    """A rep creates two partner accounts in Salesforce (one a second account of a known partner's domain)."""
    import json

    rep = salesforce_client(json.loads(synced_world.state_file.read_text())["systems"]["salesforce"])
    rep.Account.create({"Name": "Northwind Channel", "IsPartner": True, "Type": "Partner",
                        "Domain__c": "northwind-channel.example"})
    known = synced_world.data.partners[3]
    assert known.get("domain")
    second = rep.Account.create({"Name": known["name"] + " (EMEA)", "IsPartner": True, "Type": "Partner",
                                 "Domain__c": known["domain"]})["id"]

    result = synced_world.run("incremental_sync_job")

    assert result.success
    partners = materializations(result)["salesforce/partners"]
    assert (partners["adopted"].value, partners["unmatched"].value) == (1, 1)
    assert "identity: salesforce/partner adopted 1, unmatched 1" in partners["summary"].value
    health = materializations(synced_world.run("health_job"))["prm/sync_health"]
    [row] = [r.data for r in health["slices"].value.records if r.data["slice"] == "salesforce/partner"]
    assert row["unmatched"] == 1  # waiting for a person until a merge in Salesforce or `prm-sync adopt` settles it
    assert "salesforce/partner 1" in health["summary"].value
    assert rep.Account.get(second)["PRM_Id__c"] is None  # never guessed


def test_dagster_retention_job_previews_then_prunes_old_history(dagster_world) -> None:
    from prm_sync.store.ledger import LedgerEntry, append_ledger
    from prm_sync.store.orm import WriteLedgerRow

    old = utcnow() - timedelta(days=400)
    with dagster_world.store() as store, store.session() as session:
        append_ledger(session, [LedgerEntry(system="salesforce", remote_object="Account", remote_id="001old",
                                            payload_hash="h", written_at=old),
                                LedgerEntry(system="salesforce", remote_object="Account", remote_id="001new",
                                            payload_hash="h")])

    def ledger_ids() -> set[str]:
        with dagster_world.store() as store, store.session(readonly=True) as session:
            return {row.remote_id for row in session.query(WriteLedgerRow)}

    preview = dagster_world.run("retention_job", {"ops": {"prune_history": {"config": {"dry_run": True}}}})
    assert preview.success and ledger_ids() == {"001old", "001new"}
    counts = {t["table"]: t["rows"] for t in preview.output_for_node("prune_history")["tables"]}
    assert counts["write_ledger"] == 1

    result = dagster_world.run("retention_job")
    assert result.success and ledger_ids() == {"001new"}
    output_meta = next(e for e in result.all_node_events
                       if e.event_type_value == "STEP_OUTPUT").event_specific_data.metadata
    assert output_meta["rows"].value == 1 and output_meta["dry_run"].value is False
