"""Many rows into one table with one driver ``executemany``.

A sync batch writes hundreds of link states, ledger rows and audit rows at
once. SQLAlchemy's own executemany builds a parameter dictionary per row and
runs every column's bind processor through its generic machinery, which cost
more than the database itself at sync volumes. Here the statement is compiled
once per (dialect, table, columns, conflict target), each column's bind
processor is looked up once, and the rows go to the DBAPI cursor as plain
tuples or dicts. The SQL is SQLAlchemy's own compilation, so SQLite and
PostgreSQL get the same statement they would get from Core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Prepared:
    sql: str
    columns: tuple[str, ...]  # in the order the driver expects them (positional paramstyles)
    positional: bool
    processors: tuple[Processor, ...]


@lru_cache(maxsize=64)
def _prepare(
    dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None
) -> _Prepared:
    values = {name: bindparam(name) for name in columns}
    if conflict is None:
        statement: Any = table.insert().values(values)
    else:
        module = postgresql if dialect.name == "postgresql" else sqlite
        statement = module.insert(table).values(values)
        updates = {name: statement.excluded[name] for name in columns if name not in conflict}
        statement = statement.on_conflict_do_update(index_elements=list(conflict), set_=updates)
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else columns
    processors = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order)
    return _Prepared(str(compiled), order, bool(compiled.positional), processors)


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
) -> None:
    """Insert ``rows`` (all with the same keys); with ``conflict`` (the primary key) update existing rows instead.

    ``conflict`` turns the statement into ``INSERT ... ON CONFLICT (...) DO
    UPDATE`` on both backends: one round of the driver for inserts and
    updates alike, no existence check first. Rows loaded into the ORM
    session are not refreshed; callers that keep ORM rows of this table
    expire them.
    """
    if not rows:
        return
    connection = session.connection()
    columns = tuple(rows[0])
    prepared = _prepare(connection.dialect, table, columns, tuple(conflict) if conflict else None)
    pairs = [(name, proc) for name, proc in zip(prepared.columns, prepared.processors, strict=True)]
    if prepared.positional:
        params: list[Any] = [
            tuple(row[name] if proc is None else proc(row[name]) for name, proc in pairs)
            for row in rows
        ]
    else:
        params = [
            {name: row[name] if proc is None else proc(row[name]) for name, proc in pairs}
            for row in rows
        ]
    connection.exec_driver_sql(prepared.sql, params)
