"""Sync runs: one row per invocation, from start to its final status and stats.

Start a run in its own short session so it is visible (``prm-sync status``,
Dagster) while the batches that follow commit one by one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from prm_sync.errors import UsageError
from prm_sync.model import new_id, utcnow
from prm_sync.store.orm import SyncRunRow
from prm_sync.store.types import jsonable


class RunTrigger(StrEnum):
    cli = "cli"
    dagster = "dagster"
    schedule = "schedule"
    replay = "replay"
    demo = "demo"
    sensor = "sensor"
    reconcile = "reconcile"
    inbox = "inbox"  # a targeted sync of what webhook events named (prm_sync.webhooks.drain)
    adopt = "adopt"  # prm-sync adopt: the full sync that applies an adoption plan


class RunStatus(StrEnum):
    """The vocabulary of ``prm_sync.sync.stats.RunStatus`` (see ``RunReport.settle``)."""

    running = "running"
    succeeded = "succeeded"
    succeeded_with_failures = "succeeded_with_failures"  # finished; some records were dead-lettered
    partial = "partial"  # stopped early (quota, auth, a system unavailable); the next run resumes
    failed = "failed"  # an error stopped it, or every record it tried was refused
    abandoned = "abandoned"  # its process died mid-run (kill -9, host lost): its lock was taken over or freed


class SyncRun(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    id: str
    trigger: RunTrigger
    scope: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    mapping_version: str | None = None


def start_run(
    session: Session,
    *,
    trigger: RunTrigger | str,
    scope: dict[str, Any] | None = None,
    mapping_version: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
) -> SyncRun:
    row = SyncRunRow(
        id=run_id or new_id("run"),
        trigger=RunTrigger(trigger).value,
        scope=jsonable(scope or {}),
        status=RunStatus.running.value,
        started_at=now or utcnow(),
        stats={},
        mapping_version=mapping_version,
    )
    session.add(row)
    session.flush()
    return SyncRun.model_validate(row)


def finish_run(
    session: Session,
    run_id: str,
    *,
    status: RunStatus | str,
    stats: dict[str, Any] | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> SyncRun:
    row = session.get(SyncRunRow, run_id)
    if row is None:
        msg = f"no sync run with id {run_id}"
        raise UsageError(msg)
    row.status = RunStatus(status).value
    row.stats = jsonable(stats) if stats is not None else row.stats
    row.error = error
    row.finished_at = now or utcnow()
    session.flush()
    return SyncRun.model_validate(row)


def abandon_runs(session: Session, run_ids: set[str] | list[str], *, reason: str, now: datetime | None = None) -> int:
    """Mark these runs ``abandoned`` if they are still ``running``: their process died before finishing.

    The condition is in the UPDATE, so a run that finished meanwhile keeps its own status.
    """
    if not run_ids:
        return 0
    query = (
        update(SyncRunRow)
        .where(SyncRunRow.id.in_(sorted(run_ids)), SyncRunRow.status == RunStatus.running.value)
        .values(status=RunStatus.abandoned.value, finished_at=now or utcnow(), error=f"abandoned: {reason}"[:2000])
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).rowcount


def running_run_ids(session: Session) -> list[str]:
    return list(session.scalars(select(SyncRunRow.id).where(SyncRunRow.status == RunStatus.running.value)))


def get_run(session: Session, run_id: str) -> SyncRun | None:
    row = session.get(SyncRunRow, run_id)
    return None if row is None else SyncRun.model_validate(row)


def list_runs(
    session: Session,
    *,
    limit: int = 20,
    status: RunStatus | str | None = None,
    trigger: RunTrigger | str | None = None,
) -> list[SyncRun]:
    """Most recent first."""
    query = select(SyncRunRow).order_by(SyncRunRow.started_at.desc(), SyncRunRow.id.desc()).limit(limit)
    if status is not None:
        query = query.where(SyncRunRow.status == RunStatus(status).value)
    if trigger is not None:
        query = query.where(SyncRunRow.trigger == RunTrigger(trigger).value)
    return [SyncRun.model_validate(row) for row in session.scalars(query)]
