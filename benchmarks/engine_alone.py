"""The engine alone: record-writes per second at 12,000, 60,000 and 600,000 records, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/engine_alone.py                                  # 12k and 60k, SQLite, 3 repeats
    .venv/bin/python benchmarks/engine_alone.py --sizes 12000,60000,600000 --backends sqlite,postgresql
    .venv/bin/python benchmarks/engine_alone.py --sizes 60000 --profile          # cProfile into results/

Why a benchmark of its own: the sync benchmark measures the engine by
subtracting the time spent inside connector calls from a run against the
HTTP sandboxes, which at 600,000 records spends most of an hour in the
sandboxes. Here each system is an in-process connector that keeps what it is
sent in a dict and answers at once (``MemoryConnector``: the connector
protocol, ids assigned in order, one "call" counted per batch; it reads back
what it was sent, not what a CRM would answer, so only full pushes are
measured here: reads and no-change syncs are measured against the sandboxes
by ``rate_limited_sync.py`` and ``tests/e2e/test_e2e_call_budget.py``), so the run's
wall time is the engine's time: listing and planning the records, mapping,
committing link states, ledger, audit and external ids. The records are the
sync benchmark's (seed 7, one partner for five registrations), pushed to
Salesforce and HubSpot (two record-writes per record) with channel rules off.

The machine this runs on is shared, so beside the wall time each run
reports its process's CPU time (``time.process_time``: the engine's thread
and SQLite's work in it; PostgreSQL's server work is in another process and
not in it): under load, wall time grows with the other processes, CPU time
much less. Compare CPU rates on a loaded machine, wall rates on a quiet one.

Each size runs in a fresh child process with a fresh store (a SQLite file in
a temporary directory, or a PostgreSQL database of its own created from
``--postgres-url`` and dropped afterwards), ``--repeats`` times; the medians
and the spread (min-max) go to ``benchmarks/results/engine_alone.json``. The
store floor (``store_floor.py``) is measured on each SQLite run's own store.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from connectors.base import Association, Cursor, Quota, RemoteRecord, UpsertRequest, WriteResult  # noqa: E402

SYSTEMS = ("salesforce", "hubspot")
ENTITIES = ["partner", "deal_registration"]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class MemoryConnector:
    """A remote system that answers at once: what is upserted is kept by key and read back in modstamp order."""

    deletes_need_extra_call: ClassVar[bool] = False

    def __init__(self, system: str, batch_size: int, prefix: str) -> None:
        self.system = system
        self.batch_size = batch_size
        self.api_calls = 0
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._objects: dict[str, dict[str, RemoteRecord]] = {}  # object -> key -> record

    def read_changes(self, object_name: str, fields: list[str], since: Cursor, *, where: str | None = None,
                     until: datetime | None = None, include_deleted: bool = True) -> Iterator[RemoteRecord]:
        self.api_calls += 1
        rows = sorted(self._objects.get(object_name, {}).values(), key=lambda r: (r.modstamp, r.id))
        for row in rows:
            if since.modstamp is not None and (row.modstamp, row.id) <= (since.modstamp, since.last_id or ""):
                continue
            if until is not None and row.modstamp > until:
                continue
            yield row

    def read_all(self, object_name: str, fields: list[str], *, where: str | None = None) -> Iterator[RemoteRecord]:
        self.api_calls += 1
        yield from self._objects.get(object_name, {}).values()

    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        self.api_calls += -(-len(records) // self.batch_size)
        table = self._objects.setdefault(object_name, {})
        now = datetime.now(UTC)
        out = []
        for request in records:
            prior = table.get(request.key)
            remote_id = prior.id if prior else f"{self._prefix}{next(self._ids):015d}"
            fields = {**(prior.fields if prior else {}), **request.fields, key_field: request.key}
            table[request.key] = RemoteRecord(id=remote_id, fields=fields, modstamp=now)
            out.append(WriteResult(key=request.key, ok=True, remote_id=remote_id, created=prior is None))
        return out

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        self.api_calls += -(-len(remote_ids) // self.batch_size)
        return [WriteResult(key=i, ok=True, remote_id=i) for i in remote_ids]

    def associate(self, associations: list[Association]) -> list[WriteResult]:
        self.api_calls += -(-len(associations) // self.batch_size)
        return [WriteResult(key=f"{a.from_id}->{a.to_id}", ok=True, remote_id=a.to_id) for a in associations]

    def disassociate(self, associations: list[Association]) -> list[WriteResult]:
        self.api_calls += -(-len(associations) // self.batch_size)
        return [WriteResult(key=f"unlink {a.from_id}->{a.to_id}", ok=True, remote_id=a.to_id) for a in associations]

    def quota(self) -> Quota:
        return Quota(window="none")


def make_records(n: int, *, ids: str) -> tuple[list[Any], list[Any]]:
    """The sync benchmark's records (one partner for five registrations), with ids as ``ids`` says.

    ``new_id``: the ids the product gives records it creates (what a real
    store's B-trees hold); ``sequential``: the sync benchmark's own
    ``ptn_bench00000000001``..., which insert in order whatever ``new_id`` does.
    """
    import sync_benchmark

    from prm_sync.model import new_id

    partners = sync_benchmark.make_partners(n // 6, 7)
    regs = sync_benchmark.make_registrations(n - n // 6, partners, 7)
    if ids == "sequential":
        return partners, regs
    renamed = {p.id: new_id("ptn") for p in partners}
    partners = [p.model_copy(update={"id": renamed[p.id]}) for p in partners]
    regs = [r.model_copy(update={"id": new_id("reg"), "partner_id": renamed[r.partner_id]}) for r in regs]
    return partners, regs


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run in this (fresh) process: seed the PRM store, then one full push to both systems."""
    from prm_sync.config import load_config
    from prm_sync.runtime import open_runtime
    from prm_sync.store import records
    from prm_sync.sync.engine import SyncScope

    work = Path(args.work)
    import sync_benchmark

    # sequential writes: every connector call on the engine's thread, as the sync benchmark's throughput run
    runtime = open_runtime(load_config(sync_benchmark.write_config(work, 500, pipeline=False)), auto_upgrade=True)
    partners, regs = make_records(args.records, ids=args.ids)
    began = time.perf_counter()
    for start in range(0, len(partners) + len(regs), 20_000):
        with runtime.store.session() as session:
            records.save_records(session, [*partners, *regs][start : start + 20_000])
    seeded = time.perf_counter() - began
    del partners, regs
    runtime._connectors = {"salesforce": MemoryConnector("salesforce", 200, "a0S"),
                           "hubspot": MemoryConnector("hubspot", 100, "")}
    engine = runtime.engine(list(SYSTEMS), with_rules=False)
    scope = SyncScope(systems=list(SYSTEMS), entities=ENTITIES)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        began, cpu_began = time.perf_counter(), time.process_time()
        report = profiler.runcall(engine.run, scope, trigger="cli")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        out_dir = Path(args.out)
        profiler.dump_stats(out_dir / f"engine_alone_{args.backend}_{args.records}.prof")
        with (out_dir / f"engine_alone_{args.backend}_{args.records}.txt").open("w") as fh:
            pstats.Stats(profiler, stream=fh).sort_stats("cumulative").print_stats(70)
            pstats.Stats(profiler, stream=fh).sort_stats("tottime").print_stats(50)
    else:
        began, cpu_began = time.perf_counter(), time.process_time()
        report = engine.run(scope, trigger="cli")
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    totals = report.totals()
    writes = totals.get("created", 0) + totals.get("updated", 0)
    calls = {s: c.api_calls for s, c in runtime._connectors.items()}
    runtime.close()
    return {"status": report.status, "records": args.records, "record_writes": writes, "seed_seconds": round(seeded, 2),
            "wall_seconds": round(wall, 3), "writes_per_second": round(writes / wall),
            "us_per_record_write": round(wall / max(writes, 1) * 1e6, 2), "cpu_seconds": round(cpu, 3),
            "cpu_writes_per_second": round(writes / cpu), "cpu_us_per_record_write": round(cpu / max(writes, 1) * 1e6, 2),
            "failed": totals.get("failed", 0),
            "api_calls": calls}


def _database(url: str, name: str, *, drop: bool) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def run_once(args: argparse.Namespace, backend: str, size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="engine-alone-") as tmp:
        env = dict(os.environ)
        env.pop("PRM_SYNC_DATABASE_URL", None)
        db_name = f"prm_engine_alone_{os.getpid()}"
        if backend == "postgresql":
            env["PRM_SYNC_DATABASE_URL"] = _database(args.postgres_url, db_name, drop=False)
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--child", "--work", tmp, "--records", str(size), "--backend", backend,
               "--result", str(result_file), "--out", args.out, "--ids", args.ids]
        if args.profile:
            cmd.append("--profile")
        try:
            subprocess.run(cmd, check=True, env=env, cwd=ROOT)
            result = json.loads(result_file.read_text())
            if backend == "sqlite" and not args.no_floor:
                import store_floor

                floor = store_floor.measure(Path(tmp) / "data" / "prm_sync.sqlite", result["record_writes"])
                result["store_floor_us"] = {w: floor[w]["us_per_record_system"] for w in ("disk", "memory")}
                result["store_floor_tables_us"] = floor["disk"]["us_per_table"] | {"commit": floor["disk"]["us_commit"]}
        finally:
            if backend == "postgresql":
                _database(args.postgres_url, db_name, drop=True)
    print(json.dumps({"backend": backend, **{k: result[k] for k in ("records", "writes_per_second", "us_per_record_write",
                      "cpu_writes_per_second", "failed")}, "floor": result.get("store_floor_us"),
                      "load": os.getloadavg()[0]}), file=sys.stderr)
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["writes_per_second"] for r in runs]
    cost = [r["us_per_record_write"] for r in runs]
    cpu_rates = [r["cpu_writes_per_second"] for r in runs]
    cpu_cost = [r["cpu_us_per_record_write"] for r in runs]
    out: dict[str, Any] = {"runs": len(runs), "writes_per_second_median": round(statistics.median(rates)),
                           "writes_per_second_range": [min(rates), max(rates)],
                           "us_per_record_write_median": round(statistics.median(cost), 2),
                           "us_per_record_write_range": [min(cost), max(cost)],
                           "cpu_writes_per_second_median": round(statistics.median(cpu_rates)),
                           "cpu_writes_per_second_range": [min(cpu_rates), max(cpu_rates)],
                           "cpu_us_per_record_write_median": round(statistics.median(cpu_cost), 2),
                           "api_calls": runs[0]["api_calls"]}
    floors = [r["store_floor_us"]["disk"] for r in runs if "store_floor_us" in r]
    if floors:
        out["store_floor_disk_us_median"] = round(statistics.median(floors), 1)
        out["store_floor_disk_us_range"] = [min(floors), max(floors)]
        out["store_floor_tables_us"] = runs[-1]["store_floor_tables_us"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="12000,60000", help="records (partners + registrations, 1:5), comma-separated")
    parser.add_argument("--backends", default="sqlite", help="sqlite, postgresql or both, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get("PRM_SYNC_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--profile", action="store_true", help="cProfile each run into results/engine_alone_*.txt")
    parser.add_argument("--no-floor", action="store_true", help="skip the SQLite store floor")
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--ids", choices=["new_id", "sequential"], default="new_id",
                        help="record ids as the product makes them (default) or the sync benchmark's ordered ones")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.child:
        Path(args.result).write_text(json.dumps(child(args)))
        return
    results: dict[str, Any] = {"label": args.label, "ids": args.ids, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "load_average": os.getloadavg(), "sizes": {}}
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            runs = [run_once(args, backend, size) for _ in range(args.repeats)]
            results["sizes"][f"{backend}:{size}"] = _summary(runs) | {"all": runs}
    base = {b: results["sizes"].get(f"{b}:{min(int(s) for s in args.sizes.split(','))}") for b in args.backends.split(",")}
    for key, summary in results["sizes"].items():
        first = base[key.split(":")[0]]
        if first:
            summary["cost_vs_smallest"] = round(summary["us_per_record_write_median"] / first["us_per_record_write_median"], 2)
            summary["cpu_cost_vs_smallest"] = round(
                summary["cpu_us_per_record_write_median"] / first["cpu_us_per_record_write_median"], 2)
    results["load_average_after"] = os.getloadavg()
    path = Path(args.out) / f"engine_alone{('_' + args.label) if args.label else ''}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps({k: {n: v for n, v in s.items() if n != "all"} for k, s in results["sizes"].items()}, indent=2))


if __name__ == "__main__":
    main()
