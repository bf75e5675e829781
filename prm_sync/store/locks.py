"""Run locks: two runs on the same scope never overlap, on SQLite or PostgreSQL.

A lock is a row keyed by scope. Taking it is an INSERT in its own short
transaction, so the primary key decides the race on both backends; a lock
whose holder stopped heart-beating is taken over by one conditional UPDATE,
which only one contender can win (PostgreSQL re-checks the condition after
the row lock, SQLite has a single writer). The lock lives outside the sync's
batch transactions on purpose: it must be visible to other processes at once
and must survive a batch rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prm_sync.errors import RunInProgress
from prm_sync.model import utcnow
from prm_sync.store.db import Store
from prm_sync.store.orm import RunLockRow

DEFAULT_STALE_AFTER = timedelta(minutes=15)


class RunLock(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scope: str
    run_id: str
    acquired_at: datetime
    heartbeat_at: datetime


def acquire_lock(
    store: Store,
    scope: str,
    run_id: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    *,
    now: datetime | None = None,
) -> bool:
    """Take the scope's lock; False if another run holds it and is still alive.

    Succeeds if the scope is free, if the holder's heartbeat is older than
    ``stale_after`` (it crashed), or if ``run_id`` already holds it.
    """
    now = now or utcnow()
    # a lock released between our failed insert and our update is simply free again: try once more
    for _attempt in range(3):
        try:
            with store.session() as session:
                session.add(RunLockRow(scope=scope, run_id=run_id, acquired_at=now, heartbeat_at=now))
                session.flush()
            return True
        except IntegrityError:
            pass
        with store.session() as session:
            takeover = (
                update(RunLockRow)
                .where(
                    RunLockRow.scope == scope,
                    or_(RunLockRow.heartbeat_at < now - stale_after, RunLockRow.run_id == run_id),
                )
                .values(run_id=run_id, acquired_at=now, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if session.execute(takeover).rowcount == 1:
                return True
            if session.get(RunLockRow, scope) is not None:
                return False
    return False


def heartbeat(store: Store, scope: str, run_id: str, *, now: datetime | None = None) -> bool:
    """Prove the holder is alive; False means the lock was lost (taken over) and the run must stop."""
    with store.session() as session:
        query = (
            update(RunLockRow)
            .where(RunLockRow.scope == scope, RunLockRow.run_id == run_id)
            .values(heartbeat_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )
        return session.execute(query).rowcount == 1


def release_lock(store: Store, scope: str, run_id: str) -> bool:
    """Give the lock back; only its holder can, so a run that lost it cannot free its successor's."""
    with store.session() as session:
        query = delete(RunLockRow).where(RunLockRow.scope == scope, RunLockRow.run_id == run_id)
        return session.execute(query).rowcount == 1


def get_lock(session: Session, scope: str) -> RunLock | None:
    row = session.get(RunLockRow, scope)
    return None if row is None else RunLock.model_validate(row)


def list_locks(session: Session) -> list[RunLock]:
    return [
        RunLock.model_validate(row) for row in session.scalars(select(RunLockRow).order_by(RunLockRow.scope))
    ]


@contextmanager
def hold_lock(
    store: Store, scope: str, run_id: str, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> Iterator[None]:
    """Hold the scope's lock for the block, or raise ``RunInProgress`` naming the holder."""
    if not acquire_lock(store, scope, run_id, stale_after):
        with store.session(readonly=True) as session:
            holder = get_lock(session, scope)
        who = (
            f"run {holder.run_id}, last heartbeat {holder.heartbeat_at.isoformat()}"
            if holder
            else "another run"
        )
        msg = f"scope {scope!r} is locked by {who}; it can be taken over once the heartbeat is older than {stale_after}"
        raise RunInProgress(msg)
    try:
        yield
    finally:
        release_lock(store, scope, run_id)
