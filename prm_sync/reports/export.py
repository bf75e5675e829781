"""The PRM store's tables as Parquet, typed, for DuckDB.

Reports never query the operational database directly: a snapshot of the
tables they need is written as Parquet (DuckDB's sqlite/postgres scanners
are extensions this install cannot download, and a snapshot keeps heavy
analytics off the sync's database anyway). Column types follow the ORM:
money stays decimal, timestamps stay UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from prm_sync.reconcile.parquet import ParquetSink
from prm_sync.store.db import Store
from prm_sync.store.orm import ENTITY_ROWS, ConflictCheckRow

TABLES: dict[str, sa.Table] = {
    **{entity: cls.__table__ for entity, cls in ENTITY_ROWS.items()},  # type: ignore[attr-defined]
    "conflict_check": ConflictCheckRow.__table__,  # type: ignore[attr-defined]
}


def duck_type(column: sa.Column[Any]) -> str:
    kind = column.type
    impl = getattr(kind, "impl", kind)  # a TypeDecorator (UTCDateTime, Money) wraps the real type
    if isinstance(impl, sa.DateTime):
        return "TIMESTAMPTZ"
    if isinstance(impl, sa.Date):
        return "DATE"
    if isinstance(impl, sa.Boolean):
        return "BOOLEAN"
    if isinstance(impl, sa.Float):
        return "DOUBLE"
    if isinstance(impl, sa.Numeric):
        return "DECIMAL(18,4)"
    if isinstance(impl, sa.Integer):
        return "BIGINT"
    return "VARCHAR"


def _cell(value: Any, kind: str) -> Any:
    if kind == "VARCHAR" and isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)  # JSON columns as JSON text
    if kind == "TIMESTAMPTZ" and value is not None:
        return value.isoformat()
    return value


def export_tables(store: Store, out_dir: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """Write each named table (all of ``TABLES`` by default) to ``out_dir/<name>.parquet``."""
    files: dict[str, Path] = {}
    with store.session(readonly=True) as session:
        for name in names or TABLES:
            table = TABLES[name]
            columns = {c.name: duck_type(c) for c in table.columns}
            sink = ParquetSink(out_dir / f"{name}.parquet", columns)
            for row in session.execute(sa.select(table)).mappings():
                sink.add({c: _cell(row[c], kind) for c, kind in columns.items()})
            sink.close()
            files[name] = sink.path
    return files
