"""A progress display for long work: steps of the run with an ETA, records of the current step with counts.

Drawn on stderr so stdout stays the command's result; transient, so the
finished run leaves only its report. On a terminal that is not interactive
(piped, CI) rich draws nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from prm_sync.cli.output import err_console
from prm_sync.sync.progress import ProgressCallback, ProgressEvent


@contextmanager
def run_progress(title: str = "sync") -> Iterator[ProgressCallback]:
    """A callback for ``SyncEngine.run(progress=...)`` that drives two bars: the run's steps and the step's records."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        run = progress.add_task(title, total=None)
        step = progress.add_task("starting", total=None, visible=False)

        def on_event(event: ProgressEvent) -> None:
            progress.update(run, total=event.steps, completed=event.step - 1,
                            description=f"{title}: step {event.step} of {event.steps}")
            progress.update(step, description=f"  {event.label}", completed=event.done, total=event.total, visible=True)
            progress.refresh()  # events come per page or batch: each one is drawn, not only what a timer tick catches

        yield on_event
