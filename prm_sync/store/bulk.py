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
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, literal_column, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Prepared:
    sql: str
    columns: tuple[str, ...]  # row keys in the order the driver expects them (positional paramstyles)
    binds: tuple[str, ...]  # the statement's parameter names, same order
    positional: bool
    processors: tuple[Processor, ...]
    memoised: tuple[bool, ...]  # datetime columns: a batch repeats one timestamp, convert it once


def _finish(compiled: Any, dialect: Dialect, table: Table, bind_to_column: dict[str, str]) -> _Prepared:
    binds = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else tuple(bind_to_column)
    columns = tuple(bind_to_column[name] for name in binds)
    types = [table.c[name].type for name in columns]
    processors = tuple(t.dialect_impl(dialect).bind_processor(dialect) for t in types)
    memoised = tuple(_python_type(t) is datetime for t in types)
    return _Prepared(str(compiled), columns, binds, bool(compiled.positional), processors, memoised)


def _python_type(type_: Any) -> type | None:
    impl = getattr(type_, "impl_instance", type_)  # a TypeDecorator reports ``object``; its impl knows
    try:
        return impl.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None


@lru_cache(maxsize=64)
def _prepare_insert(
    dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None
) -> _Prepared:
    values = {name: bindparam(name) for name in columns}
    if conflict is None:
        statement: Any = table.insert().values(values)
    else:
        module = postgresql if dialect.name == "postgresql" else sqlite
        statement = module.insert(table).values(values)
        updates = {name: statement.excluded[name] for name in columns if name not in conflict}
        if updates:
            statement = statement.on_conflict_do_update(index_elements=list(conflict), set_=updates)
        else:  # every column is the key: a row already there is the row
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    return _finish(statement.compile(dialect=dialect), dialect, table, {name: name for name in columns})


@lru_cache(maxsize=64)
def _prepare_update(dialect: Dialect, table: Table, columns: tuple[str, ...], key: tuple[str, ...],
                    increment: tuple[str, ...] = ()) -> _Prepared:
    # bind names may not equal column names in an UPDATE's SET clause
    values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in columns if name not in key}
    values.update({name: table.c[name] + literal_column("1") for name in increment})  # inline: no bind of its own
    statement = update(table).values(values)
    for name in key:
        statement = statement.where(table.c[name] == bindparam(f"b_{name}"))
    return _finish(statement.compile(dialect=dialect), dialect, table, {f"b_{name}": name for name in columns})


def _params(prepared: _Prepared, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """The driver's parameters: a tuple (positional) or dict per row, bind processors applied.

    Values are picked with one ``itemgetter`` call per row and only the
    columns that have a processor are touched again: most columns (text,
    numbers) go to the driver as they are.
    """
    converting: list[tuple[int, Callable[[Any], Any]]] = []
    for index, (proc, memoise) in enumerate(zip(prepared.processors, prepared.memoised, strict=True)):
        if proc is not None:
            converting.append((index, _memo(proc) if memoise else proc))
    columns = prepared.columns
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    if converting:
        values: list[Any] = []
        for row in rows:
            picked = list(pick(row))
            for index, convert in converting:
                picked[index] = convert(picked[index])
            values.append(tuple(picked))
    else:
        values = [pick(row) for row in rows]
    if prepared.positional:
        return values
    binds = prepared.binds
    return [dict(zip(binds, v, strict=True)) for v in values]


def _memo(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = converted = proc(value)
            return converted

    return convert


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
) -> None:
    """Insert ``rows`` (all with the same keys); with ``conflict`` (the primary key) update existing rows instead.

    ``conflict`` turns the statement into ``INSERT ... ON CONFLICT (...) DO
    UPDATE`` (``DO NOTHING`` when every column is in the key) on both backends: one round of the driver for inserts and
    updates alike, no existence check first. Rows loaded into the ORM
    session are not refreshed; callers that keep ORM rows of this table
    expire them.
    """
    if not rows:
        return
    connection = session.connection()
    prepared = _prepare_insert(connection.dialect, table, tuple(rows[0]), tuple(conflict) if conflict else None)
    connection.exec_driver_sql(prepared.sql, _params(prepared, rows))


def update_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str],
                increment: Sequence[str] = ()) -> None:
    """``UPDATE table SET <the other keys> WHERE <key columns match>`` once per row, in one executemany;
    each column of ``increment`` is set to itself + 1 in SQL (a version two writers cannot both write)."""
    if not rows:
        return
    connection = session.connection()
    prepared = _prepare_update(connection.dialect, table, tuple(rows[0]), tuple(key), tuple(increment))
    connection.exec_driver_sql(prepared.sql, _params(prepared, rows))
