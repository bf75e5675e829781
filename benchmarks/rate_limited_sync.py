"""A full sync at the CRMs' real limits, against the time those limits alone allow.

    .venv/bin/python benchmarks/rate_limited_sync.py                       # 12,000 records (2,000 partners)
    .venv/bin/python benchmarks/rate_limited_sync.py --records 60000 --repeats 1
    .venv/bin/python benchmarks/rate_limited_sync.py --records 60000 --full-only --modes one-run,serial,parallel

The sync benchmark lifts the sandboxes' limits to measure software. This one
keeps them as the services enforce them: the HubSpot sandbox answers 429
past 190 requests in any rolling 10 s (Professional / Enterprise private
apps) and the client paces itself to the same 190 (``requests_per_10s``);
the Salesforce sandbox charges every request to its daily budget (100,000)
and answers ``REQUEST_LIMIT_EXCEEDED`` when it is spent. Salesforce has no
per-second limit for REST calls (its other limits, 25 concurrent requests
longer than 20 s and Bulk 2.0's 150 M records a day, are far from a sync of
this size), so the API-limited minimum of a run is HubSpot's: the calls the
run made, sent as fast as a rolling window of 190 per 10 s allows
(``floor((calls - 1) / 190) * 10`` s). The run's wall time is compared
with that.

The same run checks the call counts (not times): write calls against the
batch minimum (``ceil(n / 200)`` per Salesforce object, ``ceil(n / 100)``
per HubSpot object), and, after a settle run that reads back the full run's
own writes once, a no-change run, which must make one read per object and
system and no write (``tests/e2e/test_e2e_call_budget.py`` checks both at a
smaller size in the test suite).

The speedup from parallel slices (``--modes``): each sync step runs as
``one-run`` (one process over both CRMs, every slice one after another: what
``prm-sync sync`` does), ``serial`` (a Salesforce process, then a HubSpot
process) or ``parallel`` (the two processes at the same time, as Dagster's
multiprocess executor runs them; the slice locks allow it). The processes
import and connect first and start their runs together; a step's wall time
is first start to last end (summed over the serial mode's two waves, so its
second process's start-up is not counted). The modes alternate within each
repeat, so the machine's drift reaches each alike. Before each step the
parent waits until HubSpot's window is empty (``prm-sync setup``'s calls
would otherwise still be in it), as the minimum assumes.

Each repeat uses a fresh sandbox pair and store; medians and spread go to
``benchmarks/results/rate_limited_sync.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sync_benchmark  # noqa: E402  (benchmarks/ is on sys.path)

HUBSPOT_WINDOW = (190, 10.0)  # requests, seconds
SYSTEMS = ("salesforce", "hubspot")
ENTITIES = ["partner", "deal_registration"]


def api_limited_minimum(hubspot_calls: int) -> float:
    """Seconds HubSpot's rolling window needs for this many calls: the first 190 at once, then 190 per 10 s."""
    limit, window = HUBSPOT_WINDOW
    return ((max(hubspot_calls, 1) - 1) // limit) * window


MODES = {  # how the slices of one sync step are run: a list of processes, each a list of systems
    "one-run": [[*SYSTEMS]],  # one `prm-sync sync` over both CRMs: every slice one after another
    "serial": [["salesforce"], ["hubspot"]],  # two processes, the second started when the first ends
    "parallel": [["salesforce"], ["hubspot"]],  # two processes at the same time (the slice locks allow it)
}


def child_seed(args: argparse.Namespace) -> None:
    """Seed the PRM store with the benchmark's partners and registrations (not timed)."""
    from prm_sync.config import load_config
    from prm_sync.runtime import open_runtime
    from prm_sync.store import records

    runtime = open_runtime(load_config(Path(args.config), sandbox_state=Path(args.state)))
    n_partners = args.records // 6
    partners = sync_benchmark.make_partners(n_partners, 7)
    regs = sync_benchmark.make_registrations(args.records - n_partners, partners, 7)
    with runtime.store.session() as session:
        records.save_records(session, [*partners, *regs])
    runtime.close()


def child_sync(args: argparse.Namespace) -> None:
    """One sync over ``--systems`` in this process, started when the parent says go (all processes ready)."""
    from prm_sync.config import load_config
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.engine import SyncScope

    systems = args.systems.split(",")
    runtime = open_runtime(load_config(Path(args.config), sandbox_state=Path(args.state)))
    engine = runtime.engine(systems, with_rules=False)
    Path(args.result + ".ready").write_text("")
    while not Path(args.go).exists():  # imports and connections are made; the clock starts for all at once
        time.sleep(0.005)
    began, cpu = time.time(), time.process_time()
    report = engine.run(SyncScope(systems=systems, entities=ENTITIES), trigger="cli")
    out = {"systems": systems, "status": report.status, "began": began, "ended": time.time(),
           "cpu_seconds": round(time.process_time() - cpu, 3), "totals": report.totals()}
    runtime.close()
    Path(args.result).write_text(json.dumps(out))


def run_step(mode: str, label: str, work: Path, common: list[str]) -> dict[str, Any]:
    """One sync step (full, settle or no-change) run as ``mode`` says.

    Its wall time is, for each wave of processes started together, first start to last end, summed over the
    waves: the serial mode's second process starting up (imports, connections) is not counted.
    """
    groups = MODES[mode]
    go = work / f"{label}.go"
    results: list[dict[str, Any]] = []
    wall = 0.0
    waves = [groups] if mode != "serial" else [[g] for g in groups]
    for wave_no, wave in enumerate(waves):
        procs, files = [], []
        for systems in wave:
            result = work / f"{label}.{wave_no}.{'+'.join(systems)}.json"
            files.append(result)
            procs.append(subprocess.Popen([sys.executable, __file__, "--child", "sync", "--systems", ",".join(systems),
                                           "--result", str(result), "--go", str(go), *common], cwd=ROOT))
        while not all(Path(str(f) + ".ready").exists() for f in files):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a {label} sync process ended before it was ready")
            time.sleep(0.01)
        go.write_text("")
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"the {label} sync failed with exit code {proc.returncode}")
        go.unlink()
        done = [json.loads(f.read_text()) for f in files]
        wall += max(r["ended"] for r in done) - min(r["began"] for r in done)
        results.extend(done)
    return {"wall_seconds": round(wall, 3),
            "status": sorted({r["status"] for r in results}),
            "processes": [{"systems": r["systems"], "seconds": round(r["ended"] - r["began"], 3),
                           "cpu_seconds": r["cpu_seconds"], "totals": r["totals"]} for r in results]}


def run_once(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    from connectors.sandbox.cluster import SandboxCluster

    with tempfile.TemporaryDirectory(prefix="rate-limited-") as tmp:
        work = Path(tmp)
        cluster = SandboxCluster(work / "sandbox", systems=SYSTEMS).start()  # the sandboxes' own limits
        try:
            hubspot = cluster.apps["hubspot"]
            assert (hubspot.ten_second_limit, hubspot.rate_window_seconds) == HUBSPOT_WINDOW  # type: ignore[attr-defined]
            state = cluster.write_state(work / "sandbox.json")
            config = sync_benchmark.write_config(work, args.page_size, hubspot_per_10s=HUBSPOT_WINDOW[0])
            # the sandboxes start as a new org and portal do: `prm-sync setup` creates our fields first
            subprocess.run([sys.executable, "-c", "from prm_sync.cli.app import main; main()", "--config", str(config),
                            "--sandbox-state", str(state), "setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            common = ["--state", str(state), "--records", str(args.records), "--config", str(config)]
            subprocess.run([sys.executable, __file__, "--child", "seed", *common], cwd=ROOT, check=True)
            runs: dict[str, dict[str, Any]] = {}
            calls: dict[str, Any] = {}
            for label in ("full",) if args.full_only else ("full", "settle", "no_change"):
                # setup's calls (26) are still in HubSpot's rolling window when a small seed is done: the
                # measured step starts with the whole window, as the API-limited minimum assumes
                while int(hubspot.rate_limit_headers()["X-HubSpot-RateLimit-Remaining"]) < HUBSPOT_WINDOW[0]:  # type: ignore[attr-defined]
                    time.sleep(0.1)
                charged = hubspot.daily_used  # type: ignore[attr-defined]  (HubSpot requests not refused with 429)
                for app in cluster.apps.values():
                    with app.lock:
                        app.calls.clear()
                runs[label] = run_step(mode, label, work, common)
                calls[label] = sync_benchmark.snapshot_calls(cluster)
                calls[label]["hubspot_charged"] = hubspot.daily_used - charged  # type: ignore[attr-defined]
        finally:
            cluster.stop()
    n_partners = args.records // 6
    per_object = {"partner": n_partners, "deal_registration": args.records - n_partners}
    full = calls["full"]
    hubspot_calls = full["hubspot"]["total"]
    minimum = api_limited_minimum(full["hubspot_charged"])  # the calls HubSpot accepted (429s are not work)
    out = {
        "mode": mode, "records": args.records, "wall_seconds": runs["full"]["wall_seconds"],
        "status": runs["full"]["status"], "processes": runs["full"]["processes"],
        "hubspot_calls": hubspot_calls, "salesforce_calls": full["salesforce"]["total"],
        "hubspot_429": hubspot_calls - full["hubspot_charged"],
        "api_limited_minimum_seconds": minimum,
        "ratio_to_minimum": round(runs["full"]["wall_seconds"] / minimum, 3) if minimum else None,
        "write_calls": {s: sync_benchmark.write_calls(full[s]["by_route"], s) for s in SYSTEMS},
        "batch_minimum": {s: sync_benchmark.batch_minimum(per_object, s) for s in SYSTEMS},
        "calls_by_route": {s: full[s]["by_route"] for s in SYSTEMS},
        "load_average": os.getloadavg(),
    }
    for label in ("settle", "no_change"):
        if label in runs:
            out[label] = {"wall_seconds": runs[label]["wall_seconds"], "processes": runs[label]["processes"],
                          "calls": {s: calls[label][s]["by_route"] for s in SYSTEMS}}
    print(json.dumps({k: out[k] for k in ("mode", "records", "wall_seconds", "api_limited_minimum_seconds",
                                          "ratio_to_minimum", "hubspot_calls", "write_calls", "batch_minimum",
                                          "load_average")}), file=sys.stderr)
    if "no_change" in out:
        print(json.dumps({"no_change_calls": out["no_change"]["calls"]}), file=sys.stderr)
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_seconds"] for r in runs]
    ratios = [r["ratio_to_minimum"] for r in runs if r["ratio_to_minimum"]]
    return {"runs": len(runs), "wall_seconds_median": statistics.median(walls),
            "wall_seconds_range": [min(walls), max(walls)],
            "api_limited_minimum_seconds": runs[0]["api_limited_minimum_seconds"],
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratio_range": [min(ratios), max(ratios)] if ratios else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=12_000, help="partners + registrations (1:5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--modes", default="one-run",
                        help=f"comma-separated, run in turn within each repeat: {', '.join(MODES)} (default one-run)")
    parser.add_argument("--label", default="")
    parser.add_argument("--full-only", action="store_true",
                        help="skip the settle and no-change runs (the HubSpot sandbox scans every record per search "
                             "page, so reading back 50,000 registrations takes it many minutes)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", choices=["seed", "sync"], help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--systems", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        (child_seed if args.child == "seed" else child_sync)(args)
        return
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.repeats):  # modes alternate, so the machine's drift reaches each alike
        for mode in modes:
            runs[mode].append(run_once(args, mode))
    summary: dict[str, Any] = {"records": args.records, "modes": {m: summarise(r) for m, r in runs.items()}}
    if "parallel" in runs:
        for base in ("serial", "one-run"):
            if base in runs:  # repeat by repeat: each pair ran minutes apart, under the same load
                speedups = [b["wall_seconds"] / p["wall_seconds"] for b, p in zip(runs[base], runs["parallel"], strict=True)]
                summary[f"speedup_parallel_vs_{base}"] = {"median": round(statistics.median(speedups), 3),
                                                          "range": [round(min(speedups), 3), round(max(speedups), 3)]}
    summary["all"] = runs
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"rate_limited_sync{('_' + args.label) if args.label else ''}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "all"}, indent=2))


if __name__ == "__main__":
    main()
