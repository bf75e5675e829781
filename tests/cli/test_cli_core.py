"""The command line as a new user meets it: help, validate, db, and errors without tracebacks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures.cli import invoke

REPO = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The console script in-process; returns (exit code, stdout+stderr)."""
    result = invoke(args)
    return result.exit_code, result.output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped config and mappings, with the data folder inside tmp_path."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "prm_sync.yaml", tmp_path / "config" / "prm_sync.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("PRM_SYNC_CONFIG", raising=False)
    monkeypatch.delenv("PRM_SYNC_SANDBOX_STATE", raising=False)
    return tmp_path


def test_help_lists_the_command_groups(capsys, monkeypatch):
    code, out = run_cli(["--help"], capsys, monkeypatch)
    assert code == 0
    for group in ("sync", "demo", "validate", "db", "sandbox", "mappings"):
        assert group in out


def test_shipped_configuration_and_mappings_validate(project, capsys, monkeypatch):
    code, out = run_cli(["validate", "--json"], capsys, monkeypatch)
    assert code == 0, out
    assert '"ok": true' in out


def test_three_mistakes_are_reported_at_once_with_their_lines(project, capsys, monkeypatch):
    config = project / "config" / "prm_sync.yaml"
    text = config.read_text()
    text = text.replace("  overlap_seconds: 300", "  overlap_secnds: 300")  # misspelled key
    text = text.replace('  full_sync_cron: "0 2 * * *"', '  full_sync_cron: "every night"')  # bad cron
    text = text.replace("    conflict_threshold: 90", "    conflict_threshold: high")  # wrong type
    config.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, start=1) if fragment in line)

    code, out = run_cli(["validate"], capsys, monkeypatch)
    assert code == 2
    assert "3 problems found" in out
    assert f"prm_sync.yaml:{line_of('overlap_secnds')}" in out and "did you mean 'overlap_seconds'" in out
    assert f"prm_sync.yaml:{line_of('every night')}" in out and "five fields" in out
    assert f"prm_sync.yaml:{line_of('conflict_threshold: high')}" in out
    assert "Traceback" not in out


def test_yaml_syntax_error_names_file_and_line(project, capsys, monkeypatch):
    config = project / "config" / "prm_sync.yaml"
    config.write_text("version: 1\nsystems:\n  salesforce: [unclosed\n")
    code, out = run_cli(["validate"], capsys, monkeypatch)
    assert code == 2
    assert "prm_sync.yaml:" in out
    assert "Traceback" not in out


def test_missing_secret_names_the_environment_variable(project, capsys, monkeypatch):
    for name in ("SALESFORCE_CONSUMER_KEY", "SALESFORCE_PRIVATE_KEY", "HUBSPOT_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, out = run_cli(["sync", "--system", "salesforce"], capsys, monkeypatch)
    assert code == 2
    assert "2 problems found" in out  # both of the JWT sign-in's secrets, at once
    assert "export SALESFORCE_CONSUMER_KEY" in out and "export SALESFORCE_PRIVATE_KEY" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["sync", "--system", "sap"], "unknown system or entity: sap", id="unknown-system"),
        pytest.param(["sync", "--entity", "partners"], "unknown system or entity: partners", id="unknown-entity"),
        pytest.param(["--config", "nowhere.yaml", "validate"], "nowhere.yaml not found", id="missing-config"),
        pytest.param(["--sandbox-state", "missing.json", "validate"], "missing.json not found", id="missing-state-file"),
    ],
)
def test_bad_input_is_one_clear_line(project, capsys, monkeypatch, args, expected):
    code, out = run_cli(args, capsys, monkeypatch)
    assert code == 2
    assert expected in out
    assert "Traceback" not in out


def test_db_upgrade_then_current(project, capsys, monkeypatch):
    code, out = run_cli(["db", "current", "--json"], capsys, monkeypatch)
    assert code == 0 and '"current": null' in out and '"up_to_date": false' in out
    code, out = run_cli(["db", "upgrade"], capsys, monkeypatch)
    assert code == 0 and "empty ->" in out
    code, out = run_cli(["db", "current", "--json"], capsys, monkeypatch)
    assert code == 0 and '"up_to_date": true' in out
    assert (project / ".data" / "prm_sync.sqlite").exists()


def test_mappings_schema_test_and_plan(project, capsys, monkeypatch):
    code, out = run_cli(["mappings", "schema", "--out", str(project / "schema.json")], capsys, monkeypatch)
    assert code == 0 and (project / "schema.json").exists()
    code, out = run_cli(["mappings", "test"], capsys, monkeypatch)
    assert code == 0 and "mapping tests pass" in out
    code, out = run_cli(["mappings", "plan", "--offline", "--json"], capsys, monkeypatch)  # no system to read
    assert code == 0 and '"objects"' in out


def test_a_failing_mapping_test_exits_4_with_a_diff(project, capsys, monkeypatch):
    bad = project / "mappings" / "tests" / "broken.yaml"
    bad.write_text(
        "version: 1\ntests:\n  - name: tier is wrong on purpose\n    system: salesforce\n    entity: partner\n"
        "    given: {prm: {id: ptn_1, name: Acme, tier: gold}}\n    expect: {remote: {Partner_Tier__c: Silver}}\n"
    )
    code, out = run_cli(["mappings", "test", str(bad)], capsys, monkeypatch)
    assert code == 4  # differences found (the exit-code table), not an internal error
    assert "FAIL" in out and "Silver" in out and "Gold" in out


def test_db_prune_previews_then_applies_the_configured_retention(project, capsys, monkeypatch):
    import json
    from datetime import UTC, datetime, timedelta

    from prm_sync.store.db import Store
    from prm_sync.store.ledger import LedgerEntry, append_ledger

    config = project / "config" / "prm_sync.yaml"
    config.write_text(config.read_text().replace("  ledger_days: 30 ", "  ledger_days: 7 "))
    assert run_cli(["db", "upgrade"], capsys, monkeypatch)[0] == 0
    now = datetime.now(UTC)
    with Store.open(data_dir=project / ".data") as store, store.session() as session:
        append_ledger(session, [LedgerEntry(system="hubspot", remote_object="companies", remote_id=str(i),
                                            payload_hash="h", written_at=now - timedelta(days=days))
                                for i, days in enumerate((30, 8, 6))])
    code, out = run_cli(["db", "prune", "--dry-run", "--json"], capsys, monkeypatch)
    assert code == 0
    preview = {t["table"]: (t["keep_days"], t["rows"]) for t in json.loads(out)["tables"]}
    assert preview["write_ledger"] == (7, 2) and preview["audit_log"] == (365, 0)
    code, out = run_cli(["db", "prune", "--vacuum"], capsys, monkeypatch)
    assert code == 0 and "deleted 2 rows; database file compacted (16 KB pages)" in out
    code, out = run_cli(["db", "prune", "--dry-run"], capsys, monkeypatch)
    assert code == 0 and "would delete 0 rows" in out
