"""The one way assets and ops get an engine: resources in, ``prm_sync.runtime.Runtime`` out.

Connectors come from the Dagster resources (tokens resolved by ``EnvVar`` at
run time) and only for the systems a step needs, so a Salesforce slice never
asks for the ERP key. prm-sync errors become a ``Failure`` with the message a
person can act on, never a traceback; a sync already holding the slice's
run lock makes the step retry later instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import Failure, RetryRequested

from prm_sync.errors import ConfigError, PrmSyncError, RunInProgress
from prm_sync.runtime import Runtime
from prm_sync.store.db import Store
from prm_sync.store.locks import exclusive
from prm_sync.store.runs import RunTrigger
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.stats import RunReport

DEFAULT_LOCATION = "prm_sync"  # pyproject's [tool.dagster] code_location_name
MODE_TAG = "prm_sync/mode"  # "full" on full_sync_job runs: cursors reset, everything re-read
FAILED_TAG = "prm_sync/failed"  # records refused so far in this Dagster run (the run list shows it)
STATUS_TAG = "prm_sync/status"  # the worst prm-sync run status among the run's steps
# worst last: a run's tag keeps the worst status any of its steps reached
STATUS_ORDER = ("succeeded", "succeeded_with_failures", "partial", "failed")
LOCK_RETRIES = 30
LOCK_RETRY_SECONDS = 20


def system_keys(resources: Any, systems: list[str]) -> dict[str, Any]:
    return {s: getattr(resources, s) for s in systems}


@contextmanager
def open_runtime(resources: Any, systems: list[str]) -> Iterator[Runtime]:
    """Config, mappings and store from the resources, connectors for ``systems``; the store is closed after."""
    with friendly_errors():
        config = resources.prm_config.load()
        mappings = resources.mappings.load()
        store = resources.prm_store.open()
    try:
        with friendly_errors():
            connectors = {s: res.connector() for s, res in system_keys(resources, systems).items()}
        yield Runtime(config=config, store=store, mappings=mappings, _connectors=connectors)
    finally:
        store.close()


@contextmanager
def friendly_errors() -> Iterator[None]:
    """prm-sync's own errors as a Dagster ``Failure`` carrying the message; the lock as a retry."""
    try:
        yield
    except RunInProgress as exc:
        raise RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS) from exc
    except ConfigError as exc:
        raise Failure(
            description=str(exc),
            metadata={"error": type(exc).__name__, "problems": [p.render() for p in exc.problems]},
            allow_retries=False,
        ) from None
    except PrmSyncError as exc:
        raise Failure(description=str(exc), metadata={"error": type(exc).__name__}) from None


def tag_run(context: Any, store: Store, *, failed: int, status: str) -> None:
    """Add this step's outcome to the Dagster run's tags: the run list then shows ``prm_sync/failed=N``.

    Steps of one run go at the same time in separate processes (the
    multiprocess executor), and reading the run's tags then adding to them
    is a read-modify-write: the store's ``exclusive`` section makes the
    steps take turns, so no step's count overwrites another's.
    """
    with exclusive(store, f"dagster_run_tags:{context.run_id}"):
        run = context.instance.get_run_by_id(context.run_id)
        tags = run.tags if run is not None else {}
        total = int(tags.get(FAILED_TAG, "0")) + failed
        worst = max(status, tags.get(STATUS_TAG, "succeeded"),
                    key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 0)
        context.instance.add_run_tags(context.run_id, {FAILED_TAG: str(total), STATUS_TAG: worst})


def location_of(context: Any) -> str:
    """The code location a run belongs to (for links into the UI); ``prm_sync`` when run in-process."""
    origin = getattr(context.run, "remote_job_origin", None)
    if origin is not None:
        return origin.repository_origin.code_location_origin.location_name
    return DEFAULT_LOCATION


def trigger_for(tags: dict[str, str]) -> str:
    """What started the run, in the store's run-log vocabulary."""
    if "dagster/schedule_name" in tags:
        return RunTrigger.schedule.value
    if "dagster/sensor_name" in tags:
        return RunTrigger.sensor.value
    return RunTrigger.dagster.value


def run_sync(runtime: Runtime, scope: SyncScope, *, tags: dict[str, str], systems: list[str],
             dry_run: bool = False) -> RunReport:
    """One engine run (pull, channel rules, push) for ``scope``; the run is recorded in the store."""
    engine = runtime.engine(systems)
    with friendly_errors():
        return engine.run(scope, dry_run=dry_run, trigger=trigger_for(tags))
