"""The channel reports on a small, hand-computed world, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from prm_sync.model import (
    Attribution,
    Certification,
    Closure,
    DealRegistration,
    Opportunity,
    Partner,
    PartnerContact,
    Payout,
)
from prm_sync.reports import REPORTS, run_report, run_reports, to_csv, write_parquet_report
from prm_sync.store import records
from prm_sync.store.db import Store

T = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def seed(store: Store) -> None:
    gold, silver = "ptn_gold", "ptn_silver"
    rows = [
        Partner(id=gold, name="Gold Co", tier="gold"),
        Partner(id=silver, name="Silver Co", tier="silver"),
        PartnerContact(id="pcn_a", partner_id=gold, last_name="A", email="a@gold.example"),
        PartnerContact(id="pcn_b", partner_id=gold, last_name="B", email="b@gold.example"),
        PartnerContact(id="pcn_c", partner_id=silver, last_name="C", email="c@silver.example"),
        Certification(id="crt_1", learner_email="a@gold.example", partner_id=gold, product_line="platform",
                      name="Platform", issued_at=T, expires_at=T + timedelta(days=365), status="active"),
        Certification(id="crt_2", learner_email="A@gold.example", partner_id=gold, product_line="analytics",
                      name="Analytics", issued_at=T, expires_at=T + timedelta(days=20), status="expiring"),
        Certification(id="crt_3", learner_email="b@gold.example", partner_id=gold, product_line="security",
                      name="Security", issued_at=T - timedelta(days=400), expires_at=T, status="expired"),
        DealRegistration(id="reg_1", partner_id=gold, customer_name="Acme", status="won", submitted_at=T,
                         approved_at=T + timedelta(hours=24), conflict_decision="clear", opportunity_id="opp_1"),
        DealRegistration(id="reg_2", partner_id=gold, customer_name="Globex", status="approved",
                         submitted_at=T + timedelta(days=4), approved_at=T + timedelta(days=4, hours=72),
                         conflict_decision="review", opportunity_id="opp_2"),
        DealRegistration(id="reg_3", partner_id=gold, customer_name="Initech", status="rejected",
                         submitted_at=T + timedelta(days=5), conflict_decision="conflict"),
        DealRegistration(id="reg_4", partner_id=silver, customer_name="Globex", status="approved",
                         submitted_at=datetime(2026, 10, 1, tzinfo=UTC),
                         approved_at=datetime(2026, 10, 3, tzinfo=UTC), opportunity_id="opp_2"),
        Opportunity(id="opp_1", name="Acme - Platform", amount=Decimal("100000"), is_closed=True, is_won=True,
                    close_date=date(2026, 8, 15), registered_partner_id=gold),
        Opportunity(id="opp_2", name="Globex - Analytics", amount=Decimal("50000"), close_date=date(2026, 12, 1),
                    registered_partner_id=gold),
        Closure(id="clo_1", opportunity_id="opp_1", outcome="won", amount=Decimal("100000"),
                close_date=date(2026, 8, 15)),
        Attribution(id="att_1", closure_id="clo_1", opportunity_id="opp_1", partner_id=gold, role="sourced",
                    split_pct=Decimal("10"), amount=Decimal("10000")),
        Attribution(id="att_2", closure_id="clo_1", opportunity_id="opp_1", partner_id=silver, role="influenced",
                    split_pct=Decimal("2"), amount=Decimal("2000")),
        Attribution(id="att_3", closure_id="clo_1", opportunity_id="opp_1", partner_id=silver, role="influenced",
                    split_pct=Decimal("5"), amount=Decimal("5000"), reversed=True),  # reopened once: ignored
        Payout(id="pout_1", partner_id=gold, amount=Decimal("1000"), period="2026-08", status="paid"),
        Payout(id="pout_2", partner_id=gold, amount=Decimal("500"), period="2026-09", status="pending"),
        Payout(id="pout_3", partner_id=silver, amount=Decimal("200"), period="2026-09", status="submitted",
               clawback=Decimal("-50")),
    ]
    with store.session() as session:
        records.save_records(session, rows)


def test_pipeline_and_revenue_per_partner_and_tier(store: Store) -> None:
    seed(store)
    results = run_reports(store, ["partner_performance", "tier_performance"])

    by_key = {(r["partner_id"], r["quarter"]): r for r in results["partner_performance"]}
    assert set(by_key) == {("ptn_gold", "2026-Q3"), ("ptn_silver", "2026-Q3"), ("ptn_gold", "2026-Q4"),
                           ("ptn_silver", "2026-Q4")}
    assert by_key[("ptn_gold", "2026-Q3")] | {} == {
        "partner_id": "ptn_gold", "partner_name": "Gold Co", "tier": "gold", "quarter": "2026-Q3",
        "sourced_pipeline": 0.0, "sourced_open_deals": 0, "influenced_pipeline": 0.0, "sourced_revenue": 100000.0,
        "influenced_revenue": 0.0, "attributed_credit": 10000.0, "deals_won": 1,
    }
    assert by_key[("ptn_silver", "2026-Q3")]["influenced_revenue"] == 100000.0
    assert by_key[("ptn_silver", "2026-Q3")]["attributed_credit"] == 2000.0  # the reversed attribution is out
    assert by_key[("ptn_gold", "2026-Q4")]["sourced_pipeline"] == 50000.0
    assert by_key[("ptn_silver", "2026-Q4")]["influenced_pipeline"] == 50000.0
    tiers = {(r["tier"], r["quarter"]): r for r in results["tier_performance"]}
    assert tiers[("gold", "2026-Q3")]["sourced_revenue"] == 100000.0
    assert tiers[("silver", "2026-Q4")]["influenced_pipeline"] == 50000.0
    assert tiers[("gold", "2026-Q4")]["partners"] == 1


def test_conversion_conflicts_and_time_to_approve(store: Store) -> None:
    seed(store)
    results = run_reports(store, ["registration_conversion", "time_to_approve"])

    conversion = {(r["tier"], r["quarter"]): r for r in results["registration_conversion"]}
    gold = conversion[("gold", "2026-Q3")]
    assert (gold["registrations"], gold["approved"], gold["rejected"], gold["won"]) == (3, 2, 1, 1)
    assert (gold["approval_rate"], gold["win_rate"]) == (0.6667, 0.5)
    assert (gold["checked"], gold["conflicts"], gold["reviews"], gold["conflict_rate"]) == (3, 1, 1, 0.6667)
    assert conversion[("silver", "2026-Q4")]["conflict_rate"] is None  # nothing checked: no rate, not 0
    approve = {(r["tier"], r["quarter"]): r for r in results["time_to_approve"]}
    assert approve[("gold", "2026-Q3")] == {"tier": "gold", "quarter": "2026-Q3", "approved": 2, "mean_hours": 48.0,
                                            "median_hours": 48.0, "p90_hours": 67.2, "max_hours": 72.0}
    assert approve[("silver", "2026-Q4")]["median_hours"] == 48.0


def test_certification_coverage_and_payouts(store: Store) -> None:
    seed(store)
    coverage = {r["partner_id"]: r for r in run_report(store, "certification_coverage")}
    assert coverage["ptn_gold"] | {} == {
        "partner_id": "ptn_gold", "partner_name": "Gold Co", "tier": "gold", "contacts": 2, "certified_people": 1,
        "coverage": 0.5, "active_certifications": 2, "expiring": 1, "expired": 1, "product_lines": "analytics, platform",
    }
    assert (coverage["ptn_silver"]["certified_people"], coverage["ptn_silver"]["coverage"]) == (0, 0.0)

    payouts = {(r["partner_id"], r["period"]): r for r in run_report(store, "payouts")}
    assert (payouts[("ptn_gold", "2026-08")]["paid"], payouts[("ptn_gold", "2026-08")]["owed"]) == (1000.0, 0.0)
    assert payouts[("ptn_gold", "2026-09")]["owed"] == 500.0
    assert (payouts[("ptn_silver", "2026-09")]["owed"], payouts[("ptn_silver", "2026-09")]["clawback"]) == (200.0, -50.0)


def test_empty_store_gives_empty_reports_and_files(store: Store, tmp_path: Path) -> None:
    assert all(rows == [] for rows in run_reports(store).values())
    assert to_csv([]) == ""
    out = write_parquet_report(store, "payouts", tmp_path / "payouts.parquet")
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT count(*) FROM '{out}'").fetchone() == (0,)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The console script's entry point in-process (its error boundary included)."""
    from prm_sync.cli.app import main

    monkeypatch.setattr(sys, "argv", ["prm-sync", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_reports_csv_parquet_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prm_sync.config import load_config
    from prm_sync.runtime import open_store

    config = tmp_path / "prm_sync.yaml"
    repo = Path(__file__).resolve().parents[2]
    config.write_text(f"version: 1\ndata_dir: {tmp_path / 'data'}\nmappings: [{repo / 'mappings'}]\n")
    store = open_store(load_config(config))
    seed(store)
    store.close()
    base = ["--config", str(config), "reports"]

    code, out = _cli([*base, "payouts", "--format", "csv"], capsys, monkeypatch)
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0] == "partner_id,partner_name,tier,period,owed,paid,clawback,cancelled"
    assert "ptn_silver,Silver Co,silver,2026-09,200.0,0.0,-50.0,0" in lines

    folder = tmp_path / "out"
    code, out = _cli([*base, "--format", "parquet", "--out", str(folder)], capsys, monkeypatch)
    assert code == 0, out
    assert sorted(p.stem for p in folder.glob("*.parquet")) == sorted(REPORTS)
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT sum(owed) FROM '{folder / 'payouts.parquet'}'").fetchone()[0] == pytest.approx(700)

    code, out = _cli([*base, "time_to_approve"], capsys, monkeypatch)
    assert code == 0 and "median_hours" in out
    code, out = _cli([*base, "nope"], capsys, monkeypatch)
    assert code == 2 and "unknown report 'nope'" in out and "Traceback" not in out
    code, out = _cli([*base, "payouts", "--format", "parquet"], capsys, monkeypatch)
    assert code == 2 and "needs --out" in out
