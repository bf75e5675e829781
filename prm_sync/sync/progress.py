"""How far a run is: the events the engine emits for progress bars and logs.

A run is a known list of steps (each slice's pull, the channel rules, each
slice's push), so the whole run has a count and an ETA from the start; within
a step the records done so far are counted, with a total once the step knows
it (a push knows its plan before it writes the first batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step started (``done=0``) or moved on (records done so far)."""

    phase: str  # pull | rules | push
    system: str | None
    entity: str | None
    step: int  # 1-based position of this step in the run
    steps: int  # steps the run plans
    done: int = 0  # records handled so far in this step
    total: int | None = None  # records this step will handle, when known

    @property
    def label(self) -> str:
        return self.phase if self.system is None else f"{self.phase} {self.system}/{self.entity}"

    def __str__(self) -> str:
        count = f" {self.done}/{self.total}" if self.total is not None else (f" {self.done}" if self.done else "")
        return f"[{self.step}/{self.steps}] {self.label}{count}"


ProgressCallback = Callable[[ProgressEvent], None]
