"""Other histories a CLI run is reported to, so the Dagster UI and ``prm-sync runs`` agree.

The engine imports no orchestrator. An orchestrator that wants to hear about
runs made outside it registers an observer under the ``prm_sync.observers``
entry point group (``dagster_project.reporting`` does, for the Dagster
instance named by ``DAGSTER_HOME``); the CLI tells every available observer
what it changed: a sync run, a replay, a fixed or discarded failure.
Observers also answer what only the orchestrator knows for ``prm-sync
status``: whether its schedules are on and its daemon is alive.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import entry_points
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from prm_sync.config import AppConfig
from prm_sync.store.db import Store

GROUP = "prm_sync.observers"
DISABLE_ENV = "PRM_SYNC_OBSERVERS"  # "off" reports nowhere (tests, or a shell that must not touch Dagster)


class HealthChange(BaseModel):
    """What a command changed: a run's slices, or failures of some slices (replay, fix, discard)."""

    kind: Literal["run", "replay", "failures"]
    slices: list[tuple[str, str]] = Field(default_factory=list)  # (system, entity) whose health changed
    run_ids: list[str] = Field(default_factory=list)  # the runs it made (recorded in the store), for ``run``/``replay``
    actor: str = "cli"


class ScheduleState(BaseModel):
    name: str
    job: str
    cron: str
    timezone: str
    running: bool | None  # None: the orchestrator does not know it (not loaded there yet)
    next_tick: datetime | None = None


class OrchestratorStatus(BaseModel):
    """What the orchestrator says about running things on time."""

    name: str  # "Dagster"
    where: str  # e.g. the instance's home directory
    schedules: list[ScheduleState] = Field(default_factory=list)
    daemon_alive: bool | None = None
    daemon_heartbeat: datetime | None = None
    problems: list[str] = Field(default_factory=list)


class Observer(Protocol):
    name: str

    def available(self) -> bool:
        """Whether there is anything to report to (e.g. ``DAGSTER_HOME`` is set)."""
        ...

    def report(self, config: AppConfig, store: Store, change: HealthChange) -> str:
        """Record the change; returns one line saying where it went."""
        ...

    def status(self, config: AppConfig) -> OrchestratorStatus:
        ...


def observers() -> Iterator[Observer]:
    """The installed observers that have somewhere to report to."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return
    for entry in entry_points(group=GROUP):
        observer = entry.load()()
        if observer.available():
            yield observer
