"""``prm-sync failures ...`` and ``prm-sync audit`` through the real entry point (exit codes, output)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from connectors.sandbox.http import FaultConfig
from prm_sync.cli.commands.admin import parse_since
from prm_sync.errors import UsageError


@pytest.fixture
def failed_env(make_sync_env):
    """Salesforce only, one partner refused by a validation rule (plus its dependents)."""
    env = make_sync_env(systems=("salesforce",))
    env.apps["salesforce"].faults = FaultConfig(invalid_values={"Name": [env.data.partners[0]["name"]]})
    env.run()
    return env


def test_failures_list_show_replay_discard(failed_env) -> None:
    env = failed_env
    partner_id = env.data.partners[0]["id"]

    listed = env.cli("failures", "list", "--json")
    filtered = env.cli("failures", "list", "--json", "--object", "Account", "--since", "1h")
    table = env.cli("failures", "list")

    assert listed.exit_code == 0
    rows = listed.json()
    account = next(r for r in rows if r["remote_object"] == "Account")
    assert [r["id"] for r in filtered.json()] == [account["id"]]
    assert account["record_key"] == partner_id and account["status"] == "open" and account["error_message"]
    assert table.exit_code == 0 and "failed record" in table.stdout
    shown = env.cli("failures", "show", str(account["id"]), "--json")
    assert shown.json()["payload"]["Name"] == env.data.partners[0]["name"]

    env.apps["salesforce"].faults = FaultConfig()  # the validation rule is fixed
    # a preview plans the writes (plan_push); only a real write can tell what the remote will refuse
    preview = env.cli("failures", "replay", "--all", "--dry-run", "--json")
    assert preview.exit_code == 0 and preview.json()["counts"]["would_sync"] == len(rows)
    assert env.cli("failures", "list", "--json").json() == rows  # a dry run changes nothing

    dependent = next(r for r in rows if r["id"] != account["id"])
    discarded = env.cli("failures", "discard", str(dependent["id"]), "--reason", "duplicate contact, merged by hand")
    assert discarded.exit_code == 0
    replayed = env.cli("failures", "replay", "--system", "salesforce", "--json")
    assert replayed.exit_code == 0, replayed.stdout + replayed.stderr
    outcomes = {i["id"]: i["outcome"] for i in replayed.json()["items"]}
    assert outcomes[account["id"]] == "synced" and dependent["id"] not in outcomes
    again = env.cli("failures", "replay", str(account["id"]), "--json")
    assert [i["outcome"] for i in again.json()["items"]] == ["skipped"]
    assert env.cli("failures", "list", "--json").json() == []
    everything = env.cli("failures", "list", "--status", "all", "--json").json()
    assert {r["status"] for r in everything} == {"resolved", "discarded"}

    audit = env.cli("audit", partner_id)
    assert audit.exit_code == 0
    lines = audit.stdout.splitlines()
    assert any(re.search(r"Salesforce Account\.Partner_Tier__c was set to \w+ by run run_\w+ at \S+ from PRM field tier "
                         r"under rule prefer_prm", line) for line in lines), audit.stdout
    assert any("replay.synced" in line and f"failed record {account['id']}" in line for line in lines)
    as_json = env.cli("audit", partner_id, "--json").json()
    tier = next(e for e in as_json if e["remote_field"] == "Partner_Tier__c")
    assert (tier["prm_field"], tier["rule"], tier["system"]) == ("tier", "prefer_prm", "salesforce")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["failures", "show", "424242"], "no failed record with id 424242"),
        (["failures", "replay", "424242"], "no failed record with id 424242"),
        (["failures", "replay"], "name failure ids"),
        (["failures", "discard", "424242", "--reason", "x"], "no failed record with id 424242"),
        (["failures", "list", "--since", "last tuesday"], "--since 'last tuesday'"),
        (["failures", "list", "--status", "bogus"], "--status 'bogus'"),
        (["audit", "ptn_nobody"], "no audit entries for 'ptn_nobody'"),
        (["review", "resolve", "1", "--take", "both"], "--take 'both'"),
    ],
    ids=["show-unknown", "replay-unknown", "replay-nothing", "discard-unknown", "bad-since", "bad-status",
         "audit-unknown", "bad-take"],
)
def test_bad_input_is_one_clear_line_and_exit_2(make_sync_env, args: list[str], message: str) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)

    result = env.cli(*args)

    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_parse_since() -> None:
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(UsageError):
        parse_since("soon")
