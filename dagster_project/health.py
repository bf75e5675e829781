"""The health view in Dagster: slice checks, ``prm/sync_health`` and ``prm/failed_records``, as metadata.

Everything here is presentation: the numbers come from
``prm_sync.health`` (the same functions ``prm-sync status`` and ``prm-sync
failures`` call), so the UI and the CLI cannot disagree. The same outcomes
are produced in a run (asset checks, materializations) and outside one
(``dagster_project.reporting`` records them as runless events after CLI runs,
replays, fixes and discards), which is what keeps the UI current when the
change did not happen in Dagster.

Red and green: a slice check ``open_failures`` (WARN) fails while the slice
has open failed records; ``sync_fresh`` (ERROR) fails when the slice had no
good run within the freshness window (a stopped schedule, a dead daemon) or
its last run failed. ``prm/sync_health`` carries ``sync_healthy``, failing
with ERROR when any slice is red and WARN when some only have failures.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dagster import AssetCheckEvaluation, AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue

from dagster_project.catalog import HEALTH_KEY, SliceAsset
from dagster_project.metadata import failure_rows, failures_table, replay_config, table
from dagster_project.runtime import DEFAULT_LOCATION
from prm_sync.config import AppConfig
from prm_sync.health.causes import FailureGroup
from prm_sync.health.summary import HealthReport, SliceHealth, build_health, format_age
from prm_sync.store.db import Store
from prm_sync.store.failures import FailedRecord, list_failures
from prm_sync.store.review import ReviewItem, list_open_reviews
from prm_sync.store.runs import SyncRun

SHOWN = 50
EMOJI = {"ok": "🟢", "failures": "🟡", "partial": "🟡", "never": "🔴", "stale": "🔴", "failed": "🔴"}
RED = ("never", "stale", "failed")
SLICE_CHECKS = ("open_failures", "failed_records_fresh", "review_queue_fresh", "sync_fresh")


@dataclass
class CheckOutcome:
    """One check's verdict, as an in-run result or a runless evaluation."""

    asset_key: AssetKey
    name: str
    passed: bool
    severity: AssetCheckSeverity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def result(self) -> AssetCheckResult:
        return AssetCheckResult(asset_key=self.asset_key, check_name=self.name, passed=self.passed,
                                severity=self.severity, description=self.description, metadata=self.metadata)

    def evaluation(self) -> AssetCheckEvaluation:
        return AssetCheckEvaluation(asset_key=self.asset_key, check_name=self.name, passed=self.passed,
                                    severity=self.severity, description=self.description, metadata=self.metadata)


@dataclass
class SliceState:
    """What the slice checks read from the store, in one session."""

    failures: list[FailedRecord]
    reviews: list[ReviewItem]
    health: SliceHealth


def slice_state(store: Store, config: AppConfig, item: SliceAsset, now: datetime) -> SliceState:
    with store.session(readonly=True) as session:
        found = list_failures(session, status="open", system=item.system, remote_object=item.remote_object)
        reviews = list_open_reviews(session, entity=item.entity, system=item.system)
        report = build_health(session, config, [(item.system, item.entity, item.remote_object)], now=now)
    return SliceState([f for f in found if f.entity in (None, item.entity)], reviews, report.slices[0])


def launchpad_url(location: str, run_config: str) -> str:
    """replay_job's launchpad in the Dagster UI with ``run_config`` filled in (a relative link).

    A code location built from ``Definitions`` holds one repository named
    ``__repository__``, which the UI's paths leave out (``/locations/prm_sync/...``);
    ``__repository__%40prm_sync`` is read as a location of that name and the
    page says the job does not exist (the browser test follows this link).
    """
    query = urllib.parse.urlencode({"config": run_config})
    return f"/locations/{urllib.parse.quote(location, safe='')}/jobs/replay_job/playground/setup?{query}"


def _by_code(failures: list[FailedRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in failures:
        counts[f.error_code] = counts.get(f.error_code, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def slice_outcomes(item: SliceAsset, state: SliceState, *, now: datetime, max_failure_age: timedelta,
                   max_review_age: timedelta, location: str = DEFAULT_LOCATION) -> list[CheckOutcome]:
    """The four health checks of one slice, from one read of the store."""
    mine, health = state.failures, state.health
    codes = _by_code(mine)
    stale = [f for f in mine if now - f.first_seen > max_failure_age]
    oldest = max((now - f.first_seen for f in mine), default=timedelta(0))
    open_meta: dict[str, Any] = {
        "open_failures": MetadataValue.int(len(mine)),
        "by_error_code": MetadataValue.json(codes),
        "failures": failures_table(failure_rows(mine[:SHOWN], [])),
    }
    if mine:
        ids = [f.id for f in mine[:SHOWN]]
        open_meta["replay"] = MetadataValue.md(
            f"[Open replay_job with these {len(ids)} failures]({launchpad_url(location, replay_config(ids))}) after fixing the "
            "cause; `prm/failed_records` groups them by cause with the fix.")
    stale_reviews = [i for i in state.reviews if now - i.created_at > max_review_age]
    review_rows = [{"review_id": i.id, "record": i.record_id, "field": i.field,
                    "waiting_days": round((now - i.created_at).total_seconds() / 86400, 1)} for i in stale_reviews[:SHOWN]]
    fresh = health.status not in RED
    return [
        CheckOutcome(
            item.key, "open_failures", not mine, AssetCheckSeverity.WARN,
            "no open failed records" if not mine else f"{len(mine)} open failed record{'s' if len(mine) != 1 else ''}: "
            + ", ".join(f"{n} {code}" for code, n in codes.items()),
            open_meta,
        ),
        CheckOutcome(
            item.key, "failed_records_fresh", not stale, AssetCheckSeverity.ERROR,
            f"{len(stale)} of {len(mine)} open failed records older than {max_failure_age}",
            {"open_failures": MetadataValue.int(len(mine)), "stale_failures": MetadataValue.int(len(stale)),
             "oldest_hours": MetadataValue.float(round(oldest.total_seconds() / 3600, 2)),
             "stale": failures_table(failure_rows(stale[:SHOWN], []))},
        ),
        CheckOutcome(
            item.key, "review_queue_fresh", not stale_reviews, AssetCheckSeverity.WARN,
            f"{len(stale_reviews)} of {len(state.reviews)} open review items older than {max_review_age.days} days",
            {"open_reviews": MetadataValue.int(len(state.reviews)), "stale_reviews": MetadataValue.int(len(stale_reviews)),
             "stale": table(review_rows, [("review_id", "int"), ("record", "string"), ("field", "string"),
                                          ("waiting_days", "float")])},
        ),
        CheckOutcome(
            item.key, "sync_fresh", fresh, AssetCheckSeverity.ERROR,
            f"last good run {health.age_minutes:.0f} min ago" if fresh and health.age_minutes is not None
            else "; ".join(health.reasons) or health.status,
            {"status": MetadataValue.text(health.status),
             "last_success": MetadataValue.text(health.last_success_at.isoformat() if health.last_success_at else "never"),
             "age_minutes": MetadataValue.float(health.age_minutes if health.age_minutes is not None else -1.0),
             "last_run": MetadataValue.text(f"{health.last_run_id or '-'} ({health.last_run_trigger or '-'}: "
                                            f"{health.last_run_status or '-'})")},
        ),
    ]


def health_outcome(report: HealthReport) -> CheckOutcome:
    red = [s for s in report.slices if s.status in RED]
    yellow = [s for s in report.slices if s.status not in RED and s.status != "ok"]
    if red:
        text = f"{len(red)} slice{'s' if len(red) != 1 else ''} red: " + ", ".join(f"{s.key} {s.status}" for s in red[:8])
    elif yellow:
        text = f"{len(yellow)} slice{'s' if len(yellow) != 1 else ''} with open failures or a partial run: " + ", ".join(
            s.key for s in yellow[:8])
    else:
        text = f"all {len(report.slices)} slices healthy"
    return CheckOutcome(HEALTH_KEY, "sync_healthy", not red and not yellow,
                        AssetCheckSeverity.ERROR if red else AssetCheckSeverity.WARN, text,
                        {"counts": MetadataValue.json(report.counts())})


def health_markdown(report: HealthReport) -> str:
    worst = report.status
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
    lines = [f"## {EMOJI[worst]} Sync health: **{worst}** ({counts})", "",
             f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC; a slice is stale after "
             f"{report.freshness_minutes:.0f} min without a good run. Runs made with the `prm-sync` CLI count too "
             "(trigger `cli`; `prm-sync runs` lists them all).", "",
             "| | slice | status | last good run | read | written | open failures | top cause | quota | unmatched |",
             "|---|---|---|---|---:|---:|---:|---|---:|---:|"]
    for s in report.slices:
        cause = f"{s.causes[0].count}x {s.causes[0].problem}" if s.causes else "; ".join(
            r for r in s.reasons if "open failed" not in r)
        quota = f"{s.quota_pct:.0f}%" if s.quota_pct is not None else "-"
        unmatched = str(s.unmatched) if s.unmatched is not None else "-"
        lines.append(f"| {EMOJI[s.status]} | {s.key} | **{s.status}** | {format_age(s.age_minutes)} | {s.read} | {s.written} | "
                     f"{s.open_failures} | {cause.replace('|', '/')[:120]} | {quota} | {unmatched} |")
    for quota in report.quotas:
        flag = " ⚠️" if quota.over_warning else ""
        lines.append(f"\n**{quota.system} API**: {quota.pct:.1f}% of the {quota.window} limit "
                     f"({quota.used:,} of {quota.limit:,}){flag}")
    if report.unmatched:
        lines.append("\n**Unmatched records** waiting for a person: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(report.unmatched.items()))
                     + " (`prm-sync unmatched` lists the CRM records, `prm-sync learners unmatched` the learners)")
    if report.locks:
        lines.append("\n**Lock**: " + ", ".join(f"`{lk.scope}` held by `{lk.run_id}`" for lk in report.locks))
    return "\n".join(lines)


def health_metadata(report: HealthReport, recent: list[SyncRun]) -> dict[str, Any]:
    slice_cols = [("slice", "string"), ("status", "string"), ("last_good_run", "string"), ("age_minutes", "float"),
                  ("read", "int"), ("written", "int"), ("open_failures", "int"), ("top_cause", "string"),
                  ("quota_pct", "float"), ("unmatched", "int"), ("last_run", "string")]
    slice_rows = [{"slice": s.key, "status": s.status,
                   "last_good_run": s.last_success_at.isoformat(timespec="minutes") if s.last_success_at else "never",
                   "age_minutes": s.age_minutes if s.age_minutes is not None else -1.0, "read": s.read,
                   "written": s.written, "open_failures": s.open_failures,
                   "top_cause": f"{s.causes[0].error_code}: {s.causes[0].problem}" if s.causes else "",
                   "quota_pct": s.quota_pct if s.quota_pct is not None else -1.0,
                   "unmatched": s.unmatched if s.unmatched is not None else -1, "last_run": s.last_run_id or ""}
                  for s in report.slices]
    run_cols = [("run", "string"), ("trigger", "string"), ("status", "string"), ("started", "string"),
                ("read", "int"), ("written", "int"), ("failed", "int")]
    run_rows = []
    for run in recent:
        slices = run.stats.get("slices") or []
        run_rows.append({"run": run.id, "trigger": run.trigger, "status": run.status,
                         "started": run.started_at.isoformat(timespec="seconds"),
                         "read": sum(int(s.get("read") or 0) for s in slices),
                         "written": sum(int(s.get(k) or 0) for s in slices for k in ("created", "updated", "deleted")),
                         "failed": sum(int(s.get("failed") or 0) for s in slices)})
    meta: dict[str, Any] = {
        "status": MetadataValue.text(report.status),
        "summary": MetadataValue.md(health_markdown(report)),
        "slices": table(slice_rows, slice_cols),
        "open_failures": MetadataValue.int(report.open_failures),
        "red_slices": MetadataValue.int(sum(1 for s in report.slices if s.status in RED)),
        "recent_runs": table(run_rows, run_cols),
    }
    for quota in report.quotas:
        meta[f"{quota.system}_quota_pct"] = MetadataValue.float(quota.pct)
    if report.unmatched:
        meta["unmatched"] = MetadataValue.json(report.unmatched)
    return meta


def failures_metadata(found: list[FailedRecord], groups: list[FailureGroup], location: str) -> dict[str, Any]:
    """``prm/failed_records``: causes with counts, fixes and a launchpad link each, then every record."""
    cause_cols = [("count", "int"), ("error_code", "string"), ("problem", "string"), ("system", "string"),
                  ("object", "string"), ("field", "string"), ("first_seen", "string"), ("last_seen", "string"),
                  ("example_id", "int"), ("fix", "string"), ("next", "string")]
    cause_rows = [{"count": g.count, "error_code": g.error_code, "problem": g.problem, "system": g.system,
                   "object": g.remote_object, "field": g.field or "", "first_seen": g.first_seen.isoformat(timespec="minutes"),
                   "last_seen": g.last_seen.isoformat(timespec="minutes"), "example_id": g.example.id,
                   "fix": g.guidance, "next": " ; ".join(g.next_steps)} for g in groups]
    lines = [f"## {'🟢 No open failed records' if not found else f'🟡 {len(found)} open failed records'}", ""]
    for g in groups:
        config = (f"ops: {{replay_failures: {{config: {{system: {g.system}, remote_object: {g.remote_object}, "
                  f"error_code: {g.error_code}}}}}}}")
        link = f" ([example in {g.system}]({g.example.url}))" if g.example.url else ""
        lines.append(f"- **{g.count}x {g.system} {g.remote_object} `{g.error_code}`**: {g.problem}{link}. "
                     f"Fix: {g.guidance}. [Replay these {g.count} in the launchpad]({launchpad_url(location, config)})")
    return {
        "open_failures": MetadataValue.int(len(found)),
        "causes": table(cause_rows, cause_cols),
        "summary": MetadataValue.md("\n".join(lines)),
        "failures": failures_table(failure_rows(found, [])),
    }
