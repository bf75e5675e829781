"""``prm-sync reconcile`` through the real entry point, and deletes the engine has already seen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance
from sandbox_fixtures.cluster import MakeSyncEnv

from prm_sync.reconcile import run_reconcile
from prm_sync.store import records
from prm_sync.store.db import Store


def test_cli_reconcile_reports_json_exit_codes_and_repairs(make_sync_env: MakeSyncEnv, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    env.run()
    env.run()
    clean = env.cli("reconcile", "--json")
    assert clean.exit_code == 0, clean.stderr
    body = clean.json()
    assert body["clean"] is True and body["issues"] == 0 and body["systems"] == ["salesforce", "hubspot"]
    assert {s["entity"] for s in body["slices"]} >= {"partner", "deal_registration", "opportunity"}

    partner_id = env.data.partners[0]["id"]
    with env.runtime.store.session() as session:
        partner = records.get_record(session, "partner", partner_id)
        records.save_record(session, partner.model_copy(update={"phone": "+1 555 0100"}))

    drifted = env.cli("reconcile", "--system", "hubspot")
    assert drifted.exit_code == 4  # differences found: a scheduler can alert on it
    assert "field_drift" in drifted.stdout and partner_id in drifted.stdout

    # with a Dagster instance configured, the repair's sync run reaches it, as every CLI sync does
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("PRM_SYNC_OBSERVERS", "on")
    (tmp_path / "dagster_home").mkdir()
    repaired = env.cli("reconcile", "--system", "hubspot", "--repair", "--json")
    assert repaired.exit_code == 0, repaired.stderr
    assert repaired.json()["repair"]["pushed"] == {"hubspot/partner": 1}
    assert "reported to Dagster" in repaired.stderr
    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey(["hubspot", "partners"]))
    assert event is not None and event.asset_materialization.tags["prm_sync/run_id"] == repaired.json()["repair"]["run_id"]
    monkeypatch.setenv("PRM_SYNC_OBSERVERS", "off")
    assert env.apps["hubspot"].find_record("companies", "prm_id", partner_id)["phone"] == "+1 555 0100"  # type: ignore[attr-defined]
    assert env.cli("reconcile", "--system", "hubspot", "--json").json()["clean"] is True

    unknown = env.cli("reconcile", "--system", "lms")
    assert unknown.exit_code == 2 and "not enabled" in unknown.stderr


def test_a_delete_the_engine_recorded_is_information_not_an_issue(make_sync_env: MakeSyncEnv) -> None:
    env = make_sync_env(systems=("salesforce",))
    env.run()
    env.run()
    reg_id = env.data.registrations[0]["id"]
    with env.runtime.store.session(readonly=True) as session:
        remote_id = records.get_record(session, "deal_registration", reg_id).external_ids["salesforce"]
    sf = env.apps["salesforce"]
    with sf.lock:  # type: ignore[attr-defined]
        sf.store.delete(remote_id)  # type: ignore[attr-defined]

    before = run_reconcile(env.runtime)
    assert before.count("salesforce", "deal_registration", "missing_remote") == 1

    env.run()  # the incremental read sees the delete; the PRM keeps the registration, unlinked
    after = run_reconcile(env.runtime)
    assert after.clean, after.samples
    assert after.count("salesforce", "deal_registration", "remote_deleted") == 1


def test_repair_holds_the_slice_locks_while_it_edits_link_states(
    make_sync_env: MakeSyncEnv, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync that starts after repair's check must not run while repair resets its link states and cursors.

    On SQLite the repair's write transaction keeps every other writer out anyway (the sync cannot even
    try); on PostgreSQL only the slice lock does.
    """
    from datetime import timedelta

    from sqlalchemy.exc import OperationalError

    from prm_sync.reconcile import repair
    from prm_sync.store import locks
    from prm_sync.store.db import make_engine

    env = make_sync_env(systems=("hubspot",), store=store)
    env.run()
    partner_id = env.data.partners[0]["id"]
    with env.runtime.store.session() as session:
        partner = records.get_record(session, "partner", partner_id)
        records.save_record(session, partner.model_copy(update={"phone": "+1 555 0100"}))
    # another process, starting a sync right then (on SQLite it would wait for the write lock: not for long)
    other = Store(make_engine(env.runtime.store.engine.url, busy_timeout_ms=200))
    started: list[bool] = []
    forget = repair._forget

    def a_sync_starts_meanwhile(*args: Any, **kwargs: Any) -> Any:
        try:
            started.append(locks.acquire_lock(other, locks.slice_scope("hubspot", "partner"), "run_meanwhile",
                                              timedelta(hours=1)))
        except OperationalError:  # SQLite: the database is locked by the repair's transaction
            started.append(False)
        return forget(*args, **kwargs)

    monkeypatch.setattr(repair, "_forget", a_sync_starts_meanwhile)
    try:
        report = run_reconcile(env.runtime, ["hubspot"], repair=True)
    finally:
        other.close()
    assert started == [False]  # the slice was the repair's while it edited
    assert report.repair is not None and report.repair.pushed == {"hubspot/partner": 1}
    assert report.repair.status == "succeeded"
