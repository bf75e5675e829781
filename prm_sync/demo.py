"""``prm-sync demo``: the whole product on the embedded default, end to end.

Starts the four sandboxes, seeds them and the PRM store from the demo
generator, runs a full two-way sync, then plays a day of business (a rep
edits a partner in Salesforce, deals close won in both CRMs, the ERP
invoices and collects them) and syncs again, so the summary shows partners
and registrations inside the CRMs, closures attributed, and commission
accrued only on paid invoices. Sandbox state is saved under the demo's data
folder so the CLI and the Dagster UI can be pointed at the same world later.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import DemoData, generate
from connectors.sandbox.seeding import seed_sandboxes
from prm_sync.config import AppConfig, apply_sandbox_state, load_config
from prm_sync.model import DealRegistration, Partner, PartnerContact
from prm_sync.runtime import Runtime, open_runtime
from prm_sync.store import failures, records
from prm_sync.sync.stats import RunReport

Progress = Callable[[str], None]


class DemoSummary(BaseModel):
    data_dir: str
    state_file: str
    seeded: dict[str, int]
    runs: list[dict[str, Any]]
    crm_samples: dict[str, Any] = Field(default_factory=dict)
    open_failures: int = 0
    rule_decisions: dict[str, int] = Field(default_factory=dict)
    next_steps: list[str] = Field(default_factory=list)


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


def simulate_business(cluster: SandboxCluster, runtime: Runtime, data: DemoData, rng: random.Random) -> dict[str, int]:
    """What users do between two syncs, done directly in the sandboxes (as a user would in the UI)."""
    done = {"partner_edits": 0, "deals_won": 0, "invoices": 0, "payments": 0, "refunds": 0}
    sf, hs, erp = cluster.apps.get("salesforce"), cluster.apps.get("hubspot"), cluster.apps.get("erp")
    if sf is not None:
        partners = [a for a in sf.all_records("Account") if a.get("IsPartner")]  # type: ignore[attr-defined]
        for account in partners[:3]:
            sf.update_record("Account", account["Id"], {"Phone": f"+1 555 {rng.randrange(1000, 9999)}"})  # type: ignore[attr-defined]
            done["partner_edits"] += 1
    # deals linked to approved registrations close won in the CRM
    with runtime.store.session(readonly=True) as session:
        open_opps = [o for o in records.list_records(session, "opportunity") if not o.is_closed]
    # prefer deals a registration is linked to (the attribution story); any open deal otherwise
    opportunities = [o for o in open_opps if o.registration_id] or open_opps
    for opp in opportunities[: max(3, len(opportunities) // 10)]:
        if "salesforce" in opp.external_ids and sf is not None:
            sf.update_record("Opportunity", opp.external_ids["salesforce"], {"StageName": "Closed Won"})  # type: ignore[attr-defined]
            done["deals_won"] += 1
        elif "hubspot" in opp.external_ids and hs is not None:
            hs.update_record("deals", opp.external_ids["hubspot"], {"dealstage": "closedwon"})  # type: ignore[attr-defined]
            done["deals_won"] += 1
        else:
            continue
        if erp is None:
            continue
        amount = float(opp.amount or 50_000)
        customer = erp.insert_records("res.partner", [{"name": opp.name.split(" - ")[0], "is_company": True}])[0]  # type: ignore[attr-defined]
        day = (data.now + timedelta(days=1)).date().isoformat()
        invoice = erp.insert_records("account.move", [{  # type: ignore[attr-defined]
            "move_type": "out_invoice", "partner_id": customer, "x_opportunity_ref": opp.id,
            "amount_total": amount, "invoice_date": day, "state": "posted",
        }])[0]
        done["invoices"] += 1
        if rng.random() < 0.7:
            erp.register_payment(invoice, amount, day)  # type: ignore[attr-defined]
            done["payments"] += 1
            if rng.random() < 0.15:
                erp.refund(invoice, round(amount * 0.2, 2), day)  # type: ignore[attr-defined]
                done["refunds"] += 1
    return done


def run_demo(
    config_path: Path | None = None,
    *,
    seed: int = 7,
    scale: float = 1.0,
    keep_data: bool = False,
    progress: Progress | None = None,
) -> DemoSummary:
    say = progress or (lambda _message: None)
    config = load_config(config_path or Path("config/demo.yaml"))
    data_dir = config.data_dir
    if data_dir.exists() and not keep_data:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    cluster = SandboxCluster(data_dir / "sandbox", persist=True)
    say("starting the Salesforce, HubSpot, LMS and ERP sandboxes")
    cluster.start()
    try:
        state_file = cluster.write_state(data_dir / "sandbox.json")
        config = apply_sandbox_state(config, state_file)
        data = generate(seed=seed, scale=scale)
        say("seeding the sandboxes and the PRM store")
        seeded = seed_sandboxes(cluster, data)
        runtime = open_runtime(config)
        try:
            seeded["prm"] = seed_store(runtime, data)
            say("first sync: everything, both ways")
            first = runtime.engine().run(trigger="demo", progress=say)
            say("a day of business: a partner edited in Salesforce, deals won, invoices paid")
            business = simulate_business(cluster, runtime, data, random.Random(seed))
            say("second sync: only what changed")
            second = runtime.engine().run(trigger="demo", progress=say)
            summary = _summarise(config, runtime, cluster, state_file, seeded, [first, second], business)
        finally:
            runtime.close()
    finally:
        cluster.stop()
    return summary


def _run_row(report: RunReport) -> dict[str, Any]:
    return {"run_id": report.run_id, "status": report.status, **report.totals(),
            "rule_decisions": report.rule_decisions,
            "slices": [s.model_dump(include={"system", "entity", "read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "api_calls"}) for s in report.slices]}


def _summarise(config: AppConfig, runtime: Runtime, cluster: SandboxCluster, state_file: Path,
               seeded: dict[str, int], reports: list[RunReport], business: dict[str, int]) -> DemoSummary:
    samples: dict[str, Any] = {"business": business}
    sf = cluster.apps.get("salesforce")
    if sf is not None:
        partner = next((a for a in sf.all_records("Account") if a.get("IsPartner")), None)  # type: ignore[attr-defined]
        if partner:
            samples["salesforce_partner_account"] = {k: partner.get(k) for k in ("Id", "Name", "Partner_Tier__c", "Partner_Status__c", "PRM_Id__c")}
        opp = next((o for o in sf.all_records("Opportunity") if o.get("Registered_Partner__c")), None)  # type: ignore[attr-defined]
        if opp:
            samples["salesforce_opportunity"] = {k: opp.get(k) for k in ("Id", "Name", "StageName", "Registered_Partner__c", "Registration_Status__c", "Protection_Expires__c", "Attribution_Summary__c")}
    hs = cluster.apps.get("hubspot")
    if hs is not None:
        company = next((c for c in hs.all_records("companies") if c.get("is_partner") == "true"), None)  # type: ignore[attr-defined]
        if company:
            samples["hubspot_partner_company"] = {k: company.get(k) for k in ("hs_object_id", "name", "partner_tier", "partner_status", "prm_id")}
    with runtime.store.session(readonly=True) as session:
        open_failures = failures.count_open(session)
    decisions: dict[str, int] = {}
    for report in reports:
        for key, value in report.rule_decisions.items():
            decisions[key] = decisions.get(key, 0) + value
    prefix = f"PRM_SYNC_CONFIG=config/demo.yaml PRM_SYNC_SANDBOX_STATE={state_file}"
    return DemoSummary(
        data_dir=str(config.data_dir), state_file=str(state_file), seeded=seeded,
        runs=[_run_row(r) for r in reports], crm_samples=samples, open_failures=open_failures,
        rule_decisions=decisions,
        next_steps=[
            f"restart the saved sandboxes: .venv/bin/prm-sync sandbox up --work-dir {config.data_dir / 'sandbox'} --persist --state-file {state_file}",
            f"failed records:   {prefix} .venv/bin/prm-sync failures list",
            f"sync again:       {prefix} .venv/bin/prm-sync sync",
            f"the Dagster UI:   {prefix} .venv/bin/dagster dev",
        ],
    )
