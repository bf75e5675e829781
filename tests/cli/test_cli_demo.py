"""``prm-sync demo`` shows outcomes as the CRMs and the ERP hold them, in text and as JSON."""

from __future__ import annotations

from pathlib import Path

import yaml
from fixtures.cli import invoke

REPO = Path(__file__).resolve().parents[2]


def test_demo_reports_what_the_crms_and_the_erp_hold(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config.update(data_dir=str(tmp_path / "data"), mappings=[str(REPO / "mappings")])
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config))

    result = invoke(["demo", "--scale", "0.02", "--seed", "5", "--demo-config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = result.json()
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
