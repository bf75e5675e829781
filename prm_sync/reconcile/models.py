"""What a reconcile run reports: counts per system, entity and kind, with samples.

The report is a plain pydantic model so the CLI prints it, ``--json`` dumps
it and Dagster shows ``report.model_dump()`` as run metadata without any
translation. Values in samples are the normalised canonical values the
comparison used (JSON text), never raw payloads: nothing secret is in them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal[
    "field_drift", "missing_remote", "merged", "unlinked", "missing_prm", "orphan", "duplicate", "unkeyed",
    "remote_deleted",
]
Action = Literal["push", "reread", "manual", "none"]

# what each kind means and what --repair does about it (also printed by the CLI)
KIND_HELP: dict[str, tuple[str, str]] = {
    "field_drift": ("a mapped field differs between the PRM and the system", "push or re-read, by direction and rule"),
    "missing_remote": ("the PRM record is not (or no longer) in the system", "push (re-create by our key) or re-read"),
    "merged": ("a user merged the linked record into another; the PRM has not followed",
               "re-read: the sync follows the merge (one record, or a review item), never re-creates the loser"),
    "unlinked": ("the system holds our key but the PRM has no link to it", "push: the upsert by key links it"),
    "missing_prm": ("a system-owned record is not (or no longer) in the PRM", "re-read the object"),
    "orphan": ("a system record carries a PRM key no PRM record has", "manual: delete or re-key it in the system"),
    "duplicate": ("several system records carry the same PRM key", "manual: merge them in the system"),
    "unkeyed": ("a record in our slice of the system carries no PRM key", "manual: create it in the PRM or re-key it"),
    "remote_deleted": ("deleted in the system; the PRM keeps it unlinked (by design)", "none"),
}
ISSUE_KINDS = tuple(k for k in KIND_HELP if k != "remote_deleted")
MANUAL_KINDS = ("orphan", "duplicate", "unkeyed")


class Difference(BaseModel):
    system: str
    entity: str
    kind: Kind
    action: Action
    record_id: str | None = None
    remote_id: str | None = None
    field: str | None = None
    prm_value: Any = None  # normalised canonical value, as JSON text
    remote_value: Any = None
    detail: str | None = None


class SliceSummary(BaseModel):
    system: str
    entity: str
    remote_object: str
    match_kind: str
    remote_rows: int = 0
    prm_rows: int = 0
    linked: int = 0
    fields_compared: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)  # kind -> count


class RepairSummary(BaseModel):
    """What ``--repair`` handed to the sync engine, and the engine run that did it."""

    run_id: str | None = None
    status: str | None = None
    pushed: dict[str, int] = Field(default_factory=dict)  # "system/entity" -> records queued for push
    reread: list[str] = Field(default_factory=list)  # "system/remote_object/entity" cursors reset
    states_reset: int = 0  # link states whose agreed values were cleared
    manual: int = 0  # differences left for a person (orphans, duplicates, unkeyed)
    totals: dict[str, int] = Field(default_factory=dict)  # the engine run's totals
    error: str | None = None


class ReconcileReport(BaseModel):
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float = 0.0
    snapshot_dir: str
    systems: list[str]
    slices: list[SliceSummary] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)  # kind -> count, all slices
    issues: int = 0  # every count except remote_deleted
    clean: bool = True
    samples: list[Difference] = Field(default_factory=list)
    api_calls: dict[str, int] = Field(default_factory=dict)  # system -> calls spent reading
    timings: dict[str, float] = Field(default_factory=dict)  # phase -> seconds
    repair: RepairSummary | None = None

    def count(self, system: str, entity: str, kind: str) -> int:
        for s in self.slices:
            if s.system == system and s.entity == entity:
                return s.counts.get(kind, 0)
        return 0
