"""``prm-sync conflicts check`` and ``prm-sync registrations ...`` through the real entry point.

Run in-process through ``main()`` (the error boundary), so exit codes and the
one-line errors are exactly what a user sees; no remote system is involved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.cli import CliResult, invoke

from prm_sync.config.settings import ConflictRules
from prm_sync.model import DealRegistration, Opportunity, Partner
from prm_sync.rules.conflict import check_registrations
from prm_sync.store.db import Store
from prm_sync.store.records import get_record, save_records

HEADER = "id,company_name,domain,email,street,city,country,phone,product\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")  # keep table rows on one line
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    path = tmp_path / "prm_sync.yaml"
    path.write_text("version: 1\ndata_dir: data\nmappings: []\n"
                    "rules:\n  conflict: {conflict_threshold: 90, review_threshold: 70}\n")
    return path


def cli(config: Path, *args: str) -> CliResult:
    return invoke(["--config", str(config), *args])


def write_csv(tmp_path: Path, name: str, body: str, header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


@pytest.fixture
def csv_files(tmp_path: Path) -> tuple[Path, Path]:
    regs = write_csv(tmp_path, "regs.csv", "r1,Acme Inc,,jane@acme.com,,Austin,US,,platform\n"
                                           "r2,Zenith Foods,,,,Paris,FR,,platform\n"
                                           "r3,ZENITH FOODS SAS,,,,Paris,France,,platform\n")
    accounts = write_csv(tmp_path, "accounts.csv", "a1,ACME Corporation,acme.com,,1 Main St,Austin,US,,\n")
    return regs, accounts


def test_check_prints_a_table(config: Path, csv_files: tuple[Path, Path]) -> None:
    regs, accounts = csv_files
    result = cli(config, "conflicts", "check", "--registrations", str(regs), "--accounts", str(accounts))
    assert result.exit_code == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "conflict" in lines["r1"] and "a1" in lines["r1"] and "same domain acme.com" in lines["r1"]
    assert "clear" in lines["r2"]
    assert "conflict" in lines["r3"] and "r2" in lines["r3"]
    assert "3 registrations: 2 flagged (conflict or review), 1 clear" in result.stdout


def test_check_prints_json_rows(config: Path, csv_files: tuple[Path, Path]) -> None:
    regs, accounts = csv_files
    result = cli(config, "conflicts", "check", "-r", str(regs), "-a", str(accounts), "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert (rows["r1"]["decision"], rows["r1"]["score"], rows["r1"]["matched_ids"]) == ("conflict", 100.0, ["a1"])
    assert rows["r1"]["reasons"] == ["same domain acme.com as existing customer a1 (ACME Corporation)"]
    assert (rows["r2"]["decision"], rows["r3"]["matched_ids"]) == ("clear", ["r2"])


def test_a_bad_csv_exits_2_naming_file_and_line(config: Path, tmp_path: Path) -> None:
    regs = write_csv(tmp_path, "bad.csv", "r1,Acme,,,,,,,\nr2,,,,,,,,\nr1,Beta,,,,,,,\n")
    result = cli(config, "conflicts", "check", "--registrations", str(regs))
    assert result.exit_code == 2
    assert f"{regs}:3: empty company_name" in result.stderr
    assert f"{regs}:4: duplicate id 'r1' (first on line 2)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_missing_csv_exits_2(config: Path, tmp_path: Path) -> None:
    result = cli(config, "conflicts", "check", "--registrations", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2 and "cannot read CSV" in result.stderr


@pytest.fixture
def seeded_store(config: Path) -> Iterator[Store]:
    data = config.parent / "data"
    data.mkdir(exist_ok=True)
    store = Store.open(data_dir=data, auto_upgrade=True)
    now = datetime.now(UTC)
    with store.session() as session:
        save_records(session, [
            Partner(id="ptn_a", name="Alpha", tier="gold"),
            DealRegistration(id="reg_sub", partner_id="ptn_a", customer_name="Acme", submitted_at=now,
                             opportunity_id="opp_1"),
            DealRegistration(id="reg_rej", partner_id="ptn_a", customer_name="Globex", status="rejected", submitted_at=now),
            Opportunity(id="opp_1", name="Acme - Platform", registration_id="reg_sub"),
        ])
    yield store
    store.close()


def test_approve_sets_the_window_and_updates_the_opportunity(config: Path, seeded_store: Store) -> None:
    before = datetime.now(UTC)
    result = cli(config, "registrations", "approve", "reg_sub", "--reason", "first to register", "--actor", "cm@vendor")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("registration reg_sub: submitted -> approved, protected until ")
    assert "opportunity opp_1 updated" in result.stdout
    with seeded_store.session(readonly=True) as session:
        reg = get_record(session, "deal_registration", "reg_sub")
        opp = get_record(session, "opportunity", "opp_1")
    assert isinstance(reg, DealRegistration) and isinstance(opp, Opportunity)
    assert reg.expires_at is not None and reg.approved_at is not None and reg.approved_at >= before
    assert reg.expires_at - reg.approved_at == timedelta(days=90)
    assert (opp.registered_partner_id, opp.registration_status, opp.protection_expires_at) == ("ptn_a", "approved", reg.expires_at)

    extended = cli(config, "registrations", "extend", "reg_sub", "--reason", "customer asked", "--json")
    assert extended.exit_code == 0, extended.stderr
    assert json.loads(extended.stdout)["expires_at"].startswith((reg.expires_at + timedelta(days=30)).date().isoformat())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("approve", "reg_rej"), "error: registration reg_rej cannot move from rejected to approved; "
                     "allowed: none (final state)", id="illegal-move"),
        pytest.param(("extend", "reg_sub"), "error: registration reg_sub is submitted; only an approved registration "
                     "can be extended", id="extend-unapproved"),
        pytest.param(("reject", "reg_missing"), "error: no deal registration with id reg_missing", id="unknown-id"),
    ],
)
def test_refused_decisions_exit_2_with_one_line(config: Path, seeded_store: Store, args: tuple[str, str], message: str) -> None:
    result = cli(config, "registrations", *args, "--reason", "because")
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert result.stdout == ""


def test_override_and_dispute(config: Path, seeded_store: Store) -> None:
    disputed = cli(config, "registrations", "dispute", "reg_rej", "--reason", "we registered first")
    assert disputed.exit_code == 0 and "rejected -> under_review" in disputed.stdout
    overridden = cli(config, "registrations", "override", "reg_rej", "--to", "approved", "--reason", "VP decision")
    assert overridden.exit_code == 0 and "under_review -> approved" in overridden.stdout
    bad = cli(config, "registrations", "override", "reg_rej", "--to", "nonsense", "--reason", "x")
    assert bad.exit_code == 2 and "nonsense" in bad.stderr


def test_show_gives_the_admin_the_full_reason_the_crm_never_gets(config: Path, seeded_store: Store) -> None:
    now = datetime.now(UTC)
    with seeded_store.session() as session:
        save_records(session, [
            Partner(id="ptn_b", name="Beta"),
            DealRegistration(id="reg_late", partner_id="ptn_b", customer_name="ACME Inc", submitted_at=now + timedelta(hours=1)),
        ])
        check_registrations(session, ["reg_late"], ConflictRules(), now + timedelta(hours=2))
        late = get_record(session, "deal_registration", "reg_late")
    assert isinstance(late, DealRegistration) and "reg_sub" not in (late.conflict_reason or "")

    shown = cli(config, "conflicts", "show", "reg_late")
    assert shown.exit_code == 0, shown.stderr
    assert "conflict" in shown.stdout and "registration reg_sub by partner ptn_a" in shown.stdout
    as_json = cli(config, "conflicts", "show", "reg_late", "--json")
    [check] = json.loads(as_json.stdout)
    assert check["matches"][0]["record_id"] == "reg_sub" and check["matches"][0]["partner_id"] == "ptn_a"
    missing = cli(config, "conflicts", "show", "reg_sub")
    assert missing.exit_code == 2 and missing.stderr.strip() == "error: no conflict check recorded for registration 'reg_sub'"
