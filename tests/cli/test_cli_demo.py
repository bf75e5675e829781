"""``prm-sync demo`` shows outcomes as the CRMs and the ERP hold them, in text and as JSON."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from fixtures.cli import invoke

REPO = Path(__file__).resolve().parents[2]


def _demo_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config.update(data_dir=str(tmp_path / "data"), mappings=[str(REPO / "mappings")])
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_reports_what_the_crms_and_the_erp_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _demo_config(tmp_path)
    monkeypatch.setenv("PRM_SYNC_OBSERVERS", "on")  # as a user runs it: the runs reach a Dagster instance
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = invoke(["demo", "--scale", "0.02", "--seed", "5", "--demo-config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = result.json()
    _the_demo_runs_are_in_dagster(summary, tmp_path / "data" / "dagster_home")
    outcomes = summary["outcomes"]
    assert summary["open_failures"] == 0 and [run["status"] for run in summary["runs"]] == ["succeeded"] * 3
    # every completion by a partner contact is credited to that contact's partner (the acceptance floor: 99 %)
    assert outcomes["learners"]["by_partner_contacts"] > 0 and outcomes["learners"]["share_pct"] >= 99.0
    tiers = outcomes["tiers"]
    assert tiers["promoted"] > 0 and tiers["crms_agree"] == tiers["partners"]
    assert all(change["salesforce"].lower() == change["after"] == change["hubspot"] for change in tiers["examples"])
    assert outcomes["attributed"]["salesforce"] + outcomes["attributed"]["hubspot"] > 0
    payouts = outcomes["payouts"]
    assert payouts["bills"] > 0 and float(payouts["paid"]) > 0  # accounts payable paid some: read back from Odoo


def test_demo_reads_at_80_columns_and_its_next_commands_paste_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(["demo", "--scale", "0.02", "--seed", "5", "--demo-config", str(_demo_config(tmp_path))])
    assert result.exit_code == 0, result.output
    text, _, after = result.stdout.partition("where to look next")
    assert "…" not in text, "a table cell was cut"
    assert not [line for line in text.splitlines() if len(line.rstrip()) > 80]
    headers = [line.split() for line in text.splitlines() if line.startswith("system")]
    assert len(headers) == 3 and all(h[:5] == ["system", "entity", "read", "created", "updated"] for h in headers)
    steps = after.splitlines()[1:]
    assert steps[0].strip().startswith("export PRM_SYNC_CONFIG=") and "PRM_SYNC_SANDBOX_STATE=" in steps[0]
    commands = [line.split("#")[0].split() for line in steps[1:]]
    assert [c[1:] for c in commands if c[0].endswith("prm-sync")][1:] == [
        ["status"], ["failures"], ["learners", "unmatched"], ["sync"]]  # each whole on its own line


def _the_demo_runs_are_in_dagster(summary: dict, home: Path) -> None:
    """No DAGSTER_HOME: the demo keeps an instance in its data folder, reports its runs there and hands it on."""
    from dagster import AssetKey, DagsterInstance

    assert summary["dagster_home"] == str(home.resolve()) and "DAGSTER_HOME" not in os.environ  # set back
    assert f"DAGSTER_HOME={home.resolve()}" in summary["next_steps"][0]  # exported for `dagster dev` and the CLI
    with DagsterInstance.from_config(str(home)) as instance:
        partners = instance.get_latest_materialization_event(AssetKey(["salesforce", "partners"]))
        assert partners is not None, "the demo's syncs are not in Dagster: 'Never materialized'"
        assert partners.asset_materialization.tags["prm_sync/run_id"] == summary["runs"][-1]["run_id"]
        health = instance.get_latest_materialization_event(AssetKey(["prm", "sync_health"]))
        assert health is not None and health.asset_materialization.metadata["status"].value == "ok"
