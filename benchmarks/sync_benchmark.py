"""prm-sync against the hand-written integration, on the same sandboxes and the same data.

    python benchmarks/sync_benchmark.py                                   # 10,000 partners, 50,000 registrations
    python benchmarks/sync_benchmark.py --partners 1000 --registrations 5000 --reconcile-rows 100000

Measures, side by side in one run:

- a full sync of ``--partners`` partners and ``--registrations`` registrations
  to Salesforce and HubSpot by the naive baseline (``naive_baseline.py``: one
  API call per record, full scan every run) and by ``SyncEngine``: wall time,
  records per second, API calls (counted by the sandboxes, per route), peak
  memory (``ru_maxrss`` of the process doing the work: each approach runs in
  its own child process, the sandboxes stay in this one);
- prm-sync's API calls per 1,000 changed records against the batch minimum
  (Salesforce 200 per sObject Collections call, HubSpot 100 per batch call);
- a 1 % incremental run against the full run (calls and time), after one
  settle run that reads back the full run's own writes (the echoes);
- engine throughput with sandbox time excluded: every connector call is timed
  in the engine's process and subtracted from the wall time;
- ``prm-sync reconcile``'s DuckDB comparison of two synthetic snapshots of
  ``--reconcile-rows`` records each.

Results go to ``benchmarks/results/sync_benchmark.json`` and ``.md``. The
sandboxes' rate limits are lifted so the run measures software, not waiting;
the projected time under HubSpot's real 190 requests / 10 s limit is
reported beside the measured one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import store_floor  # noqa: E402  (benchmarks/ is on sys.path)

from prm_sync.model import DealRegistration, Partner  # noqa: E402

SYSTEMS = ("salesforce", "hubspot")
ENTITIES = ["partner", "deal_registration"]
BATCH = {"salesforce": 200, "hubspot": 100}
HUBSPOT_REAL_LIMIT_PER_S = 19.0  # 190 requests / 10 s (Professional / Enterprise private apps)
WRITE_ROUTES = {
    "salesforce": ("collections.", "upsert", "update", "create", "bulk.ingest"),
    "hubspot": ("objects.batch.upsert", "objects.batch.update", "objects.create", "objects.update"),
}
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TIERS = ["registered", "silver", "gold", "platinum"]
TYPES = ["reseller", "distributor", "system_integrator", "msp", "isv", "referral"]
CITIES = [("US", "Austin"), ("US", "Boston"), ("GB", "London"), ("DE", "Berlin"), ("FR", "Paris"), ("JP", "Tokyo")]
LINES = ["platform", "analytics", "security", "services"]


# -- data -----------------------------------------------------------------------------------
def make_partners(n: int, seed: int) -> list[Partner]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        country, city = rng.choice(CITIES)
        out.append(Partner(
            id=f"ptn_bench{i:011d}", name=f"Benchmark Partner {i} Ltd", tier=rng.choice(TIERS),
            partner_type=rng.choice(TYPES), status="active", territory=country, domain=f"partner{i}.example",
            website=f"https://partner{i}.example", phone=f"+1 555 {rng.randrange(1000000, 9999999)}",
            city=city, country=country, created_at=NOW, updated_at=NOW,
        ))
    return out


def make_registrations(m: int, partners: list[Partner], seed: int) -> list[DealRegistration]:
    rng = random.Random(seed + 1)
    out = []
    for j in range(m):
        submitted = NOW - timedelta(days=rng.randrange(1, 80), minutes=rng.randrange(0, 1440))
        approved = rng.random() < 0.7
        out.append(DealRegistration(
            id=f"reg_bench{j:011d}", partner_id=partners[j % len(partners)].id,
            customer_name=f"Customer {j} Inc", customer_domain=f"customer{j}.example",
            product_lines=rng.sample(LINES, rng.randrange(1, 3)), amount=Decimal(rng.randrange(5_000, 500_000)),
            status="approved" if approved else "submitted", submitted_at=submitted,
            approved_at=submitted + timedelta(days=2) if approved else None,
            expires_at=submitted + timedelta(days=92) if approved else None, created_at=NOW, updated_at=NOW,
        ))
    return out


def mutate(partners: list[Partner], registrations: list[DealRegistration], pct: float, seed: int) -> tuple[list, list]:
    """Change ``pct`` % of the partners (phone) and of the registrations (amount)."""
    rng = random.Random(seed + 2)
    later = datetime.now(UTC)
    p = [r.model_copy(update={"phone": f"+1 555 {rng.randrange(1000000, 9999999)}", "updated_at": later})
         for r in rng.sample(partners, max(1, round(len(partners) * pct / 100)))]
    g = [r.model_copy(update={"amount": (r.amount or Decimal(0)) + 1, "updated_at": later})
         for r in rng.sample(registrations, max(1, round(len(registrations) * pct / 100)))]
    return p, g


# -- measuring connector time ------------------------------------------------------------------
class TimedConnector:
    """Delegates to a connector and adds the time spent inside its calls (and its read iterators)."""

    def __init__(self, inner: Any, clock: dict[str, float]) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = value(*args, **kwargs)
            finally:
                self._clock["seconds"] += time.perf_counter() - started
            if name in ("read_changes", "read_all"):
                return self._iterate(result)
            return result

        return timed

    def _iterate(self, iterator: Any) -> Iterator[Any]:
        it = iter(iterator)
        while True:
            started = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self._clock["seconds"] += time.perf_counter() - started
                return
            self._clock["seconds"] += time.perf_counter() - started
            yield item


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- child phases ---------------------------------------------------------------------------------
def phase_engine(args: argparse.Namespace) -> dict[str, Any]:
    from prm_sync.config import load_config
    from prm_sync.runtime import open_runtime
    from prm_sync.store import records
    from prm_sync.sync.engine import SyncScope

    config = load_config(Path(args.config), sandbox_state=Path(args.state))
    runtime = open_runtime(config)
    partners = make_partners(args.partners, args.seed)
    regs = make_registrations(args.registrations, partners, args.seed)
    started = time.perf_counter()
    with runtime.store.session() as session:
        records.save_records(session, [*partners, *regs])
    seed_seconds = time.perf_counter() - started
    clock = {"seconds": 0.0}
    runtime._connectors = {s: TimedConnector(c, clock) for s, c in runtime.connectors(list(SYSTEMS)).items()}
    scope = SyncScope(systems=list(SYSTEMS), entities=ENTITIES)
    out: dict[str, Any] = {"seed_store_seconds": round(seed_seconds, 2), "runs": {}}

    def run(label: str) -> None:
        clock["seconds"] = 0.0
        engine = runtime.engine(list(SYSTEMS), with_rules=False)
        if args.profile and label == "full" and args.phase == "throughput":
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            began = time.perf_counter()
            report = profiler.runcall(engine.run, scope, trigger="cli")
            wall = time.perf_counter() - began
            path = Path(args.out) / "engine_profile.txt"
            profiler.dump_stats(Path(args.out) / "engine_profile.prof")  # for pstats / snakeviz
            with path.open("w") as fh:
                pstats.Stats(profiler, stream=fh).sort_stats("cumulative").print_stats(60)
                pstats.Stats(profiler, stream=fh).sort_stats("tottime").print_stats(40)
        else:
            began = time.perf_counter()
            report = engine.run(scope, trigger="cli")
            wall = time.perf_counter() - began
        totals = report.totals()
        out["runs"][label] = {
            "status": report.status, "wall_seconds": round(wall, 3), "connector_seconds": round(clock["seconds"], 3),
            "engine_seconds": round(wall - clock["seconds"], 3), "totals": totals,
            "slices": [s.model_dump(include={"system", "entity", "read", "created", "updated", "unchanged",
                                             "failed", "api_calls", "duration_seconds"}) for s in report.slices],
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        print(json.dumps({"phase": "engine", "run": label, "wall": round(wall, 2), **totals}), file=sys.stderr)

    signal_phase(args, f"{args.phase}.full")
    run("full")
    if args.phase == "throughput":  # the sequential full run that measures the engine alone
        runtime.close()
        return out
    signal_phase(args, "engine.settle")
    run("settle")
    changed_p, changed_r = mutate(partners, regs, args.incremental_pct, args.seed)
    with runtime.store.session() as session:
        records.save_records(session, [*changed_p, *changed_r])
    out["incremental_changed"] = {"partner": len(changed_p), "deal_registration": len(changed_r)}
    signal_phase(args, "engine.incremental")
    run("incremental")
    runtime.close()
    return out


def phase_naive(args: argparse.Namespace) -> dict[str, Any]:
    import requests
    from hubspot import HubSpot
    from naive_baseline import NaiveIntegration
    from simple_salesforce import Salesforce
    from urllib3 import Retry

    from prm_sync.mapping.apply import load_mappings

    state = json.loads(Path(args.state).read_text())["systems"]
    session = requests.Session()
    session.trust_env = False  # the sandbox's own CA, whatever REQUESTS_CA_BUNDLE says
    session.verify = state["salesforce"]["ca_bundle"]
    sf = Salesforce(instance_url=state["salesforce"]["instance_url"], session_id=state["salesforce"]["access_token"],
                    session=session)
    hs = HubSpot(access_token=state["hubspot"]["access_token"], host=state["hubspot"]["base_url"],
                 retry=Retry(total=0))
    mappings = load_mappings([ROOT / "mappings"])
    partners = make_partners(args.partners, args.seed)
    regs = make_registrations(args.registrations, partners, args.seed)
    naive = NaiveIntegration(sf, hs, mappings)
    signal_phase(args, "naive.full")
    stats = naive.run([*partners, *regs])
    out = {"runs": {"full": {"wall_seconds": round(stats.seconds, 3), "records": stats.records,
                             "client_calls": stats.calls, "failed": stats.failed,
                             "peak_rss_mb": round(peak_rss_mb(), 1)}}}
    print(json.dumps({"phase": "naive", "run": "full", "wall": round(stats.seconds, 2)}), file=sys.stderr)
    if args.naive_rerun:
        changed_p, changed_r = mutate(partners, regs, args.incremental_pct, args.seed)
        by_id = {r.id: r for r in [*changed_p, *changed_r]}
        signal_phase(args, "naive.incremental")
        again = naive.run([by_id.get(r.id, r) for r in [*partners, *regs]])  # no change detection: everything again
        out["runs"]["incremental"] = {"wall_seconds": round(again.seconds, 3), "records": again.records,
                                      "client_calls": again.calls, "failed": again.failed,
                                      "peak_rss_mb": round(peak_rss_mb(), 1)}
    return out


def signal_phase(args: argparse.Namespace, name: str) -> None:
    """Tell the parent (which owns the sandboxes and their call counters) that a measured step starts."""
    tmp = Path(args.marker + ".tmp")
    tmp.write_text(name)
    tmp.replace(args.marker)
    deadline = time.time() + 30
    while Path(args.marker).exists() and time.time() < deadline:  # the parent removes it once counters are reset
        time.sleep(0.01)


# -- parent ------------------------------------------------------------------------------------------
def write_config(work: Path, page_size: int, *, pipeline: bool = True, hubspot_per_10s: int = 10_000) -> Path:
    """The benchmarks' configuration: shipped mappings, no quota reserve, no overlap window."""
    path = work / "benchmark.yaml"
    path.write_text(f"""version: 1
data_dir: {work / 'data'}
mappings: [{ROOT / 'mappings'}]
systems:
  salesforce:
    instance_url: https://sandbox.invalid
    access_token_env: PRM_SYNC_BENCH_SALESFORCE_TOKEN
    quota_reserve_pct: 0
  hubspot:
    base_url: https://sandbox.invalid
    access_token_env: PRM_SYNC_BENCH_HUBSPOT_TOKEN
    requests_per_10s: {hubspot_per_10s}
    quota_reserve_pct: 0
sync:
  overlap_seconds: 0
  page_size: {page_size}
  pipeline_writes: {str(pipeline).lower()}
""")
    return path


def start_cluster(work: Path) -> Any:
    from connectors.sandbox.cluster import SandboxCluster

    cluster = SandboxCluster(work / "sandbox", systems=SYSTEMS).start()
    cluster.apps["salesforce"].daily_limit = 10**9  # type: ignore[attr-defined]
    cluster.apps["hubspot"].ten_second_limit = 10**9  # type: ignore[attr-defined]
    cluster.apps["hubspot"].daily_limit = 10**9  # type: ignore[attr-defined]
    return cluster


def run_phase(name: str, args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Run one approach in a child process, resetting and reading the sandbox call counters per step."""
    cluster = start_cluster(work / name)
    calls: dict[str, dict[str, Any]] = {}
    try:
        state = cluster.write_state(work / name / "sandbox.json")
        marker = work / name / "phase"
        result_file = work / name / "result.json"
        config = write_config(work / name, args.page_size, pipeline=name != "throughput")
        # the sandboxes start as a new org and portal do: `prm-sync setup` creates our fields first
        subprocess.run([sys.executable, "-c", "from prm_sync.cli.app import main; main()", "--config", str(config),
                        "--sandbox-state", str(state), "setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        cmd = [sys.executable, __file__, "--phase", name, "--state", str(state), "--marker", str(marker),
               "--result", str(result_file), "--partners", str(args.partners), "--registrations",
               str(args.registrations), "--seed", str(args.seed), "--incremental-pct", str(args.incremental_pct),
               "--config", str(config), "--out", str(args.out)]
        if args.profile:
            cmd.append("--profile")
        if args.naive_rerun:
            cmd.append("--naive-rerun")
        child = subprocess.Popen(cmd, cwd=ROOT)
        current: str | None = None
        while True:
            if marker.exists():
                if current:
                    calls[current] = snapshot_calls(cluster)
                current = marker.read_text().split(".", 1)[1]
                for app in cluster.apps.values():
                    with app.lock:
                        app.calls.clear()
                marker.unlink()
            if child.poll() is not None:
                break
            time.sleep(0.01)
        if current:
            calls[current] = snapshot_calls(cluster)
        if child.returncode != 0:
            msg = f"{name} phase failed with exit code {child.returncode}"
            raise SystemExit(msg)
        return json.loads(result_file.read_text()), calls
    finally:
        cluster.stop()


def snapshot_calls(cluster: Any) -> dict[str, Any]:
    return {s: {"total": app.total_calls(), "by_route": dict(app.calls)} for s, app in cluster.apps.items()}


def write_calls(routes: dict[str, int], system: str) -> int:
    return sum(n for route, n in routes.items() if any(route.startswith(w) for w in WRITE_ROUTES[system]))


def batch_minimum(counts: dict[str, int], system: str) -> int:
    """The fewest write calls that can carry these records: one full batch per call, per object."""
    return sum(-(-n // BATCH[system]) for n in counts.values() if n)


RECONCILE_FIELDS = ["name", "tier", "status", "domain", "phone", "city"]


def reconcile_benchmark(rows: int, work: Path) -> dict[str, Any]:
    """Two synthetic snapshots of ``rows`` records in reconcile's own schema, compared by ``compare()``.

    Seeded differences: 1 % of records with one drifted field, 0.1 % deleted
    remotely, 0.1 % never linked (of which the remote keeps half), 0.05 %
    duplicated remotely, 0.05 % orphans (a key no PRM record has).
    """
    import duckdb

    from prm_sync.reconcile.compare import compare
    from prm_sync.reconcile.parquet import sql_literal
    from prm_sync.reconcile.snapshot import SCHEMAS

    out = work / "reconcile"
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / f"{name}.parquet" for name in SCHEMAS}
    fields = ", ".join(f"'{f}'" for f in RECONCILE_FIELDS)
    n = int(rows)
    started = time.perf_counter()
    queries = {
        "slices": "SELECT 'salesforce' AS system, 'partner' AS entity, 'Account' AS remote_object, true AS keyed, "
                  "true AS filtered",
        "prm_records": f"SELECT 'partner' AS entity, 'ptn_' || lpad(i::VARCHAR, 12, '0') AS record_id FROM range({n}) t(i)",
        # every 1000th record was never linked; every 997th was deleted remotely (link kept)
        "links": f"SELECT 'salesforce' AS system, 'partner' AS entity, 'ptn_' || lpad(i::VARCHAR, 12, '0') AS record_id, "
                 f"'001' || lpad(i::VARCHAR, 15, '0') AS remote_id, false AS remote_deleted FROM range({n}) t(i) "
                 f"WHERE i % 1000 <> 0",
        "remote_records": f"SELECT 'salesforce' AS system, 'partner' AS entity, '001' || lpad(i::VARCHAR, 15, '0') AS remote_id, "
                          f"'ptn_' || lpad(i::VARCHAR, 12, '0') AS prm_key, TIMESTAMPTZ '2026-11-01 00:00:00+00' AS modstamp "
                          f"FROM range({n}) t(i) WHERE i % 997 <> 0 AND i % 2000 <> 0 "
                          # duplicates (a copy with the same key) and orphans (a key nobody has)
                          f"UNION ALL SELECT 'salesforce', 'partner', '00D' || lpad(i::VARCHAR, 15, '0'), "
                          f"'ptn_' || lpad(i::VARCHAR, 12, '0'), TIMESTAMPTZ '2026-11-01 00:00:00+00' "
                          f"FROM range({n}) t(i) WHERE i % 2003 = 1 "
                          f"UNION ALL SELECT 'salesforce', 'partner', '00X' || lpad(i::VARCHAR, 15, '0'), "
                          f"'ptn_gone' || lpad(i::VARCHAR, 12, '0'), TIMESTAMPTZ '2026-11-01 00:00:00+00' "
                          f"FROM range({n // 2000}) t(i)",
        "prm_values": f"SELECT 'salesforce' AS system, 'partner' AS entity, 'ptn_' || lpad(i::VARCHAR, 12, '0') AS record_id, "
                      f"f AS field, '\"' || f || '-' || i::VARCHAR || '\"' AS value "
                      f"FROM range({n}) t(i), unnest([{fields}]) u(f)",
        # 1 % of the records have their 'phone' changed remotely
        "remote_values": f"SELECT 'salesforce' AS system, 'partner' AS entity, '001' || lpad(i::VARCHAR, 15, '0') AS remote_id, "
                         f"f AS field, CASE WHEN f = 'phone' AND i % 100 = 7 THEN '\"changed-' || i::VARCHAR || '\"' "
                         f"ELSE '\"' || f || '-' || i::VARCHAR || '\"' END AS value "
                         f"FROM range({n}) t(i), unnest([{fields}]) u(f) WHERE i % 997 <> 0 AND i % 2000 <> 0",
    }
    with duckdb.connect() as conn:
        for name, query in queries.items():
            conn.execute(f"COPY ({query}) TO {sql_literal(str(files[name]))} (FORMAT parquet)")
    generated = time.perf_counter() - started
    began = time.perf_counter()
    diffs = compare(files)
    compared = time.perf_counter() - began
    kinds: dict[str, int] = {}
    for d in diffs:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    drift = sum(1 for i in range(n) if i % 100 == 7 and i % 997 != 0 and i % 2000 != 0 and i % 1000 != 0)
    seeded = drift + sum(1 for i in range(n) if i % 997 == 0 and i % 1000 != 0) + n // 1000 + \
        sum(1 for i in range(n) if i % 2003 == 1) + n // 2000
    return {"records": n, "values_per_side": n * len(RECONCILE_FIELDS), "generate_seconds": round(generated, 2),
            "compare_seconds": round(compared, 2), "differences": len(diffs), "by_kind": kinds, "seeded": seeded,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "parquet_mb": round(sum(p.stat().st_size for p in files.values()) / 2**20, 1)}


def summarise(args: argparse.Namespace, engine: dict[str, Any], engine_calls: dict[str, Any],
              naive: dict[str, Any] | None, naive_calls: dict[str, Any] | None, recon: dict[str, Any] | None) -> dict[str, Any]:
    n_records = args.partners + args.registrations
    per_object = {"partner": args.partners, "deal_registration": args.registrations}
    full = engine["runs"]["full"]
    alone = engine["throughput"]
    out: dict[str, Any] = {
        "parameters": {"partners": args.partners, "registrations": args.registrations, "systems": list(SYSTEMS),
                       "incremental_pct": args.incremental_pct, "page_size": args.page_size,
                       "machine_cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "engine": engine, "engine_calls": engine_calls,
    }
    e_calls = {k: sum(v[s]["total"] for s in SYSTEMS) for k, v in engine_calls.items()}
    record_writes = n_records * len(SYSTEMS)
    m: dict[str, Any] = {
        "engine_full_wall_seconds": full["wall_seconds"],
        "engine_full_records_per_second": round(n_records / full["wall_seconds"], 1),
        "engine_full_api_calls": e_calls["full"],
        "engine_settle_api_calls": e_calls.get("settle"),
        "engine_incremental_api_calls": e_calls["incremental"],
        "engine_incremental_wall_seconds": engine["runs"]["incremental"]["wall_seconds"],
        "incremental_calls_pct_of_full": round(100 * e_calls["incremental"] / e_calls["full"], 2),
        "incremental_time_pct_of_full": round(100 * engine["runs"]["incremental"]["wall_seconds"] / full["wall_seconds"], 2),
        # measured on the sequential run: with pipelining, connector time overlaps the engine's own
        "engine_only_seconds": alone["engine_seconds"],
        "engine_only_wall_seconds": alone["wall_seconds"],
        "engine_only_connector_seconds": alone["connector_seconds"],
        "engine_only_record_writes_per_second": round(record_writes / max(alone["engine_seconds"], 1e-9), 1),
        "engine_only_records_per_second": round(n_records / max(alone["engine_seconds"], 1e-9), 1),
        "store_floor": engine.get("store_floor"),
        "engine_peak_rss_mb": engine["runs"]["incremental"]["peak_rss_mb"],
        "engine_full_peak_rss_mb": full["peak_rss_mb"],
    }
    changed_inc = engine["incremental_changed"]
    per_system: dict[str, Any] = {}
    for system in SYSTEMS:
        routes_full = engine_calls["full"][system]["by_route"]
        routes_inc = engine_calls["incremental"][system]["by_route"]
        w_full, w_inc = write_calls(routes_full, system), write_calls(routes_inc, system)
        per_system[system] = {
            "full_write_calls": w_full, "full_batch_minimum": batch_minimum(per_object, system),
            "full_write_calls_per_1000": round(1000 * w_full / n_records, 2),
            "full_all_calls_per_1000": round(1000 * engine_calls["full"][system]["total"] / n_records, 2),
            "incremental_write_calls": w_inc, "incremental_batch_minimum": batch_minimum(changed_inc, system),
            "incremental_write_calls_per_1000": round(1000 * w_inc / sum(changed_inc.values()), 2),
            "incremental_all_calls": engine_calls["incremental"][system]["total"],
            "batch_minimum_per_1000": 1000 / BATCH[system],
        }
    m["per_system"] = per_system
    if naive is not None and naive_calls is not None:
        n_full = naive["runs"]["full"]
        n_total = sum(naive_calls["full"][s]["total"] for s in SYSTEMS)
        m.update({
            "naive_full_wall_seconds": n_full["wall_seconds"],
            "naive_full_records_per_second": round(n_records / n_full["wall_seconds"], 1),
            "naive_full_api_calls": n_total,
            "naive_peak_rss_mb": n_full["peak_rss_mb"],
            "api_call_ratio_naive_over_engine": round(n_total / e_calls["full"], 1),
            "speedup_engine_over_naive": round(n_full["wall_seconds"] / full["wall_seconds"], 1),
            "naive_hubspot_calls": naive_calls["full"]["hubspot"]["total"],
            "naive_hubspot_hours_at_real_rate_limit": round(
                naive_calls["full"]["hubspot"]["total"] / HUBSPOT_REAL_LIMIT_PER_S / 3600, 2),
            "engine_hubspot_minutes_at_real_rate_limit": round(
                engine_calls["full"]["hubspot"]["total"] / HUBSPOT_REAL_LIMIT_PER_S / 60, 2),
        })
        if "incremental" in naive_calls:
            m["naive_incremental_api_calls"] = sum(naive_calls["incremental"][s]["total"] for s in SYSTEMS)
            m["naive_incremental_wall_seconds"] = naive["runs"]["incremental"]["wall_seconds"]
        out["naive"], out["naive_calls"] = naive, naive_calls
    if recon is not None:
        m["reconcile"] = recon
    out["metrics"] = m
    out["targets"] = targets(m)
    return out


def targets(m: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def add(name: str, value: Any, goal: str, ok: bool | None) -> None:
        rows.append({"target": name, "measured": value, "goal": goal, "met": ok})

    if "api_call_ratio_naive_over_engine" in m:
        add("fewer API calls than naive (full)", f"{m['api_call_ratio_naive_over_engine']}x", ">= 50x",
            m["api_call_ratio_naive_over_engine"] >= 50)
        add("faster than naive (full)", f"{m['speedup_engine_over_naive']}x", ">= 10x", m["speedup_engine_over_naive"] >= 10)
    add("1% incremental calls vs full", f"{m['incremental_calls_pct_of_full']}%", "<= 2%", m["incremental_calls_pct_of_full"] <= 2)
    add("engine throughput, sandbox time excluded", f"{m['engine_only_records_per_second']:,.0f} records/s "
        f"({m['engine_only_record_writes_per_second']:,.0f} record-writes/s)", ">= 20,000 records/s",
        m["engine_only_records_per_second"] >= 20_000)
    for system, s in m["per_system"].items():
        ratio_full = s["full_write_calls"] / max(s["full_batch_minimum"], 1)
        ratio_inc = s["incremental_write_calls"] / max(s["incremental_batch_minimum"], 1)
        add(f"{system} write calls vs batch minimum (full)", f"{s['full_write_calls']} / {s['full_batch_minimum']} "
            f"= {ratio_full:.2f}x ({s['full_write_calls_per_1000']} per 1,000)", "<= 1.05x", ratio_full <= 1.05)
        add(f"{system} write calls vs batch minimum (1% incremental)", f"{s['incremental_write_calls']} / "
            f"{s['incremental_batch_minimum']} = {ratio_inc:.2f}x", "<= 1.05x", ratio_inc <= 1.05)
    return rows


def _floor_lines(floor: dict[str, Any] | None) -> list[str]:
    if not floor:
        return []
    disk, memory = floor["disk"], floor["memory"]
    per_table = ", ".join(f"{t} {us} µs" for t, us in disk["us_per_table"].items())
    return [f"Store floor (the rows that run kept per record and system, inserted with plain sqlite3 "
            f"executemany, {floor['batch']} per commit, nothing else): {disk['us_per_record_system']} µs per "
            f"record-write on disk ({per_table}, commit {disk['us_commit']} µs) = at most "
            f"{disk['ceiling_records_per_second']:,} records/s; {memory['us_per_record_system']} µs in memory = "
            f"at most {memory['ceiling_records_per_second']:,} records/s."]


def markdown(result: dict[str, Any]) -> str:
    m, p = result["metrics"], result["parameters"]
    lines = [f"# Sync benchmark: {p['partners']:,} partners, {p['registrations']:,} registrations, "
             f"{' + '.join(p['systems'])}", "",
             "| | naive (1 call per record) | prm-sync |", "|---|---:|---:|"]
    if "naive_full_wall_seconds" in m:
        lines += [
            f"| full sync wall time | {m['naive_full_wall_seconds']:,.1f} s | {m['engine_full_wall_seconds']:,.1f} s |",
            f"| records / s | {m['naive_full_records_per_second']:,.0f} | {m['engine_full_records_per_second']:,.0f} |",
            f"| API calls (full) | {m['naive_full_api_calls']:,} | {m['engine_full_api_calls']:,} |",
            f"| API calls (1 % changed) | {m.get('naive_incremental_api_calls', m['naive_full_api_calls']):,} "
            f"| {m['engine_incremental_api_calls']:,} |",
            f"| peak RSS | {m['naive_peak_rss_mb']:,.0f} MB | {m['engine_peak_rss_mb']:,.0f} MB |",
            f"| HubSpot time at 190 req / 10 s | {m['naive_hubspot_hours_at_real_rate_limit']} h "
            f"| {m['engine_hubspot_minutes_at_real_rate_limit']} min |",
        ]
    else:
        lines += [f"| full sync wall time | - | {m['engine_full_wall_seconds']:,.1f} s |",
                  f"| API calls (full) | - | {m['engine_full_api_calls']:,} |"]
    lines += ["", f"prm-sync settle run (reads back its own writes once): {m['engine_settle_api_calls']} calls; "
              f"1 % incremental: {m['engine_incremental_api_calls']} calls, {m['engine_incremental_wall_seconds']} s "
              f"({m['incremental_calls_pct_of_full']} % of the full run's calls, {m['incremental_time_pct_of_full']} % of its time).",
              f"Engine alone (a sequential full run, pipeline_writes off, {m['engine_only_wall_seconds']} s wall "
              f"minus {m['engine_only_connector_seconds']} s in connector calls): {m['engine_only_seconds']} s = "
              f"{m['engine_only_records_per_second']:,.0f} records/s, {m['engine_only_record_writes_per_second']:,.0f} record-writes/s.",
              *_floor_lines(m.get("store_floor")),
              "", "| system | write calls (full) | batch minimum | per 1,000 | write calls (1 %) | batch minimum (1 %) |",
              "|---|---:|---:|---:|---:|---:|"]
    for system, s in m["per_system"].items():
        lines.append(f"| {system} | {s['full_write_calls']} | {s['full_batch_minimum']} | {s['full_write_calls_per_1000']} "
                     f"| {s['incremental_write_calls']} | {s['incremental_batch_minimum']} |")
    if "reconcile" in m:
        r = m["reconcile"]
        lines += ["", f"Reconcile comparison (DuckDB, two Parquet snapshots of {r['records']:,} records, "
                      f"{r['values_per_side']:,} field values each): generate {r['generate_seconds']} s, "
                      f"compare {r['compare_seconds']} s, {r['differences']:,} differences found "
                      f"(seeded {r['seeded']:,}), peak RSS {r['peak_rss_mb']} MB."]
    lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['goal']} | {'yes' if t['met'] else 'no'} |" for t in result["targets"]]
    return "\n".join(lines) + "\n"


def reuse_naive(path: Path, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The naive measurements of an earlier run: they do not depend on prm-sync's code."""
    earlier = json.loads(path.read_text())
    p = earlier["parameters"]
    if (p["partners"], p["registrations"]) != (args.partners, args.registrations) or "naive" not in earlier:
        msg = f"{path} has no naive run for {args.partners} partners and {args.registrations} registrations"
        raise SystemExit(msg)
    return earlier["naive"], earlier["naive_calls"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=10_000)
    parser.add_argument("--registrations", type=int, default=50_000)
    parser.add_argument("--incremental-pct", type=float, default=1.0)
    parser.add_argument("--reconcile-rows", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=500, help="the engine's sync.page_size (default as shipped)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--naive-from", help="reuse the naive baseline of an earlier results JSON (same sizes)")
    parser.add_argument("--naive-rerun", action="store_true", help="measure the naive 'incremental' run too (it re-sends everything)")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine's full run into results/engine_profile.txt")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--phase", choices=["engine", "throughput", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--marker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.phase:
        result = phase_naive(args) if args.phase == "naive" else phase_engine(args)
        Path(args.result).write_text(json.dumps(result, default=str))
        return
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as tmp:
        work = Path(tmp)
        naive = naive_calls = None
        if args.naive_from:
            naive, naive_calls = reuse_naive(Path(args.naive_from), args)
        elif not args.skip_naive:
            print("naive baseline: one call per record ...", file=sys.stderr)
            naive, naive_calls = run_phase("naive", args, work)
        print("prm-sync engine: full, settle, 1% incremental ...", file=sys.stderr)
        engine, engine_calls = run_phase("engine", args, work)
        print("prm-sync engine alone: a sequential full run (pipeline_writes off) ...", file=sys.stderr)
        throughput, _ = run_phase("throughput", args, work)
        engine["throughput"] = throughput["runs"]["full"]
        print("store floor: the rows that run kept, inserted with plain sqlite3 ...", file=sys.stderr)
        engine["store_floor"] = store_floor.measure(work / "throughput" / "data" / "prm_sync.sqlite",
                                                    (args.partners + args.registrations) * len(SYSTEMS),
                                                    batch=args.page_size, work=work)
        recon = None
        if args.reconcile_rows:
            print(f"reconcile: comparing two {args.reconcile_rows:,}-record snapshots ...", file=sys.stderr)
            recon = reconcile_benchmark(args.reconcile_rows, work)
        result = summarise(args, engine, engine_calls, naive, naive_calls, recon)
    out = Path(args.out)
    (out / "sync_benchmark.json").write_text(json.dumps(result, indent=2, default=str))
    text = markdown(result)
    (out / "sync_benchmark.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
