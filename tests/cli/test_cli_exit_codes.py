"""Every row of the exit-code table (``prm_sync.exit_codes``), through the real ``prm-sync`` entry point.

One Salesforce world walks through the cases a scheduler tells apart: 5 for
a run that left refused records, 0 once they are replayed, 7 when every
record a run tried was refused, 6 when the API quota stops it or the token
is revoked, 3 while another run holds the lock, 4 for failing mapping tests
and for drift reconcile finds, 2 for bad input,
1 for a bug and 130 for Ctrl-C. The README prints the same table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.sandbox.http import FaultConfig
from prm_sync.exit_codes import EXIT_CODES, ExitCode, markdown_table
from prm_sync.model import utcnow
from prm_sync.store import locks, records, runs

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_prints_the_exit_code_table_the_cli_uses() -> None:
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme
    assert len({int(c) for c in EXIT_CODES}) == len(EXIT_CODES)  # each case its own code


def _tiers_refused(env) -> FaultConfig:
    return FaultConfig(invalid_values={"Partner_Tier__c": ["Registered", "Silver", "Gold", "Platinum"]})


def test_each_exit_code_for_its_case(make_sync_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_sync_env(systems=("salesforce",))
    salesforce = env.apps["salesforce"]
    partner = env.data.partners[0]

    # 5: the run finished, one partner (and what hangs off it) refused
    salesforce.faults = FaultConfig(invalid_values={"Name": [partner["name"]]})
    with_failures = env.cli("sync", "--json")
    assert with_failures.exit_code == ExitCode.FAILED_RECORDS, with_failures.output
    assert with_failures.json()["status"] == "succeeded_with_failures"

    # 0: the cause fixed, the replay writes them all
    salesforce.faults = FaultConfig()
    replayed = env.cli("failures", "replay", "--all", "--json")
    assert replayed.exit_code == ExitCode.OK, replayed.output
    assert replayed.json()["status"] == "succeeded"
    assert env.cli("sync").exit_code == ExitCode.OK

    # 7: every record the run tried was refused (nothing written): not a success of any kind
    salesforce.faults = _tiers_refused(env)
    with env.runtime.store.session() as session:
        for found in records.list_records(session, "partner")[:2]:
            records.save_record(session, found.model_copy(update={"name": found.name + " GmbH", "updated_at": utcnow()}))
    all_refused = env.cli("sync", "--entity", "partner", "--json")
    assert all_refused.exit_code == ExitCode.FAILED, all_refused.output
    report = all_refused.json()
    assert report["status"] == "failed" and "every record this run tried was refused" in report["error"]
    with env.runtime.store.session(readonly=True) as session:
        assert runs.get_run(session, report["run_id"]).status == "failed"
    again = env.cli("failures", "replay", "--all")
    assert again.exit_code == ExitCode.FAILED and "failed_again" in again.stdout  # a replay that fails again
    salesforce.faults = FaultConfig()

    # 6: the daily API quota runs out: partial, resumable
    salesforce.faults = FaultConfig(quota_remaining=0)
    env.reconnect()
    partial = env.cli("sync", "--system", "salesforce", "--json")
    assert partial.exit_code == ExitCode.PARTIAL, partial.output
    assert partial.json()["status"] == "partial"
    salesforce.faults = FaultConfig()

    # 6 too: the token is revoked mid-way (refused credentials): partial, the slices say auth
    token = salesforce.access_token
    salesforce.access_token = "revoked-by-an-admin"
    env.reconnect()
    revoked = env.cli("sync", "--system", "salesforce", "--json")
    salesforce.access_token = token
    env.reconnect()
    assert revoked.exit_code == ExitCode.PARTIAL, revoked.output
    assert {s["stopped_reason"].split(":")[0] for s in revoked.json()["slices"] if s["stopped_reason"]} == {"auth"}

    # 3: another run holds the lock: nothing done, the holder named
    assert locks.acquire_lock(env.runtime.store, locks.slice_scope("salesforce", "partner"), "run_elsewhere")
    try:
        locked = env.cli("sync")
    finally:
        locks.release_lock(env.runtime.store, locks.slice_scope("salesforce", "partner"), "run_elsewhere")
    assert locked.exit_code == ExitCode.LOCKED and "run_elsewhere" in locked.stderr

    # 4: mapping tests that do not match
    failing = tmp_path / "failing.yaml"
    failing.write_text("""\
version: 1
tests:
  - name: a tier that is not what the mapping writes
    system: salesforce
    entity: partner
    given: {prm: {id: ptn_1, name: Acme, tier: gold, status: active, partner_type: reseller}}
    expect: {remote: {Partner_Tier__c: Diamond}}
""")
    assert env.cli("mappings", "test", str(failing)).exit_code == ExitCode.DIFFERENCES
    # 4 too: reconcile finds drift (a PRM phone Salesforce does not have; the names refused above differ already)
    untouched = env.data.partners[-1]["id"]
    assert untouched not in env.cli("reconcile", "--system", "salesforce").stdout
    with env.runtime.store.session() as session:
        partner_record = records.get_record(session, "partner", untouched)
        records.save_record(session, partner_record.model_copy(update={"phone": "+1 555 0142"}))
    drifted = env.cli("reconcile", "--system", "salesforce", "--json")
    assert drifted.exit_code == ExitCode.DIFFERENCES, drifted.output
    assert any(i["record_id"] == untouched and i["kind"] == "field_drift" for i in drifted.json()["samples"])

    # 2: bad input, one line
    bad = env.cli("failures", "show", "424242")
    assert bad.exit_code == ExitCode.BAD_INPUT and len(bad.stderr.strip().splitlines()) == 1

    # 1: a bug is an internal error, one line; 130: Ctrl-C
    def boom(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("prm_sync.runtime.open_runtime", boom)
    crashed = env.cli("sync")
    assert crashed.exit_code == ExitCode.INTERNAL_ERROR
    assert re.search(r"internal error: ZeroDivisionError", crashed.stderr) and "Traceback" not in crashed.stderr

    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("prm_sync.runtime.open_runtime", interrupt)
    assert env.cli("sync").exit_code == ExitCode.INTERRUPTED
