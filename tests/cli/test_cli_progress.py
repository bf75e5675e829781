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
from connectors.sandbox.http import FaultConfig
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


def test_a_replay_shows_each_group_of_failures_as_a_step_with_counts(make_sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """``failures replay --all``: one step per group (parents first), the group's records counted as they are written."""
    env = make_sync_env(systems=("salesforce",))
    salesforce = env.apps["salesforce"]
    salesforce.faults = FaultConfig(invalid_values={"Name": [p["name"] for p in env.data.partners[:2]]})
    assert env.cli("sync").exit_code == 5  # two partners refused, their contacts and registrations with them
    salesforce.faults = FaultConfig()
    groups = {(f["remote_object"], f["entity"]) for f in env.cli("failures", "list", "--json").json()}
    assert len(groups) >= 2
    screen = io.StringIO()
    monkeypatch.setattr(progress_module, "err_console",
                        Console(file=screen, force_terminal=True, width=120, color_system=None))

    replayed = env.cli("failures", "replay", "--all")

    assert replayed.exit_code == 0, replayed.output
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(rf"replay: step 1 of {len(groups)}", drawn), drawn
    assert re.search(rf"replay: step {len(groups)} of {len(groups)}", drawn), drawn
    assert re.search(r"replay push salesforce/partner\s.*\b2/2\b", drawn), drawn  # both partners, counted
    assert "eta" in drawn
