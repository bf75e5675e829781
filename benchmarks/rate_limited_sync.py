"""A full sync at the CRMs' real limits, against the time those limits alone allow.

    .venv/bin/python benchmarks/rate_limited_sync.py                       # 12,000 records (2,000 partners)
    .venv/bin/python benchmarks/rate_limited_sync.py --records 60000 --repeats 1

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

Each repeat uses a fresh sandbox pair and store; medians and spread go to
``benchmarks/results/rate_limited_sync.json``.
"""

from __future__ import annotations

import argparse
import json
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


def child(args: argparse.Namespace) -> None:
    """In the engine's own process: seed the PRM store, a full sync, its echoes, then a sync with nothing to do."""
    from prm_sync.config import load_config
    from prm_sync.runtime import open_runtime
    from prm_sync.store import records
    from prm_sync.sync.engine import SyncScope

    runtime = open_runtime(load_config(Path(args.config), sandbox_state=Path(args.state)))
    n_partners = args.records // 6
    partners = sync_benchmark.make_partners(n_partners, 7)
    regs = sync_benchmark.make_registrations(args.records - n_partners, partners, 7)
    with runtime.store.session() as session:
        records.save_records(session, [*partners, *regs])
    scope = SyncScope(systems=list(SYSTEMS), entities=ENTITIES)
    out: dict[str, Any] = {}
    for label in ("full",) if args.full_only else ("full", "settle", "no_change"):
        sync_benchmark.signal_phase(args, f"run.{label}")
        began = time.perf_counter()
        report = runtime.engine(list(SYSTEMS), with_rules=False).run(scope, trigger="cli")
        out[label] = {"status": report.status, "wall_seconds": round(time.perf_counter() - began, 3),
                      "totals": report.totals()}
    runtime.close()
    Path(args.result).write_text(json.dumps(out))


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    from connectors.sandbox.cluster import SandboxCluster

    with tempfile.TemporaryDirectory(prefix="rate-limited-") as tmp:
        work = Path(tmp)
        cluster = SandboxCluster(work / "sandbox", systems=SYSTEMS).start()  # the sandboxes' own limits
        try:
            hubspot = cluster.apps["hubspot"]
            assert (hubspot.ten_second_limit, hubspot.rate_window_seconds) == HUBSPOT_WINDOW  # type: ignore[attr-defined]
            state = cluster.write_state(work / "sandbox.json")
            marker, result = work / "phase", work / "result.json"
            config = sync_benchmark.write_config(work, args.page_size, hubspot_per_10s=HUBSPOT_WINDOW[0])
            # the sandboxes start as a new org and portal do: `prm-sync setup` creates our fields first
            subprocess.run([sys.executable, "-c", "from prm_sync.cli.app import main; main()", "--config", str(config),
                            "--sandbox-state", str(state), "setup"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            cmd = [sys.executable, __file__, "--child", "--state", str(state), "--marker", str(marker),
                   *(["--full-only"] if args.full_only else []),
                   "--result", str(result), "--records", str(args.records), "--config", str(config)]
            child_process = subprocess.Popen(cmd, cwd=ROOT)
            calls: dict[str, Any] = {}
            charged = {"start": 0}  # HubSpot requests charged to its budget: the calls not refused with 429
            current = None
            while True:  # reset the sandboxes' counters at each step the child announces
                if marker.exists():
                    if current:
                        calls[current] = sync_benchmark.snapshot_calls(cluster)
                        calls[current]["hubspot_charged"] = hubspot.daily_used - charged["start"]  # type: ignore[attr-defined]
                    current = marker.read_text().split(".", 1)[1]
                    charged["start"] = hubspot.daily_used  # type: ignore[attr-defined]
                    for app in cluster.apps.values():
                        with app.lock:
                            app.calls.clear()
                    marker.unlink()
                if child_process.poll() is not None:
                    break
                time.sleep(0.01)
            if current:
                calls[current] = sync_benchmark.snapshot_calls(cluster)
                calls[current]["hubspot_charged"] = hubspot.daily_used - charged["start"]  # type: ignore[attr-defined]
            if child_process.returncode != 0:
                raise SystemExit(f"the sync failed with exit code {child_process.returncode}")
            runs = json.loads(result.read_text())
        finally:
            cluster.stop()
    n_partners = args.records // 6
    per_object = {"partner": n_partners, "deal_registration": args.records - n_partners}
    full = calls["full"]
    hubspot_calls = full["hubspot"]["total"]
    minimum = api_limited_minimum(full["hubspot_charged"])  # the calls HubSpot accepted (429s are not work)
    out = {
        "records": args.records, "wall_seconds": runs["full"]["wall_seconds"], "status": runs["full"]["status"],
        "hubspot_calls": hubspot_calls, "salesforce_calls": full["salesforce"]["total"],
        "hubspot_429": hubspot_calls - full["hubspot_charged"],
        "api_limited_minimum_seconds": minimum,
        "ratio_to_minimum": round(runs["full"]["wall_seconds"] / minimum, 3) if minimum else None,
        "write_calls": {s: sync_benchmark.write_calls(full[s]["by_route"], s) for s in SYSTEMS},
        "batch_minimum": {s: sync_benchmark.batch_minimum(per_object, s) for s in SYSTEMS},
        "calls_by_route": {s: full[s]["by_route"] for s in SYSTEMS},
    }
    for label in ("settle", "no_change"):
        if label in runs:
            out[label] = {"wall_seconds": runs[label]["wall_seconds"], "totals": runs[label]["totals"],
                          "calls": {s: calls[label][s]["by_route"] for s in SYSTEMS}}
    print(json.dumps({k: out[k] for k in ("records", "wall_seconds", "api_limited_minimum_seconds", "ratio_to_minimum",
                                          "hubspot_calls", "write_calls", "batch_minimum")}), file=sys.stderr)
    if "no_change" in out:
        print(json.dumps({"no_change_calls": out["no_change"]["calls"]}), file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=12_000, help="partners + registrations (1:5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--label", default="")
    parser.add_argument("--full-only", action="store_true",
                        help="skip the settle and no-change runs (the HubSpot sandbox scans every record per search "
                             "page, so reading back 50,000 registrations takes it many minutes)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--marker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    runs = [run_once(args) for _ in range(args.repeats)]
    walls = [r["wall_seconds"] for r in runs]
    ratios = [r["ratio_to_minimum"] for r in runs if r["ratio_to_minimum"]]
    summary = {"records": args.records, "runs": len(runs), "wall_seconds_median": statistics.median(walls),
               "wall_seconds_range": [min(walls), max(walls)],
               "api_limited_minimum_seconds": runs[0]["api_limited_minimum_seconds"],
               "ratio_median": statistics.median(ratios) if ratios else None,
               "ratio_range": [min(ratios), max(ratios)] if ratios else None, "all": runs}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"rate_limited_sync{('_' + args.label) if args.label else ''}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "all"}, indent=2))


if __name__ == "__main__":
    main()
