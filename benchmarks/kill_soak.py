"""kill -9 of ``prm-sync sync`` at random moments, then a re-run: does it converge, with no duplicate and no refusal?

    python benchmarks/kill_soak.py                                   # 12 kills, 2,000 partners, 6,000 registrations, SQLite
    python benchmarks/kill_soak.py --kills 20 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/soak

Each round changes 2 % of the partners and registrations in the PRM store
and adds a few new ones (so every round has writes in flight), starts
``prm-sync sync`` (Salesforce and HubSpot sandboxes on loopback, the CLI as
an operator runs it) and sends it SIGKILL a random delay after its run
began (its run row appeared), uniform in ``--min-delay``..``--max-delay``
seconds: during a pull, the rules, a push batch on the wire or a commit. A run that ends on its own before its
kill is recorded with its exit code (3 would be a refusal: the killed
predecessor's lock not taken over). Then one run to the end (timed), and
the checks, read back through simple-salesforce, hubspot-api-client and the
store:

- every PRM partner and registration exists exactly once in each CRM (by
  our external id), none twice;
- a further run writes nothing;
- no lock is left, no run row stays ``running``; the killed runs are
  ``abandoned`` and each takeover is in the audit log.

Results go to ``benchmarks/results/kill_soak.json`` and ``.md``. The
sandboxes' rate limits are lifted: the soak tests recovery, not waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sync_benchmark import make_partners, make_registrations, start_cluster  # noqa: E402

from prm_sync.model import DealRegistration, Partner  # noqa: E402

PRM_SYNC = Path(sys.executable).parent / "prm-sync"
OWNED = {  # PRM-owned entity -> (Salesforce object, HubSpot object)
    "partner": ("Account", "companies"),
    "deal_registration": ("Deal_Registration__c", "p_deal_registrations"),
}


def write_config(work: Path) -> Path:
    path = work / "soak.yaml"
    path.write_text(f"""version: 1
data_dir: {work / 'data'}
mappings: [{ROOT / 'mappings'}]
systems:
  salesforce: {{instance_url: https://sandbox.invalid, access_token_env: PRM_SYNC_SOAK_SF_TOKEN, quota_reserve_pct: 0}}
  hubspot: {{base_url: https://sandbox.invalid, access_token_env: PRM_SYNC_SOAK_HS_TOKEN, requests_per_10s: 10000, quota_reserve_pct: 0}}
sync:
  page_size: 200
  overlap_seconds: 0
""")
    return path


def open_store(url: str) -> Any:
    from prm_sync.store.db import Store

    return Store.open(url, auto_upgrade=True)


def change_some(store: Any, rnd: random.Random, round_no: int, pct: float = 2.0, new: int = 10) -> int:
    """What users do between syncs: edits to ``pct`` % of partners and registrations, ``new`` partners with a registration each."""
    from prm_sync.store import records

    now = datetime.now(UTC)
    with store.session() as session:
        partners = [p for p in records.list_records(session, "partner") if isinstance(p, Partner)]
        regs = [r for r in records.list_records(session, "deal_registration") if isinstance(r, DealRegistration)]
        edits: list[Any] = [
            p.model_copy(update={"phone": f"+1 555 {rnd.randrange(1000000, 9999999)}", "updated_at": now})
            for p in rnd.sample(partners, max(1, round(len(partners) * pct / 100)))
        ]
        edits += [
            r.model_copy(update={"amount": (r.amount or 0) + 1, "updated_at": now})
            for r in rnd.sample(regs, max(1, round(len(regs) * pct / 100)))
        ]
        fresh = make_partners(new, seed=1000 + round_no)
        fresh = [p.model_copy(update={"id": f"ptn_soak{round_no:03d}{i:05d}", "name": f"Soak {round_no}-{i} Ltd",
                                      "domain": f"soak{round_no}-{i}.example"}) for i, p in enumerate(fresh)]
        born = make_registrations(new, fresh, seed=1000 + round_no)
        born = [r.model_copy(update={"id": f"reg_soak{round_no:03d}{i:05d}", "customer_name": f"Soak Customer {round_no}-{i}",
                                     "customer_domain": f"soakcustomer{round_no}-{i}.example"}) for i, r in enumerate(born)]
        records.save_records(session, [*edits, *fresh, *born])
    return len(edits) + len(fresh) + len(born)


def run_count(store: Any) -> int:
    from sqlalchemy import func, select

    from prm_sync.store.orm import SyncRunRow

    with store.session(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(SyncRunRow)) or 0)


def sync(cmd: list[str], env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*cmd, "sync", "--json", *extra], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def remote_counts(state: dict[str, Any]) -> dict[str, Counter[str]]:
    """PRM id -> how many records carry it, per (entity, system), read through the CRMs' client libraries."""
    import requests
    from hubspot import HubSpot
    from simple_salesforce import Salesforce

    sf_info, hs_info = state["salesforce"], state["hubspot"]
    session = requests.Session()
    session.verify = sf_info["ca_bundle"]
    session.trust_env = False
    salesforce = Salesforce(instance_url=sf_info["instance_url"], session_id=sf_info["access_token"], session=session)
    hubspot = HubSpot(access_token=hs_info["access_token"], host=hs_info["base_url"].rstrip("/"))
    counts: dict[str, Counter[str]] = {}
    for entity, (sf_object, hs_object) in OWNED.items():
        rows = salesforce.query_all(f"SELECT PRM_Id__c FROM {sf_object} WHERE PRM_Id__c != null")["records"]
        counts[f"salesforce/{entity}"] = Counter(r["PRM_Id__c"] for r in rows)
        found = hubspot.crm.objects.get_all(hs_object, properties=["prm_id"])
        counts[f"hubspot/{entity}"] = Counter(o.properties["prm_id"] for o in found if o.properties.get("prm_id"))
    return counts


def check(store: Any, state: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from prm_sync.store import failures, locks, records, runs
    from prm_sync.store.orm import AuditLogRow, SyncRunRow

    counts = remote_counts(state)
    with store.session(readonly=True) as session:
        owned = {entity: {r.id for r in records.list_records(session, entity)} for entity in OWNED}
        failed = {(f.system, f.record_key) for f in failures.list_failures(session)}
        statuses = dict(session.execute(select(SyncRunRow.status, func.count()).group_by(SyncRunRow.status)).all())
        takeovers = session.scalar(select(func.count()).select_from(AuditLogRow).where(AuditLogRow.action == "lock.takeover"))
        left = [lock.scope for lock in locks.list_locks(session)]
        still_running = [r.id for r in runs.list_runs(session, status="running", limit=100)]
    duplicates = {k: {i: n for i, n in c.items() if n > 1} for k, c in counts.items()}
    missing = {
        key: sorted(i for i in owned[key.split("/")[1]] if counts[key].get(i, 0) == 0 and (key.split("/")[0], i) not in failed)
        for key in counts
    }
    return {
        "records": {entity: len(ids) for entity, ids in owned.items()},
        "duplicates": {k: v for k, v in duplicates.items() if v},
        "missing": {k: v[:10] for k, v in missing.items() if v},
        "open_failures": len(failed),
        "run_statuses": statuses,
        "lock_takeovers_audited": takeovers,
        "locks_left": left,
        "runs_left_running": still_running,
    }


def totals(report: dict[str, Any]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for stats in report.get("slices", []):
        for key in ("created", "updated", "deleted", "failed"):
            out[key] += int(stats.get(key) or 0)
    return dict(out)


def soak(args: argparse.Namespace) -> dict[str, Any]:
    rnd = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="prm_sync_soak_"))
    cluster = start_cluster(work)
    try:
        state_file = cluster.write_state(work / "sandbox.json")
        state = json.loads(state_file.read_text())["systems"]
        url = args.database_url or f"sqlite:///{work / 'data' / 'prm_sync.sqlite'}"
        env = {**os.environ, "PRM_SYNC_DATABASE_URL": url, "PRM_SYNC_OBSERVERS": "off"}
        cmd = [str(PRM_SYNC), "--config", str(write_config(work)), "--sandbox-state", str(state_file)]
        # the sandboxes start as a new org and portal do: `prm-sync setup` creates our fields first
        subprocess.run([*cmd, "setup"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        store = open_store(url)
        partners = make_partners(args.partners, args.seed)
        with store.session() as session:
            from prm_sync.store import records

            records.save_records(session, [*partners, *make_registrations(args.registrations, partners, args.seed)])
        rounds: list[dict[str, Any]] = []
        for round_no in range(1, args.kills + 1):
            changed = change_some(store, rnd, round_no)
            delay = rnd.uniform(args.min_delay, args.max_delay)
            before = run_count(store)
            proc = sync(cmd, env)
            while proc.poll() is None and run_count(store) == before:  # start-up (imports, sign-in) is not the run
                time.sleep(0.05)
            started = time.monotonic()
            while proc.poll() is None and time.monotonic() - started < delay:
                time.sleep(0.02)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.communicate()
                outcome: dict[str, Any] = {"killed_after_s": round(time.monotonic() - started, 2)}
            else:
                out, err = proc.communicate()
                outcome = {"finished_after_s": round(time.monotonic() - started, 2), "exit": proc.returncode,
                           "error": err.strip().splitlines()[-1] if proc.returncode not in (0, 5) and err.strip() else None}
            rounds.append({"round": round_no, "changed": changed, "delay_s": round(delay, 2), **outcome})
            print(json.dumps(rounds[-1]), flush=True)
        started = time.monotonic()
        final = sync(cmd, env)
        out, err = final.communicate()
        converge_s = time.monotonic() - started
        final_report = json.loads(out) if out.strip() else {}
        again = sync(cmd, env)
        out2, err2 = again.communicate()
        again_report = json.loads(out2) if out2.strip() else {}
        checks = check(store, state)
        store.close()
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    refused = [r for r in rounds if r.get("exit") == 3]
    kills = [r for r in rounds if "killed_after_s" in r]
    verdict = {
        "converged": final.returncode == 0 and again.returncode == 0 and not checks["duplicates"] and not checks["missing"],
        "no_duplicates": not checks["duplicates"],
        "no_refused_run": not refused and final.returncode != 3 and again.returncode != 3,
        "second_run_writes_nothing": not any(totals(again_report).get(k) for k in ("created", "updated", "deleted")),
        "nothing_left_running": not checks["locks_left"] and not checks["runs_left_running"],
    }
    return {
        "args": vars(args), "backend": "postgresql" if args.database_url else "sqlite",
        "kills": len(kills), "finished_before_kill": len(rounds) - len(kills), "refused": len(refused),
        "rounds": rounds, "final_exit": final.returncode, "final_error": err.strip()[-500:] if final.returncode else None,
        "converge_seconds": round(converge_s, 2), "final_totals": totals(final_report),
        "second_run_exit": again.returncode, "second_run_totals": totals(again_report),
        "second_run_error": err2.strip()[-500:] if again.returncode else None,
        "checks": checks, "verdict": verdict, "ok": all(verdict.values()),
    }


def markdown(result: dict[str, Any]) -> str:
    delays = sorted(r["delay_s"] for r in result["rounds"])
    lines = [
        f"# kill -9 soak ({result['backend']}, {result['args']['partners']} partners, "
        f"{result['args']['registrations']} registrations)",
        "",
        f"- rounds: {len(result['rounds'])}; killed: {result['kills']} (delays {delays[0]}-{delays[-1]} s); "
        f"finished before the kill: {result['finished_before_kill']}; refused (exit 3): {result['refused']}",
        f"- re-run to the end: exit {result['final_exit']} in {result['converge_seconds']} s, {result['final_totals']}",
        f"- a further run: exit {result['second_run_exit']}, {result['second_run_totals']}",
        f"- duplicates: {result['checks']['duplicates'] or 'none'}; missing: {result['checks']['missing'] or 'none'}",
        f"- runs by status: {result['checks']['run_statuses']}; lock takeovers audited: "
        f"{result['checks']['lock_takeovers_audited']}; locks left: {result['checks']['locks_left'] or 'none'}",
        f"- verdict: {'OK' if result['ok'] else 'FAILED'} {result['verdict']}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=12, help="rounds, each killed at a random moment (at least 10)")
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--registrations", type=int, default=6000)
    parser.add_argument("--min-delay", type=float, default=0.0, help="earliest kill, seconds after the run began")
    parser.add_argument("--max-delay", type=float, default=10.0, help="latest kill, seconds after the run began")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (sandboxes, SQLite store) afterwards")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    result = soak(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "kill_soak" + ("_postgresql" if args.database_url else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
