"""Is every sync healthy? One summary per system and entity, from what the store already keeps.

For each slice: the last run that covered it and the last good one (and how
old that is against the schedules), records read and written, open failures
by cause, the API quota its system used against the daily limit; for the
store: runs in progress, the locks and their holders, and records other
systems hold that no PRM record matches, and learners no partner contact
matches (as the store holds them now, not as the last run saw them).

A slice's status, worst first: ``failed`` (its last run was refused or
broke), ``stale`` (no good run within the freshness window: a stopped
schedule, a dead daemon), ``never`` (never synced), ``partial`` (its last run
stopped early: quota, auth), ``failures`` (open failed records), ``ok``.
Only ``ok`` is green.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from prm_sync.config import AppConfig
from prm_sync.health.causes import detail_of
from prm_sync.health.schedule import freshness_window
from prm_sync.model import utcnow
from prm_sync.store import failures as failure_store
from prm_sync.store import identity as identity_store
from prm_sync.store import locks, runs
from prm_sync.store.failures import FailedRecord
from prm_sync.store.runs import SyncRun

SliceStatus = Literal["ok", "failures", "partial", "never", "stale", "failed"]
SEVERITY: dict[str, int] = {"ok": 0, "failures": 1, "partial": 2, "never": 3, "stale": 4, "failed": 5}
GOOD_RUNS = ("succeeded", "succeeded_with_failures", "partial")  # a slice that was not stopped in these ran to its end
COLOURS = {"ok": "green", "failures": "yellow", "partial": "yellow", "never": "red", "stale": "red", "failed": "red"}


class CauseCount(BaseModel):
    error_code: str
    field: str | None
    problem: str
    count: int


class SliceHealth(BaseModel):
    system: str
    entity: str
    remote_object: str
    status: SliceStatus = "never"
    reasons: list[str] = Field(default_factory=list)
    last_run_id: str | None = None
    last_run_status: str | None = None  # this slice's outcome in that run
    last_run_at: datetime | None = None
    last_run_trigger: str | None = None
    last_success_at: datetime | None = None
    age_minutes: float | None = None  # since the last good run
    read: int = 0  # in the last good run
    written: int = 0
    failed: int = 0
    open_failures: int = 0
    causes: list[CauseCount] = Field(default_factory=list)
    quota_pct: float | None = None  # the system's, as of its latest run
    unmatched: int | None = None  # open unmatched remote records of this slice (``open_unmatched``)

    @property
    def key(self) -> str:
        return f"{self.system}/{self.entity}"


class SystemQuota(BaseModel):
    system: str
    used: int
    limit: int
    window: str
    pct: float
    as_of: datetime
    over_warning: bool


class RunningRun(BaseModel):
    id: str
    trigger: str
    started_at: datetime


class LockHolder(BaseModel):
    scope: str  # a slice, ``salesforce/partner``: runs of other slices go on beside it
    run_id: str
    acquired_at: datetime
    heartbeat_at: datetime
    host: str | None = None
    pid: int | None = None


class HealthReport(BaseModel):
    generated_at: datetime
    status: SliceStatus
    freshness_minutes: float
    slices: list[SliceHealth]
    quotas: list[SystemQuota] = Field(default_factory=list)
    unmatched: dict[str, int] = Field(default_factory=dict)  # "system/entity" -> open unmatched, when any
    open_failures: int = 0
    running: list[RunningRun] = Field(default_factory=list)
    locks: list[LockHolder] = Field(default_factory=list)
    runs_read: int = 0

    def slice(self, system: str, entity: str) -> SliceHealth | None:
        return next((s for s in self.slices if s.system == system and s.entity == entity), None)

    def counts(self) -> dict[str, int]:
        return dict(Counter(s.status for s in self.slices))


def _covers_everything(run: SyncRun) -> bool:
    """A scheduled or manual sync of the slice, not a replay or a webhook-targeted one: it keeps the slice fresh."""
    return run.trigger != "replay" and not (run.scope or {}).get("record_ids")


def _slice_outcome(run: SyncRun, entry: dict[str, Any]) -> str:
    """This slice's part in ``run``.

    A replay whose records were all refused again is a failed run (its exit
    code and Dagster run say so), but the slice's sync did not break: what it
    left is open failed records, yellow while they are open, not a red slice
    after they are discarded.
    """
    if entry.get("stopped_reason"):
        return "partial"
    refused = int(entry.get("failed") or 0)
    if run.status == "failed" and not (run.trigger == "replay" and refused):
        return "failed"
    return "succeeded_with_failures" if refused else "succeeded"


def _run_quotas(run: SyncRun, when: datetime) -> dict[str, SystemQuota]:
    """Each system's API use as of the end of ``run``: the highest count any of its slices last read.

    Every slice keeps the count the remote reported at the end of its own
    step, and a system's first slice is read long before its last push: the
    highest count (a daily budget only grows) is the latest.
    """
    found: dict[str, SystemQuota] = {}
    for entry in run.stats.get("slices") or []:
        system, limit = entry.get("system"), entry.get("quota_limit")
        if not system or not limit:
            continue
        used = int(entry.get("quota_used") or 0)
        if system not in found or used > found[system].used:
            found[system] = SystemQuota(system=system, used=used, limit=int(limit),
                                        window=entry.get("quota_window") or "daily",
                                        pct=round(100 * used / int(limit), 1), as_of=when, over_warning=False)
    return found


def _apply_runs(found: dict[tuple[str, str], SliceHealth], history: list[SyncRun]) -> list[SystemQuota]:
    quotas: dict[str, SystemQuota] = {}
    for run in history:  # newest first
        if run.status == "running":
            continue
        when = run.finished_at or run.started_at
        for system, quota in _run_quotas(run, when).items():
            quotas.setdefault(system, quota)
        for entry in run.stats.get("slices") or []:
            health = found.get((entry.get("system"), entry.get("entity")))
            if health is None:
                continue
            if health.last_run_id is None:
                health.last_run_id, health.last_run_at, health.last_run_trigger = run.id, when, run.trigger
                health.last_run_status = _slice_outcome(run, entry)
            if (health.last_success_at is None and _covers_everything(run) and run.status in GOOD_RUNS
                    and not entry.get("stopped_reason")):
                health.last_success_at = when
                health.read = int(entry.get("read") or 0)
                health.written = sum(int(entry.get(k) or 0) for k in ("created", "updated", "deleted"))
                health.failed = int(entry.get("failed") or 0)
    return list(quotas.values())


def _apply_failures(found: dict[tuple[str, str], SliceHealth], open_failures: Iterable[FailedRecord]) -> None:
    by_object: dict[tuple[str, str], list[SliceHealth]] = {}
    for health in found.values():
        by_object.setdefault((health.system, health.remote_object), []).append(health)
    tallies: dict[tuple[str, str], Counter[tuple[str, str | None]]] = {}
    problems: dict[tuple[str, str, str, str | None], str] = {}
    for failure in open_failures:
        candidates = by_object.get((failure.system, failure.remote_object), [])
        owner = next((h for h in candidates if h.entity == failure.entity), candidates[0] if candidates else None)
        if owner is None:
            continue
        detail = detail_of(failure)
        tallies.setdefault((owner.system, owner.entity), Counter())[(failure.error_code, detail.field)] += 1
        problems.setdefault((owner.system, owner.entity, failure.error_code, detail.field), detail.problem)
    for key, tally in tallies.items():
        health = found[key]
        health.open_failures = sum(tally.values())
        health.causes = [CauseCount(error_code=code, field=field, count=count,
                                    problem=problems[(*key, code, field)]) for (code, field), count in tally.most_common()]


def _judge(health: SliceHealth, now: datetime, window: timedelta) -> None:
    reasons: list[str] = []
    status: SliceStatus = "ok"
    if health.last_success_at is not None:
        age = now - health.last_success_at
        health.age_minutes = round(age.total_seconds() / 60, 1)
    if health.last_run_status == "failed":
        status = "failed"
        reasons.append(f"its last run ({health.last_run_id}) failed")
    elif health.last_success_at is None:
        status = "never"
        reasons.append("never synced by a scheduled or manual run")
    elif now - health.last_success_at > window:
        status = "stale"
        reasons.append(f"no good run for {_span(now - health.last_success_at)} (expected within {_span(window)}): "
                       "is the schedule stopped or the Dagster daemon down?")
    if health.last_run_status == "partial" and SEVERITY[status] < SEVERITY["partial"]:
        status = "partial"
        reasons.append("its last run stopped early (quota, auth or a system unavailable)")
    if health.open_failures:
        reasons.append(f"{health.open_failures} open failed record{'s' if health.open_failures != 1 else ''}")
        if status == "ok":
            status = "failures"
    health.status = status
    health.reasons = reasons


def format_age(minutes: float | None) -> str:
    """``37 min``, ``5 h``, ``3 days``; ``never`` for no age at all."""
    if minutes is None:
        return "never"
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _span(delta: timedelta) -> str:
    return format_age(delta.total_seconds() / 60)


def open_unmatched(session: Session) -> dict[tuple[str, str], int]:
    """(system, entity) -> what waits for a person now: CRM records tied to no PRM record, learners to no partner.

    Read from the store, not from the last run, so a record adopted or a
    learner linked since shows at once.
    """
    from prm_sync.rules.learners import count_unmatched_learners

    counts: Counter[tuple[str, str]] = Counter()
    for (system, entity, _reason), n in identity_store.unmatched_counts(session).items():
        counts[(system, entity)] += n
    learners = count_unmatched_learners(session)
    if learners:
        counts[("lms", "course_completion")] += learners
    return dict(counts)


def build_health(
    session: Session, config: AppConfig, slices: Iterable[tuple[str, str, str]], *, now: datetime | None = None
) -> HealthReport:
    """The health of ``slices`` ((system, entity, remote object), in the engine's order) as of ``now``."""
    now = now or utcnow()
    found = {(s, e): SliceHealth(system=s, entity=e, remote_object=o) for s, e, o in slices}
    history = runs.list_runs(session, limit=config.health.run_history)
    quotas = _apply_runs(found, history)
    for quota in quotas:
        quota.over_warning = quota.pct >= config.health.quota_warn_pct
    open_failures = failure_store.list_failures(session, status="open")
    _apply_failures(found, open_failures)
    window = freshness_window(config.schedules, now, config.health.stale_after_minutes)
    pct = {q.system: q.pct for q in quotas}
    waiting = open_unmatched(session)
    for health in found.values():
        health.quota_pct = pct.get(health.system)
        health.unmatched = waiting.get((health.system, health.entity), 0)
        _judge(health, now, window)
    ordered = list(found.values())
    worst = max((h.status for h in ordered), key=lambda s: SEVERITY[s], default="ok")
    return HealthReport(
        generated_at=now, status=worst, freshness_minutes=round(window.total_seconds() / 60, 1), slices=ordered,
        quotas=quotas, unmatched={f"{s}/{e}": n for (s, e), n in sorted(waiting.items()) if n},
        open_failures=len(open_failures),
        running=[RunningRun(id=r.id, trigger=r.trigger, started_at=r.started_at) for r in history if r.status == "running"],
        locks=[LockHolder(**lock.model_dump()) for lock in locks.list_locks(session)], runs_read=len(history),
    )


def mapped_slices(mappings: Any, systems: Iterable[str]) -> list[tuple[str, str, str]]:
    """(system, entity, remote object) of every mapped slice of ``systems``, in the engine's order."""
    from prm_sync.sync.engine import ENTITY_ORDER

    enabled = set(systems)
    found: list[tuple[str, str, str]] = []
    for entity in ENTITY_ORDER:
        for system in mappings.systems_for(entity):
            mapping = mappings.for_entity(system, entity)
            if system in enabled and mapping is not None:
                found.append((system, entity, mapping.remote_object))
    return found
