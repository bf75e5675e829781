"""A run paces the garbage collector and always gives the process its thresholds back."""

from __future__ import annotations

import gc
import threading

import pytest

from prm_sync.sync.gc_pacing import RUN_THRESHOLDS, paced_gc


@pytest.fixture(autouse=True)
def _known_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_run_raises_the_thresholds_and_restores_them() -> None:
    with paced_gc():
        assert gc.get_threshold() == RUN_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_an_error_inside_the_run_still_restores_them() -> None:
    with pytest.raises(RuntimeError), paced_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_runs_restore_only_when_the_outer_one_ends() -> None:
    with paced_gc():
        with paced_gc():
            assert gc.get_threshold() == RUN_THRESHOLDS
        assert gc.get_threshold() == RUN_THRESHOLDS  # the outer run is still going
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_on_threads_restore_after_the_last() -> None:
    inside = threading.Event()
    release = threading.Event()

    def other_run() -> None:
        with paced_gc():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=other_run)
    with paced_gc():
        worker.start()
        assert inside.wait(5)
    assert gc.get_threshold() == RUN_THRESHOLDS  # the thread's run has not ended
    release.set()
    worker.join(5)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_sync_run_writes_paced_and_gives_the_thresholds_back(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce",))
    seen: list[tuple[int, int, int]] = []

    def hook(checkpoint: str) -> None:
        if checkpoint == "push.before_write":
            seen.append(gc.get_threshold())

    report = env.run(crash_hook=hook)

    assert report.status == "succeeded", report.error
    assert seen and set(seen) == {RUN_THRESHOLDS}
    assert gc.get_threshold() == (700, 10, 10)
