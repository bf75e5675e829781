"""The run's ``prm_sync/failed`` tag adds up every step's count when steps finish at the same moment.

With the multiprocess executor each step is its own process and reads,
then rewrites, the run's tags: without the store's ``exclusive`` section two
steps finishing together each write their own total and one count is lost.
Eight writers (separate store connections, as separate processes have)
finish at once, several times over, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from dagster import DagsterInstance, DagsterRun

from dagster_project.runtime import FAILED_TAG, STATUS_TAG, tag_run
from prm_sync.store import Store, make_engine

STEPS = 8
ROUNDS = 5


def step(instance: DagsterInstance, run_id: str, store: Store, index: int, start: threading.Barrier) -> None:
    """One step finishing: its own store connection, released together with the others."""
    start.wait()
    tag_run(SimpleNamespace(instance=instance, run_id=run_id), store, failed=1,
            status="partial" if index == 3 else "succeeded")


def test_concurrent_steps_add_up_their_failed_counts(store: Store, tmp_path: Path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        run = instance.add_run(DagsterRun(job_name="incremental_sync_job", run_id="run-tags-race"))
        stores = [Store(make_engine(store.engine.url)) for _ in range(STEPS)]
        try:
            for _ in range(ROUNDS):
                start = threading.Barrier(STEPS)
                with ThreadPoolExecutor(STEPS) as pool:
                    list(pool.map(lambda i, barrier=start: step(instance, run.run_id, stores[i], i, barrier), range(STEPS)))
        finally:
            for opened in stores:
                opened.close()
        tags = instance.get_run_by_id(run.run_id).tags
    assert tags[FAILED_TAG] == str(STEPS * ROUNDS)
    assert tags[STATUS_TAG] == "partial"  # the worst status any step reached
