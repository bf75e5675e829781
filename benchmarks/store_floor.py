"""The store's floor: what SQLite alone needs for the rows a push must keep per record and system.

Every record a push writes leaves, in one commit per batch, a link state
(content hash and snapshot: echo suppression) and an external id, and its
ledger and audit: since migration 0009 one ``push_batch`` row per batch plus
a two-key ``push_batch_record`` row per record, before it a write-ledger row
and an audit row per record. This script takes the rows of whichever kind
the store holds from a store a real sync wrote (``--sample-db``, e.g. the
sync benchmark's throughput run), replicates them with fresh keys into an
empty copy of the same schema in the proportion the sync wrote them (rows
per record-write), and times nothing but ``sqlite3`` ``executemany`` inserts
and commits, batch by batch as the engine commits them: no SQLAlchemy, no
mapping, no HTTP. The result is a ceiling for the engine on this machine and
this schema: it cannot write records faster than their rows can be stored.

    .venv/bin/python benchmarks/store_floor.py --sample-db .data/prm_sync.sqlite --rows 120000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

TABLES = ("sync_state", "write_ledger", "audit_log", "push_batch", "push_batch_record", "record_external_id")
KEYS = {  # columns made unique per copy (None: the database assigns the id)
    "sync_state": ("record_id", "remote_id"),
    "write_ledger": ("id",),
    "audit_log": ("id",),
    "push_batch": ("id",),
    "push_batch_record": ("record_id",),
    "record_external_id": ("record_id", "remote_id"),
}
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA wal_autocheckpoint=20000")


def _sample(sample_db: Path) -> tuple[dict[str, tuple[list[str], list[tuple[Any, ...]]]], dict[str, float]]:
    """Up to 5,000 recent rows of each table the sync wrote, and its rows per link state (per record-write)."""
    source = sqlite3.connect(sample_db)
    try:
        out, ratio = {}, {}
        known = {r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        links = source.execute("SELECT count(*) FROM sync_state").fetchone()[0]
        if not links:
            msg = f"{sample_db} has no sync_state rows: run a sync into it first"
            raise SystemExit(msg)
        for table in TABLES:
            if table not in known:
                continue
            columns = [r[1] for r in source.execute(f"PRAGMA table_info('{table}')")]
            order = "rowid DESC" if table != "push_batch_record" else "batch_id DESC"  # no rowid there
            rows = source.execute(f'SELECT * FROM "{table}" ORDER BY {order} LIMIT 5000').fetchall()
            if rows:
                out[table] = (columns, rows)
                ratio[table] = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] / links
        return out, ratio
    finally:
        source.close()


def _rows(columns: list[str], sample: list[tuple[Any, ...]], table: str, n: int) -> list[tuple[Any, ...]]:
    index = [columns.index(k) for k in KEYS[table]]
    out = []
    for i in range(n):
        row = list(sample[i % len(sample)])
        for j in index:
            row[j] = None if columns[j] == "id" else f"{row[j]}~{i}"
        out.append(tuple(row))
    return out


def _empty_copy(sample_db: Path, target: Path) -> None:
    shutil.copyfile(sample_db, target)
    db = sqlite3.connect(target, isolation_level=None)
    try:
        known = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in TABLES:
            if table in known:
                db.execute(f'DELETE FROM "{table}"')
        db.execute("VACUUM")
    finally:
        db.close()


def measure(sample_db: Path, rows: int, *, batch: int = 500, work: Path | None = None) -> dict[str, Any]:
    """Seconds and µs per record and system to insert ``rows`` of each table, committed per ``batch``."""
    sample, ratio = _sample(sample_db)
    tables = tuple(sample)
    # a table the sync wrote r rows of per record-write gets round(r * batch) rows per batch of the copy
    per_batch = {t: max(1, round(ratio[t] * batch)) for t in tables}
    data = {t: (cols, _rows(cols, rs, t, -(-rows // batch) * per_batch[t])) for t, (cols, rs) in sample.items()}
    sql = {t: f'INSERT INTO "{t}" ({",".join(cols)}) VALUES ({",".join("?" * len(cols))})' for t, (cols, _) in data.items()}
    bytes_per_row = {t: round(sum(len(str(v)) for r in rs[:1000] for v in r if v is not None) / min(1000, len(rs)))
                     for t, (_, rs) in data.items()}
    results: dict[str, Any] = {"rows": rows, "batch": batch, "bytes_per_row": bytes_per_row,
                               "rows_per_record_write": {t: round(r, 4) for t, r in ratio.items()}}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for where in ("disk", "memory"):
            target = Path(tmp) / f"floor-{where}.sqlite"
            _empty_copy(sample_db, target)
            if where == "memory":
                db = sqlite3.connect(":memory:", isolation_level=None)
                disk = sqlite3.connect(target)
                disk.backup(db)
                disk.close()
            else:
                db = sqlite3.connect(target, isolation_level=None)
                for pragma in PRAGMAS:
                    db.execute(pragma)
            per_table = dict.fromkeys(tables, 0.0)
            commits = 0.0
            began = time.perf_counter()
            for number in range(-(-rows // batch)):
                db.execute("BEGIN IMMEDIATE")
                for table in tables:
                    t0 = time.perf_counter()
                    n = per_batch[table]
                    db.executemany(sql[table], data[table][1][number * n : (number + 1) * n])
                    per_table[table] += time.perf_counter() - t0
                t0 = time.perf_counter()
                db.execute("COMMIT")
                commits += time.perf_counter() - t0
            total = time.perf_counter() - began
            db.close()
            results[where] = {
                "seconds": round(total, 2),
                "us_per_record_system": round(total / rows * 1e6, 1),
                "us_per_table": {t: round(s / rows * 1e6, 1) for t, s in per_table.items()},
                "us_commit": round(commits / rows * 1e6, 1),
                # every record goes to two CRMs: the engine cannot exceed this many records per second
                "ceiling_records_per_second": round(rows / total / 2),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample-db", type=Path, required=True, help="a SQLite store a real sync wrote")
    parser.add_argument("--rows", type=int, default=120_000, help="record-system writes (default: 60,000 records x 2)")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(measure(args.sample_db, args.rows, batch=args.batch), indent=2))


if __name__ == "__main__":
    main()
