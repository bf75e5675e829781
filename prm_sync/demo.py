"""``prm-sync demo``: the whole product on the embedded default, end to end.

Starts the four sandboxes, seeds them and the PRM store from the demo
generator, runs a full two-way sync, then plays a day of business (a rep
edits a partner in Salesforce, deals close won in both CRMs, the ERP
invoices and collects them) and syncs again; accounts payable then pays some
of the payout bills and a third sync reads that back. The summary shows the
outcomes as the CRMs and the ERP hold them, read back through the connectors
(``prm_sync.demo_outcomes``): partners promoted or demoted and why,
registrations protecting open deals, won deals attributed, payouts owed and
paid, and the share of completions credited to the learner's partner.
Sandbox state is saved under the demo's data folder so the CLI and the
Dagster UI can be pointed at the same world later.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import DemoData, generate
from connectors.sandbox.seeding import seed_sandboxes
from prm_sync import defaults
from prm_sync.config import AppConfig, apply_sandbox_state, load_config
from prm_sync.demo_outcomes import Outcomes, read_outcomes
from prm_sync.errors import FatalError
from prm_sync.health.observers import HealthChange
from prm_sync.model import CourseCompletion, DealRegistration, Opportunity, Partner, PartnerContact
from prm_sync.runtime import Runtime, open_runtime
from prm_sync.setup import SETUP_SYSTEMS, run_setup
from prm_sync.store import failures, records
from prm_sync.store.db import Store
from prm_sync.sync.stats import RunReport

Progress = Callable[[str], None]
Report = Callable[[AppConfig, Store, HealthChange], Any]  # prm_sync.cli.report.notify


class DemoSummary(BaseModel):
    data_dir: str
    state_file: str
    seeded: dict[str, int]
    runs: list[dict[str, Any]]
    business: dict[str, int] = Field(default_factory=dict)  # what users did between the runs
    outcomes: Outcomes = Field(default_factory=Outcomes)  # what the CRMs and the ERP hold afterwards
    open_failures: int = 0
    rule_decisions: dict[str, int] = Field(default_factory=dict)
    next_steps: list[str] = Field(default_factory=list)
    dagster_home: str | None = None  # the Dagster instance the demo's runs were reported to


def seed_store(runtime: Runtime, data: DemoData) -> int:
    """Partners, their people and their registrations start in the PRM store."""
    rows = (
        [Partner.model_validate(p) for p in data.partners]
        + [PartnerContact.model_validate(c) for c in data.partner_contacts]
        + [DealRegistration.model_validate(r) for r in data.registrations]
    )
    with runtime.store.session() as session:
        records.save_records(session, rows)
    return len(rows)


def _close_won(sf: Any, hs: Any, opp: Opportunity) -> bool:
    """The rep marks the deal Closed Won in whichever CRM owns it."""
    if "salesforce" in opp.external_ids and sf is not None:
        sf.update_record("Opportunity", opp.external_ids["salesforce"], {"StageName": "Closed Won"})
        return True
    if "hubspot" in opp.external_ids and hs is not None:
        hs.update_record("deals", opp.external_ids["hubspot"], {"dealstage": "closedwon"})
        return True
    return False


def _bill(erp: Any, opp: Opportunity, day: str) -> int:
    """Finance invoices the won deal in the ERP; the quote carried the deal's CRM id over (``x_opportunity_ref``)."""
    amount = float(opp.amount or 50_000)
    customer = erp.insert_records("res.partner", [{"name": opp.name.split(" - ")[0], "is_company": True}])[0]
    return erp.insert_records("account.move", [{
        "move_type": "out_invoice", "partner_id": customer, "x_opportunity_ref": opp.external_ids.get("salesforce") or opp.external_ids.get("hubspot") or opp.id,
        "amount_total": amount, "invoice_date": day, "state": "posted",
    }])[0]


def simulate_business(cluster: SandboxCluster, runtime: Runtime, data: DemoData, rng: random.Random) -> dict[str, int]:
    """What users do between two syncs, done directly in the sandboxes (as a user would in the UI).

    The deals that close won are the ones protected by an approved registration
    (linked by the first sync), so the second sync shows attribution; most are
    invoiced and paid, one paid deal is partly refunded (a refund plus a credit
    memo, as Odoo books it) and one invoice stays unpaid: commission accrues only
    on money collected.
    """
    done = {"partner_edits": 0, "deals_won": 0, "invoices": 0, "payments": 0, "refunds": 0}
    sf: Any = cluster.apps.get("salesforce")
    hs: Any = cluster.apps.get("hubspot")
    erp: Any = cluster.apps.get("erp")
    if sf is not None:
        partners = [a for a in sf.all_records("Account") if a.get("IsPartner")]
        for account in partners[:3]:
            sf.update_record("Account", account["Id"], {"Phone": f"+1 555 {rng.randrange(1000, 9999)}"})
            done["partner_edits"] += 1
    with runtime.store.session(readonly=True) as session:
        open_opps = [o for o in records.list_records(session, Opportunity.entity) if isinstance(o, Opportunity) and not o.is_closed]
    protected = [o for o in open_opps if o.registration_id]
    # half of the protected deals close won (the attribution story); any open deals when none is protected
    chosen = protected[: max(3, len(protected) // 2)] if protected else open_opps[:3]
    day = (data.now + timedelta(days=1)).date().isoformat()
    won = [opp for opp in chosen if _close_won(sf, hs, opp)]
    done["deals_won"] = len(won)
    if erp is None:
        return done
    for position, opp in enumerate(won):
        invoice = _bill(erp, opp, day)
        done["invoices"] += 1
        if position % 4 == 3:
            continue  # still unpaid: its commission must not accrue yet
        amount = float(opp.amount or 50_000)
        erp.register_payment(invoice, amount, day)
        done["payments"] += 1
        if done["refunds"] == 0:
            refund = round(amount * 0.2, 2)
            erp.credit_memo(invoice, refund, day)
            erp.refund(invoice, refund, day)
            done["refunds"] += 1
    return done


def pay_payout_bills(cluster: SandboxCluster, day: str) -> int:
    """Accounts payable pays every other payout bill prm-sync wrote (the rest stay owed)."""
    erp: Any = cluster.apps.get("erp")
    if erp is None:
        return 0
    bills = [m for m in erp.all_records("account.move") if m.get("move_type") == "in_invoice" and m.get("x_prm_id")]
    for bill in bills[::2]:
        erp.pay_bill(bill["id"], float(bill.get("amount_total") or 0), day)
    return len(bills[::2])


def run_demo(
    config_path: Path | None = None,
    *,
    seed: int = 7,
    scale: float = 1.0,
    keep_data: bool = False,
    progress: Progress | None = None,
    report: Report | None = None,
) -> DemoSummary:
    """Sandboxes, setup, seed, three syncs with a day of business between them, then what the systems hold.

    ``report`` (the CLI's ``notify``) tells the orchestrators about the three
    runs: the Dagster instance in ``DAGSTER_HOME``, or else one the demo keeps
    in its data folder, which the next steps hand to ``dagster dev``, so the
    UI shows the demo's syncs instead of "Never materialized".
    """
    say = progress or (lambda _message: None)
    config_path = config_path or defaults.demo_config_file()
    config = load_config(config_path)
    data_dir = config.data_dir
    if data_dir.exists() and not keep_data:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    dagster_home = Path(os.environ.get("DAGSTER_HOME", "").strip() or data_dir / "dagster_home").resolve()
    cluster = SandboxCluster(data_dir / "sandbox", persist=True)
    say("starting the Salesforce, HubSpot, LMS and ERP sandboxes")
    cluster.start()
    try:
        state_file = cluster.write_state(data_dir / "sandbox.json")
        config = apply_sandbox_state(config, state_file)
        data = generate(seed=seed, scale=scale)
        runtime = open_runtime(config)
        try:
            say("prm-sync setup: the custom fields, properties and objects a new org and portal lack")
            crms = [name for name in runtime.config.systems.enabled() if name in SETUP_SYSTEMS]
            setup_plan = run_setup(runtime.mappings, runtime.connectors(crms))
            if setup_plan.exit_code() != 0:
                refused = [f"{i.label}: {i.message}" for i in setup_plan.items if i.outcome != "created"]
                msg = "setup could not create: " + "; ".join(refused)
                raise FatalError(msg)
            say("seeding the sandboxes and the PRM store")
            seeded = seed_sandboxes(cluster, data)
            seeded["prm"] = seed_store(runtime, data)
            say("first sync: everything, both ways")
            first = runtime.engine().run(trigger="demo", progress=lambda event: say(str(event)))
            say("a day of business: a partner edited in Salesforce, deals won, invoices paid")
            business = simulate_business(cluster, runtime, data, random.Random(seed))
            say("second sync: only what changed")
            second = runtime.engine().run(trigger="demo", progress=lambda event: say(str(event)))
            say("accounts payable pays some of the payout bills")
            business["payout_bills_paid"] = pay_payout_bills(cluster, (data.now + timedelta(days=2)).date().isoformat())
            say("third sync: the ERP's payments read back")
            third = runtime.engine().run(trigger="demo", progress=lambda event: say(str(event)))
            reported = report is not None and _report_runs(report, runtime, [first, second, third], dagster_home)
            say("reading back what Salesforce, HubSpot and the ERP hold")
            summary = _summarise(config, config_path, runtime, state_file, seeded, [first, second, third], business, data,
                                 dagster_home if reported else None)
        finally:
            runtime.close()
    finally:
        cluster.stop()
    return summary


def learner_coverage(runtime: Runtime, data: DemoData) -> dict[str, Any]:
    """How many stored completions by a partner contact are credited to that contact's partner.

    The demo generator knows whose learner each statement was; the product
    only saw the email. This is the check that the two agree.
    """
    expected = {c["email"].strip().lower(): c["partner_id"] for c in data.partner_contacts if c.get("email")}
    with runtime.store.session(readonly=True) as session:
        stored = [c for c in records.list_records(session, CourseCompletion.entity) if isinstance(c, CourseCompletion)]
    by_contacts = [c for c in stored if c.learner_email.strip().lower() in expected]
    credited = sum(1 for c in by_contacts if c.partner_id == expected[c.learner_email.strip().lower()])
    share = round(100.0 * credited / len(by_contacts), 2) if by_contacts else 100.0
    return {"completions": len(stored), "by_partner_contacts": len(by_contacts),
            "credited_to_their_partner": credited, "share_pct": share}


def _run_row(report: RunReport) -> dict[str, Any]:
    return {"run_id": report.run_id, "status": report.status, **report.totals(),
            "rule_decisions": report.rule_decisions,
            "slices": [s.model_dump(include={"system", "entity", "read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "api_calls"}) for s in report.slices]}


def _cli() -> str:
    """How to call prm-sync from here: the script beside this interpreter, relative when it is below."""
    script = Path(sys.executable).parent / "prm-sync"
    if not script.exists():
        return "prm-sync"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _report_runs(report: Report, runtime: Runtime, runs: list[RunReport], home: Path) -> bool:
    """The runs, reported with ``DAGSTER_HOME`` pointing at ``home`` (set back as it was afterwards); True if any
    observer took them (none does with ``PRM_SYNC_OBSERVERS=off`` or without the Dagster project installed)."""
    home.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        said = report(runtime.config, runtime.store, HealthChange(
            kind="run", slices=sorted({(s.system, s.entity) for r in runs for s in r.slices}),
            run_ids=[r.run_id for r in runs], actor="demo"))
    finally:
        if before is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = before
    return bool(said)


def _next_steps(cli: str, config_path: Path, state_file: Path, sandbox_dir: Path,
                dagster_home: Path | None = None) -> list[str]:
    """Commands to paste, one per line: the environment once, then each command with what it shows."""
    dagster = str(Path(cli).with_name("dagster")) if "/" in cli else "dagster"
    steps = [
        (f"{cli} sandbox up --work-dir {sandbox_dir} --persist --state-file $PRM_SYNC_SANDBOX_STATE &",
         "the demo's sandboxes, again"),
        (f"{cli} status", "sync health, slice by slice"),
        (f"{cli} failures", "failed records, grouped by cause"),
        (f"{cli} learners unmatched", "learners no partner contact matches"),
        (f"{cli} sync", "sync again"),
        (f"{dagster} dev", "the Dagster UI"),
    ]
    width = max(len(command) for command, _ in steps[1:])
    home = f" DAGSTER_HOME={dagster_home}" if dagster_home is not None else ""
    return [f"export PRM_SYNC_CONFIG={config_path} PRM_SYNC_SANDBOX_STATE={state_file}{home}",
            *(f"{command.ljust(width)}   # {what}" for command, what in steps)]


def _summarise(config: AppConfig, config_path: Path, runtime: Runtime, state_file: Path, seeded: dict[str, int],
               reports: list[RunReport], business: dict[str, int], data: DemoData,
               dagster_home: Path | None = None) -> DemoSummary:
    outcomes = read_outcomes(runtime, [r.run_id for r in reports], learner_coverage(runtime, data))
    with runtime.store.session(readonly=True) as session:
        open_failures = failures.count_open(session)
    decisions: dict[str, int] = {}
    for report in reports:
        for key, value in report.rule_decisions.items():
            decisions[key] = decisions.get(key, 0) + value
    cli = _cli()
    return DemoSummary(
        data_dir=str(config.data_dir), state_file=str(state_file), seeded=seeded,
        runs=[_run_row(r) for r in reports], business=business, outcomes=outcomes, open_failures=open_failures,
        rule_decisions=decisions,
        next_steps=_next_steps(cli, config_path, state_file, config.data_dir / "sandbox", dagster_home),
        dagster_home=str(dagster_home) if dagster_home is not None else None,
    )
