"""Bad data, remote deletes mid-sync, mapping changes between runs, and replaying what failed.

A record the remote refuses, or one whose remote fields do not map, is
dead-lettered with a reason while the rest of the batch goes through;
``replay_failures`` then syncs it through the normal path once the cause is
fixed, and is a no-op the second time.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.http import FaultConfig
from prm_sync.replay import ReplaySelection, replay_failures
from prm_sync.store import audit, failures, records, runs

BOTH = ("salesforce", "hubspot")


def _open_failures(env: Any) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return failures.list_failures(session)


def test_refused_record_is_dead_lettered_then_replayed_once(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    partner = env.data.partners[0]
    env.apps["salesforce"].faults = FaultConfig(invalid_values={"Name": [partner["name"]]})

    first = env.run()

    assert first.slice("salesforce", "partner").failed == 1
    assert first.slice("salesforce", "partner").created == len(env.data.partners) - 1  # the rest went through
    [failure] = [f for f in _open_failures(env) if f.system == "salesforce" and f.remote_object == "Account"]
    assert (failure.record_key, failure.operation, failure.attempts) == (partner["id"], "upsert", 1)
    assert failure.error_code and failure.error_message
    converged(env)  # failed with a reason counts as accounted for

    again = replay_failures(env.runtime, ReplaySelection(ids=[failure.id]), actor="test")
    assert [(i.outcome, i.attempts) for i in again.items] == [("failed_again", 2)]
    assert again.items[0].error_code == failure.error_code

    env.apps["salesforce"].faults = FaultConfig()  # someone fixed the validation rule
    preview = replay_failures(env.runtime, ReplaySelection(ids=[failure.id]), dry_run=True)
    assert [i.outcome for i in preview.items] == ["would_sync"]
    dependents = [f for f in _open_failures(env) if f.id != failure.id]  # its contacts and registrations
    assert dependents and all(f.system == "salesforce" for f in dependents)
    fixed = replay_failures(env.runtime, ReplaySelection(system="salesforce"), actor="test")

    assert {(i.id, i.outcome) for i in fixed.items} == {(f.id, "synced") for f in [failure, *dependents]}
    accounts = [a for a in env.apps["salesforce"].all_records("Account") if a.get("PRM_Id__c") == partner["id"]]
    assert len(accounts) == 1 and accounts[0]["Name"] == partner["name"]
    assert _open_failures(env) == []
    twice = replay_failures(env.runtime, ReplaySelection(ids=[failure.id]), actor="test")
    assert [(i.outcome, i.reason) for i in twice.items] == [("skipped", "already resolved")]
    with env.runtime.store.session(readonly=True) as session:
        trail = [e.action for e in audit.query_audit(session, record_id=partner["id"]) if e.actor == "test"]
    assert trail == ["replay.skipped", "replay.synced", "replay.failed_again"]  # newest first
    converged(env)


def test_malformed_remote_record_fails_alone_and_replays_after_the_fix(make_sync_env) -> None:
    env = make_sync_env(systems=BOTH)
    hubspot = env.apps["hubspot"]
    deal = hubspot.all_records("deals")[0]
    hubspot.update_record("deals", deal["hs_object_id"], {"dealname": "x" * 300})  # longer than the PRM allows

    report = env.run()

    stats = report.slice("hubspot", "opportunity")
    assert stats.failed == 1 and stats.created == len(hubspot.all_records("deals")) - 1
    [failure] = _open_failures(env)
    assert (failure.record_key, failure.operation, failure.error_code) == (deal["hs_object_id"], "read", "INVALID_RECORD")
    assert "name" in failure.error_message and "120" in failure.error_message

    hubspot.update_record("deals", deal["hs_object_id"], {"dealname": "Fixed deal name"})
    replayed = replay_failures(env.runtime, ReplaySelection(all=True), actor="test")

    assert [(i.outcome, i.record) for i in replayed.items] == [("synced", deal["hs_object_id"])]
    assert len(replayed.run_ids) == 1
    with env.runtime.store.session(readonly=True) as session:
        opp = records.find_by_external_id(session, "opportunity", "hubspot", deal["hs_object_id"])
        run = runs.get_run(session, replayed.run_ids[0])
    assert opp is not None and opp.name == "Fixed deal name"
    assert run is not None and (run.trigger, run.status) == ("replay", "succeeded")
    assert _open_failures(env) == []


def test_records_deleted_remotely_mid_sync(make_sync_env, converged) -> None:
    env = make_sync_env(systems=BOTH)
    sync = env.runtime.config.sync.model_copy(update={"delete_sweep_seconds": 0})  # HubSpot: sweep every run
    env.runtime.config = env.runtime.config.model_copy(update={"sync": sync})
    env.run()
    sf, hs = env.apps["salesforce"], env.apps["hubspot"]
    with env.runtime.store.session(readonly=True) as session:
        partner = records.list_records(session, "partner")[0]
        opportunity = next(o for o in records.list_records(session, "opportunity") if "salesforce" in o.external_ids)
    with env.runtime.store.session() as session:  # a PRM edit the push will want to write
        records.save_record(session, partner.model_copy(update={"phone": "+1 555 0100"}))
    deleted: list[str] = []

    def delete_during_run(checkpoint: str) -> None:
        if checkpoint == "pull.after_commit" and not deleted:  # after the first page is in, before the push
            with sf.lock:
                sf.store.delete(opportunity.external_ids["salesforce"], "Opportunity")
                sf.store.delete(partner.external_ids["salesforce"], "Account")
            deleted.append(checkpoint)

    during = env.run(crash_hook=delete_during_run)
    # HubSpot finds deletes with a separate sweep (archived records are absent from search), so
    # its delete lands between runs here; see the report for the mid-run window
    hs.archive_record("companies", partner.external_ids["hubspot"])
    after = env.run()
    with env.runtime.store.session() as session:  # another PRM edit: must not re-create either record
        current = records.get_record(session, "partner", partner.id)
        records.save_record(session, current.model_copy(update={"phone": "+1 555 0199"}))

    assert deleted and during.status == "succeeded" and after.status == "succeeded"
    assert during.slice("salesforce", "opportunity").deleted + after.slice("salesforce", "opportunity").deleted == 1
    assert after.slice("salesforce", "partner").deleted + during.slice("salesforce", "partner").deleted >= 1
    with env.runtime.store.session(readonly=True) as session:
        assert records.get_record(session, "opportunity", opportunity.id) is None  # CRM-owned: gone
        assert records.get_record(session, "partner", partner.id) is not None  # PRM-owned: kept, unlinked
        kept = records.get_record(session, "partner", partner.id)
        entries = audit.query_audit(session, record_id=partner.id)
    deletes = [e for e in entries if e.action == "pull.remote_delete"]
    assert {e.system for e in deletes} == {"salesforce"}
    assert any("deleted remotely" in (e.reason or "") for e in deletes)
    # the Salesforce delete terminates the partner, which reaches HubSpot by its on_delete (archive) before
    # the user's own archive there: the copy is gone either way, and nothing is lost or re-created
    assert kept is not None and kept.status == "terminated"
    assert [e.system for e in entries if e.action == "push.archive"] == ["hubspot"]
    assert [c for c in hs.all_records("companies") if c.get("prm_id") == partner.id] == []  # not re-created
    live = [a for a in sf.all_records("Account") if a.get("PRM_Id__c") == partner.id]
    assert len(live) <= 1  # never duplicated; a deleted partner is not silently re-created by later runs
    final = env.run()
    assert final.totals()["created"] == 0
    assert [a for a in sf.all_records("Account") if a.get("PRM_Id__c") == partner.id] == live


def test_mapping_change_between_runs_is_used_and_recorded(make_sync_env) -> None:
    env = make_sync_env(systems=BOTH)
    first = env.run()
    old_version = env.runtime.mappings.version
    mappings = env.copy_mappings()
    path = mappings / "hubspot.yaml"
    line = "{prm: territory, remote: territory, rule: prefer_remote_unless_blank}"
    assert line in path.read_text()
    # switch a rule and add a field: HubSpot companies now also carry the partner's program in "industry"
    path.write_text(path.read_text().replace(
        line, "{prm: territory, remote: territory, rule: prefer_prm}\n      - {prm: program, remote: industry, direction: to_remote}"
    ))
    env.reload_mappings(mappings)

    second = env.run()

    assert env.runtime.mappings.version != old_version
    assert (first.mapping_version, second.mapping_version) == (old_version, env.runtime.mappings.version)
    with env.runtime.store.session(readonly=True) as session:
        recorded = {r.id: r.mapping_version for r in runs.list_runs(session)}
        partners = records.list_records(session, "partner")
    assert recorded == {first.run_id: old_version, second.run_id: env.runtime.mappings.version}
    assert second.slice("hubspot", "partner").updated == len(partners)  # the new field reaches every company
    companies = {c["prm_id"]: c for c in env.apps["hubspot"].all_records("companies") if c.get("prm_id")}
    assert all(companies[p.id]["industry"] == p.program for p in partners)
    assert env.run().totals()["updated"] == 0
