"""What a run did, per system and entity: the numbers a sync-health page shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["running", "succeeded", "partial", "failed"]


class FailureSample(BaseModel):
    system: str
    entity: str
    record_key: str
    operation: str
    error_code: str
    message: str


class SliceStats(BaseModel):
    """Counts for one (system, entity) slice of a run."""

    system: str
    entity: str
    remote_object: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    conflicts: int = 0
    skipped: int = 0
    api_calls: int = 0
    quota_remaining: int | None = None
    duration_seconds: float = 0.0
    stopped_reason: str | None = None
    failures: list[FailureSample] = Field(default_factory=list)

    def add(self, other: SliceStats) -> None:
        for name in (
            "read",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "failed",
            "conflicts",
            "skipped",
            "api_calls",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.duration_seconds += other.duration_seconds
        self.failures.extend(other.failures)
        if other.quota_remaining is not None:
            self.quota_remaining = other.quota_remaining
        self.stopped_reason = self.stopped_reason or other.stopped_reason


class RunReport(BaseModel):
    run_id: str
    status: RunStatus
    dry_run: bool = False
    started_at: datetime
    finished_at: datetime | None = None
    mapping_version: str
    slices: list[SliceStats] = Field(default_factory=list)
    rule_decisions: dict[str, int] = Field(default_factory=dict)
    # what the run saw but could not tie to a PRM record, by kind ("lms_learners": learners who are no
    # partner contact): facts, not changes; each kind has a command that lists them
    unmatched: dict[str, int] = Field(default_factory=dict)
    error: str | None = None

    def slice(self, system: str, entity: str) -> SliceStats:
        for s in self.slices:
            if s.system == system and s.entity == entity:
                return s
        msg = f"no slice for {system}/{entity} in run {self.run_id}"
        raise KeyError(msg)

    def totals(self) -> dict[str, int]:
        keys = ("read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "api_calls")
        return {k: sum(getattr(s, k) for s in self.slices) for k in keys}
