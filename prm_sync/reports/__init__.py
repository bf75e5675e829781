"""Channel reports from DuckDB over a Parquet snapshot of the PRM store.

``run_reports(store)`` exports the tables the reports need once and returns
``{name: rows}``; each row is a plain dict of str / int / float / None, so
the CLI prints it, writes CSV or Parquet, and Dagster shows it as
``MetadataValue.table`` without conversion. Definitions are in ``queries.py``.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from prm_sync.errors import UsageError
from prm_sync.reconcile.parquet import register_views, sql_literal
from prm_sync.reports.export import export_tables
from prm_sync.reports.queries import MACROS, REPORTS, Report
from prm_sync.store.db import Store

Row = dict[str, Any]

__all__ = ["REPORTS", "Report", "report_names", "run_report", "run_reports", "to_csv", "write_parquet_report"]


def report_names() -> list[str]:
    return list(REPORTS)


def _report(name: str) -> Report:
    if name not in REPORTS:
        msg = f"unknown report {name!r}; available: {', '.join(REPORTS)}"
        raise UsageError(msg)
    return REPORTS[name]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@contextmanager
def _connection(store: Store, names: list[str], work_dir: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    tables = sorted({t for n in names for t in _report(n).tables})
    with tempfile.TemporaryDirectory(prefix="prm-reports-") as tmp:
        files = export_tables(store, work_dir or Path(tmp), tables)
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            for macro in MACROS:
                conn.execute(macro)
            register_views(conn, files)
            yield conn


def _rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[Row]:
    cursor = conn.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]


def run_reports(store: Store, names: list[str] | None = None, *, work_dir: Path | None = None) -> dict[str, list[Row]]:
    """Every named report (all by default) from one export of the store."""
    chosen = names or report_names()
    with _connection(store, chosen, work_dir) as conn:
        return {name: _rows(conn, _report(name).sql) for name in chosen}


def run_report(store: Store, name: str, *, work_dir: Path | None = None) -> list[Row]:
    return run_reports(store, [name], work_dir=work_dir)[name]


def to_csv(rows: list[Row]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_parquet_report(store: Store, name: str, out: Path) -> Path:
    """The report straight from DuckDB to a Parquet file (types kept: decimals stay decimals)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with _connection(store, [name], None) as conn:
        conn.execute(f"COPY ({_report(name).sql}) TO {sql_literal(str(out))} (FORMAT parquet)")
    return out
