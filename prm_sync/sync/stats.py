"""What a run did, per system and entity: the numbers a sync-health page shows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from prm_sync.sync.preview import Preview

# succeeded: nothing failed. succeeded_with_failures: finished, some records dead-lettered.
# partial: stopped early (quota, auth, a system unavailable). failed: an error stopped the run, or
# every record it tried was refused and nothing was written (see ``RunReport.settle``).
RunStatus = Literal["running", "succeeded", "succeeded_with_failures", "partial", "failed"]
WRITTEN = ("created", "updated", "deleted")


class FailureSample(BaseModel):
    system: str
    entity: str
    record_key: str
    operation: str
    error_code: str
    message: str
    fields: list[str] = Field(default_factory=list)  # the remote fields the error names


class UnmatchedSample(BaseModel):
    """A remote record the slice could not tie to a PRM record (see ``prm_sync.sync.identity``)."""

    remote_id: str
    reason: str  # no_prm_id | ambiguous | linked_elsewhere | unknown_prm_id
    summary: str = ""
    detail: str = ""
    candidates: list[str] = Field(default_factory=list)


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
    unmatched: int = 0  # remote records without a PRM record to tie them to (on_unmatched: report, ambiguous)
    adopted: int = 0  # remote records born in the CRM that became (or were matched to) PRM records
    merged: int = 0  # merges made in the CRM that the PRM followed (relinked to the survivor, joined, or for review)
    api_calls: int = 0
    quota_remaining: int | None = None
    quota_used: int | None = None  # the remote's own count against its limit, as last reported
    quota_limit: int | None = None
    quota_window: str | None = None  # daily, 10s
    duration_seconds: float = 0.0
    stopped_reason: str | None = None
    failures: list[FailureSample] = Field(default_factory=list)
    unmatched_records: list[UnmatchedSample] = Field(default_factory=list)

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
            "unmatched",
            "adopted",
            "merged",
            "api_calls",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.duration_seconds += other.duration_seconds
        self.failures.extend(other.failures)
        self.unmatched_records.extend(other.unmatched_records)
        if other.quota_remaining is not None:
            self.quota_remaining = other.quota_remaining
        if other.quota_limit is not None:
            self.quota_used, self.quota_limit, self.quota_window = other.quota_used, other.quota_limit, other.quota_window
        self.stopped_reason = self.stopped_reason or other.stopped_reason


IDENTITY = ("adopted", "unmatched", "merged")


def identity_counts(slices: Iterable[SliceStats | dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``system/entity`` -> the identity counts that are not zero: who the sync adopted, could not tie, or merged.

    Takes the report's slices or the dicts a stored run keeps (``SyncRun.stats``),
    so a live report, ``prm-sync runs show`` and Dagster say the same.
    """
    out: dict[str, dict[str, int]] = {}
    for s in slices:
        row = s if isinstance(s, dict) else s.model_dump(include={"system", "entity", *IDENTITY})
        counts = {k: int(row.get(k) or 0) for k in IDENTITY if row.get(k)}
        if counts:
            key = f"{row.get('system')}/{row.get('entity')}"
            for name, n in counts.items():
                out.setdefault(key, {})[name] = out.get(key, {}).get(name, 0) + n
    return out


def identity_line(slices: Iterable[SliceStats | dict[str, Any]]) -> str | None:
    """``identity: salesforce/partner adopted 1, unmatched 1; ...`` with the command that lists them, or None."""
    counts = identity_counts(slices)
    if not counts:
        return None
    parts = "; ".join(f"{key} " + ", ".join(f"{k} {n}" for k, n in c.items()) for key, c in counts.items())
    hint = " (`prm-sync unmatched` lists the unmatched)" if any("unmatched" in c for c in counts.values()) else ""
    return f"identity: {parts}{hint}"


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
    preview: Preview | None = None  # a dry run: what would change, per record and field

    def slice(self, system: str, entity: str) -> SliceStats:
        for s in self.slices:
            if s.system == system and s.entity == entity:
                return s
        msg = f"no slice for {system}/{entity} in run {self.run_id}"
        raise KeyError(msg)

    def totals(self) -> dict[str, int]:
        keys = ("read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "unmatched", "adopted",
                "merged", "api_calls")
        return {k: sum(getattr(s, k) for s in self.slices) for k in keys}

    def settle(self) -> RunStatus:
        """The status of a run that ran to its end, told truthfully.

        A run that stopped early is ``partial`` (it resumes). One that wrote
        nothing while records failed did not succeed: every record it tried was
        refused (a missing property, a validation rule), so it is ``failed``.
        Some failures beside writes make ``succeeded_with_failures``.
        """
        totals = self.totals()
        written = sum(totals[k] for k in WRITTEN)
        if any(s.stopped_reason for s in self.slices):
            self.status = "partial"
        elif totals["failed"] and not written:
            self.status = "failed"
            self.error = self.error or (
                f"every record this run tried was refused: {totals['failed']} failed, none written "
                "(see `prm-sync failures`)"
            )
        elif totals["failed"]:
            self.status = "succeeded_with_failures"
        else:
            self.status = "succeeded"
        return self.status
