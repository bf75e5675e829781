"""Rows to Parquet with DuckDB alone (no pyarrow or pandas in the install).

Rows are streamed to a newline-delimited JSON file and DuckDB's built-in
JSON reader turns it into Parquet with an explicit schema, so an empty
snapshot still has its columns and types, and values never pass through a
DataFrame. Both extensions (json, parquet) ship inside the duckdb wheel:
nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal (paths and names we generate ourselves)."""
    return "'" + text.replace("'", "''") + "'"


def _columns_clause(columns: Mapping[str, str]) -> str:
    inner = ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in columns.items())
    return "{" + inner + "}"


class ParquetSink:
    """Collects rows for one Parquet file; ``close()`` converts them and returns the row count."""

    def __init__(self, path: Path, columns: Mapping[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.columns = dict(columns)
        self.count = 0
        self._staging = path.with_suffix(".jsonl")
        self._fh = self._staging.open("w", encoding="utf-8")

    def add(self, row: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(row, default=str, separators=(",", ":")))
        self._fh.write("\n")
        self.count += 1

    def close(self) -> int:
        self._fh.close()
        try:
            with duckdb.connect() as conn:
                conn.execute(
                    f"COPY (SELECT * FROM read_json({sql_literal(str(self._staging))}, format='newline_delimited', "
                    f"columns={_columns_clause(self.columns)})) TO {sql_literal(str(self.path))} (FORMAT parquet)"
                )
        finally:
            self._staging.unlink(missing_ok=True)
        return self.count


def write_parquet(path: Path, columns: Mapping[str, str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` (dicts keyed by column) to ``path`` with the given DuckDB column types; returns the row count."""
    sink = ParquetSink(path, columns)
    for row in rows:
        sink.add(row)
    return sink.close()


def register_views(conn: duckdb.DuckDBPyConnection, files: Mapping[str, Path]) -> None:
    """Expose each Parquet file as a view named after its table."""
    for name, path in files.items():
        conn.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({sql_literal(str(path))})")
