"""Retention: drop history older than the configured windows, in short transactions.

Every batch a sync writes leaves a ledger-and-audit row (``push_batch``;
older stores a ledger row and an audit row per record), every run a run
row, every webhook an inbox row; resolved failures and review items stay
as history. Nothing removed them, so the store grew with every run for
ever. ``prune_history`` applies ``config.retention``: each kind of history
has its own window (``None`` keeps it), and only rows that no running sync
needs are candidates:

* the write ledger is forensic (echo suppression reads the link state), so a
  month is plenty; a push batch holds its records' audit as well, so it
  follows the audit window;
* audit entries are the compliance record: a year by default, and those
  the rules count (a registration's extensions) stay;
* runs only once finished; failures and review items only once resolved or
  discarded; inbox events only once processed (a redelivery within the window
  is still recognised as a duplicate);
* a registration's latest conflict check is always kept: the rules treat a
  registration without one as never checked.

Rows go in chunks of ``chunk`` with a commit after each, so that a prune of
a large store never holds SQLite's write lock for long and a sync can run
beside it. A real prune is itself audited (action ``store.prune``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Table, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from prm_sync.config.settings import RetentionConfig
from prm_sync.errors import FatalError
from prm_sync.model import utcnow
from prm_sync.store import push_batches
from prm_sync.store.audit import AuditEntry, append_audit
from prm_sync.store.db import SQLITE_PAGE_SIZE, Store
from prm_sync.store.failures import FailureStatus
from prm_sync.store.orm import (
    AuditLogRow,
    ConflictCheckRow,
    FailedRecordRow,
    InboxEventRow,
    PushBatchRow,
    ReviewItemRow,
    SyncRunRow,
    WriteLedgerRow,
)
from prm_sync.store.review import ReviewStatus
from prm_sync.store.runs import RunStatus

PRUNE_ACTION = "store.prune"
KEPT_AUDIT_ACTIONS = ("registration.extend",)
"""Audit entries the rules count, kept whatever their age: ``rules.lifecycle.extensions_used`` counts a
registration's extensions in the audit log, so pruning them would let it be extended past
``max_extensions``."""


class PrunedTable(BaseModel):
    """What one kind of history lost (or would lose, in a dry run)."""

    name: str
    table: str
    keep_days: int | None  # None: kept for ever
    cutoff: datetime | None
    rows: int


class PruneReport(BaseModel):
    dry_run: bool
    at: datetime
    tables: list[PrunedTable]

    @property
    def total(self) -> int:
        return sum(t.rows for t in self.tables)


@dataclass(frozen=True)
class _History:
    name: str  # the retention setting's stem, e.g. "ledger" for ledger_days
    table: Table
    condition: Callable[[datetime], ColumnElement[bool]]  # rows older than the cutoff that may go
    # deletes rows by key (a list of them) and what hangs off them; None: a plain DELETE
    remove: Callable[[Session, list[Any]], int] | None = None


def _superseded_check(cutoff: datetime) -> ColumnElement[bool]:
    newer = aliased(ConflictCheckRow)
    return and_(
        ConflictCheckRow.checked_at < cutoff,
        exists().where(
            newer.registration_id == ConflictCheckRow.registration_id,
            or_(newer.checked_at > ConflictCheckRow.checked_at,
                and_(newer.checked_at == ConflictCheckRow.checked_at, newer.id > ConflictCheckRow.id)),
        ),
    )


HISTORY: tuple[_History, ...] = (
    _History("ledger", WriteLedgerRow.__table__, lambda cutoff: WriteLedgerRow.written_at < cutoff),
    _History("audit", AuditLogRow.__table__,
             lambda cutoff: and_(AuditLogRow.at < cutoff, AuditLogRow.action.not_in(KEPT_AUDIT_ACTIONS))),
    # a push batch is its records' audit and ledger at once: it stays as long as the audit does
    _History("audit", PushBatchRow.__table__, lambda cutoff: PushBatchRow.at < cutoff, push_batches.delete_batches),
    _History("runs", SyncRunRow.__table__, lambda cutoff: and_(
        SyncRunRow.status != RunStatus.running.value,
        func.coalesce(SyncRunRow.finished_at, SyncRunRow.started_at) < cutoff)),
    _History("inbox", InboxEventRow.__table__, lambda cutoff: InboxEventRow.processed_at < cutoff),
    _History("resolved_failures", FailedRecordRow.__table__, lambda cutoff: and_(
        FailedRecordRow.status != FailureStatus.open.value,
        func.coalesce(FailedRecordRow.resolved_at, FailedRecordRow.last_seen) < cutoff)),
    _History("resolved_reviews", ReviewItemRow.__table__, lambda cutoff: and_(
        ReviewItemRow.status == ReviewStatus.resolved.value,
        func.coalesce(ReviewItemRow.resolved_at, ReviewItemRow.created_at) < cutoff)),
    _History("conflict_checks", ConflictCheckRow.__table__, _superseded_check),
)


def _count(store: Store, history: _History, cutoff: datetime) -> int:
    with store.session(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(history.table).where(history.condition(cutoff)))
                   or 0)


def _delete(store: Store, history: _History, cutoff: datetime, chunk: int) -> int:
    """Delete matching rows oldest key first, ``chunk`` rows per transaction."""
    key = history.table.primary_key.columns.values()[0]
    removed = 0
    while True:
        with store.session() as session:
            ids = select(key).where(history.condition(cutoff)).order_by(key).limit(chunk)
            if history.remove is not None:
                gone = history.remove(session, list(session.scalars(ids)))
            else:
                gone = session.execute(delete(history.table).where(key.in_(ids.scalar_subquery()))).rowcount or 0
        removed += gone
        if gone < chunk:
            return removed


def prune_history(
    store: Store,
    policy: RetentionConfig,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str = "prm-sync",
    chunk: int = 5000,
) -> PruneReport:
    """Apply ``policy``: count (``dry_run``) or delete each kind of history older than its window."""
    at = now or utcnow()
    tables: list[PrunedTable] = []
    for history in HISTORY:
        days: int | None = getattr(policy, f"{history.name}_days")
        if days is None:
            tables.append(PrunedTable(name=history.name, table=history.table.name, keep_days=None, cutoff=None, rows=0))
            continue
        cutoff = at - timedelta(days=days)
        rows = _count(store, history, cutoff) if dry_run else _delete(store, history, cutoff, chunk)
        tables.append(PrunedTable(name=history.name, table=history.table.name, keep_days=days, cutoff=cutoff, rows=rows))
    report = PruneReport(dry_run=dry_run, at=at, tables=tables)
    if not dry_run:
        with store.session() as session:
            append_audit(session, [AuditEntry(
                at=at, actor=actor, action=PRUNE_ACTION,
                fields_after={t.table: t.rows for t in tables if t.keep_days is not None},
                reason=f"retention: {report.total} rows older than their window removed",
            )])
    return report


class Vacuumed(BaseModel):
    """What ``vacuum_sqlite`` did: the file was rebuilt, at this page size, converted or not."""

    page_size: int
    resized: bool


def vacuum_sqlite(store: Store) -> Vacuumed | None:
    """Give the space back to the file system (SQLite only, else None: PostgreSQL's autovacuum reuses it in place).

    A store created with an older page size is rebuilt with ``SQLITE_PAGE_SIZE``
    on the way, which needs it to leave WAL mode for the rebuild: when another
    process has the store open that is refused, and the VACUUM keeps the old
    size (``resized`` is False). A VACUUM that cannot get the database at all
    is a ``FatalError`` that says so; the prune before it is committed already.
    """
    if store.backend != "sqlite":
        return None
    raw = store.engine.raw_connection()  # VACUUM cannot run inside the BEGIN that sessions open
    try:
        cursor = raw.cursor()
        resized = False
        if cursor.execute("PRAGMA page_size").fetchone()[0] != SQLITE_PAGE_SIZE:
            try:
                resized = cursor.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
            except sqlite3.OperationalError:  # another connection holds the database
                resized = False
            if resized:
                cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        try:
            cursor.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            with suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode=WAL")
            msg = (f"cannot compact the store ({exc}): another process is using it; the prune itself is done, "
                   "run `prm-sync db prune --vacuum` again while no sync runs")
            raise FatalError(msg) from exc
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and the WAL file shrinks too
        page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
        cursor.close()
    finally:
        raw.close()
    return Vacuumed(page_size=page_size, resized=resized)
