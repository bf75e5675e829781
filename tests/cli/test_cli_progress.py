"""The progress display of a long sync: the run's steps with an ETA, the current step's records with counts.

Drawn on a terminal only (stderr), so the test gives it one: a console that
says it is a terminal, writing into a buffer, while a real engine run against
the Salesforce sandbox reports its steps.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

import prm_sync.cli.progress as progress_module
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.progress import ProgressEvent


def test_a_sync_shows_its_steps_records_and_eta_on_a_terminal(make_sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_sync_env(systems=("salesforce",))
    screen = io.StringIO()
    monkeypatch.setattr(progress_module, "err_console",
                        Console(file=screen, force_terminal=True, width=120, color_system=None))
    seen: list[ProgressEvent] = []

    with progress_module.run_progress("sync") as draw:
        def both(event: ProgressEvent) -> None:
            seen.append(event)
            draw(event)

        report = env.runtime.engine(["salesforce"]).run(SyncScope(systems=["salesforce"]), progress=both)

    assert report.status == "succeeded"
    steps = seen[0].steps
    assert steps > 2 and [e.step for e in seen] == sorted(e.step for e in seen) and seen[-1].step == steps
    counted = [e for e in seen if e.total]  # a push knows its plan: records done out of a total
    assert counted and all(0 <= e.done <= e.total for e in counted)
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(rf"sync: step \d+ of {steps}", drawn)
    assert re.search(r"push salesforce/\w+ .*\d+/\d+", drawn)  # counts of the current step
    assert "eta" in drawn
