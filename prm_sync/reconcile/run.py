"""``run_reconcile``: snapshot both sides, compare them in DuckDB, optionally repair.

Files land in ``<data_dir>/reconcile/<run id>/`` (seven Parquet tables), so a
report can be re-examined later with any Parquet reader, and a reconcile of
last night can be compared with today's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prm_sync.errors import UsageError
from prm_sync.mapping.apply import ObjectMapping
from prm_sync.model import new_id
from prm_sync.reconcile.compare import RawDifference, compare
from prm_sync.reconcile.models import (
    ISSUE_KINDS,
    MANUAL_KINDS,
    Difference,
    ReconcileReport,
    SliceSummary,
)
from prm_sync.reconcile.repair import REMOTE_RULES, apply_repair, plan_repair
from prm_sync.reconcile.snapshot import Snapshotter, field_views, is_keyed
from prm_sync.sync.engine import ENTITY_ORDER

SAMPLES_PER_KIND = 5
MAX_SAMPLES = 200
Progress = Callable[[str], None]


def _action(mapping: ObjectMapping, raw: RawDifference) -> str:
    """What --repair will do, as the report shows it (the repair refines two-way fields with the link state)."""
    if raw.kind in MANUAL_KINDS:
        return "manual"
    if raw.kind == "remote_deleted":
        return "none"
    if raw.kind == "field_drift":
        spec = next((f for f in mapping.fields if f.prm == raw.field), None)
        if spec is None or spec.direction == "from_remote":
            return "reread"
        if spec.direction == "both" and spec.rule in REMOTE_RULES:
            return "reread"
        return "push"
    if raw.kind in ("missing_remote", "unlinked") and is_keyed(mapping):
        return "push"
    return "reread"


def _mappings_for(runtime: Any, systems: list[str]) -> list[ObjectMapping]:
    order = {entity: i for i, entity in enumerate(ENTITY_ORDER)}
    chosen = [m for m in runtime.mappings if m.system in systems]
    return sorted(chosen, key=lambda m: (order.get(m.entity, len(order)), m.system))


def run_reconcile(
    runtime: Any,
    systems: list[str] | None = None,
    repair: bool = False,
    *,
    progress: Progress | None = None,
) -> ReconcileReport:
    """Compare every mapped object of ``systems`` (all enabled ones by default) with the PRM store.

    ``runtime`` is a :class:`prm_sync.runtime.Runtime`. With ``repair`` the
    differences go through one sync engine run (see ``repair.py``); run
    reconcile again to confirm the result.
    """
    say = progress or (lambda _message: None)
    enabled = runtime.config.systems.enabled()
    chosen = systems or enabled
    unknown = [s for s in chosen if s not in enabled]
    if unknown:
        msg = f"system(s) not enabled in the configuration: {', '.join(unknown)} (enabled: {', '.join(enabled)})"
        raise UsageError(msg)
    started = time.perf_counter()
    run_id = new_id("rec")
    out_dir = runtime.config.data_dir / "reconcile" / run_id
    report = ReconcileReport(run_id=run_id, started_at=datetime.now(UTC), snapshot_dir=str(out_dir), systems=chosen)
    mappings = _mappings_for(runtime, chosen)
    connectors = runtime.connectors(chosen)
    snap = Snapshotter(out_dir)

    say("reading the PRM store")
    with runtime.store.session(readonly=True) as session:
        snap.load_prm(session, mappings)
    mark = time.perf_counter()
    for m in mappings:
        say(f"reading {m.system} {m.remote_object} ({m.entity})")
        snap.add_remote(m, connectors[m.system], progress=say)
    report.timings["read_remote"] = round(time.perf_counter() - mark, 3)
    mark = time.perf_counter()
    for m in mappings:
        snap.add_prm(m)
    stats = snap.close()
    report.timings["snapshot_prm"] = round(time.perf_counter() - mark, 3)

    say("comparing in DuckDB")
    mark = time.perf_counter()
    raw = compare(stats.files)
    report.timings["compare"] = round(time.perf_counter() - mark, 3)
    by_slice = {(m.system, m.entity): m for m in mappings}
    diffs = [
        Difference(system=r.system, entity=r.entity, kind=r.kind, action=_action(by_slice[(r.system, r.entity)], r),  # type: ignore[arg-type]
                   record_id=r.record_id, remote_id=r.remote_id, field=r.field, prm_value=r.prm_value,
                   remote_value=r.remote_value, detail=f"merged into {r.remote_value}" if r.kind == "merged" else None)
        for r in raw
    ]
    _summarise(report, mappings, stats, diffs)

    if repair:
        say("repairing through the sync engine")
        mark = time.perf_counter()
        with runtime.store.session(readonly=True) as session:
            plan = plan_repair(session, [d for d in diffs if d.kind in ISSUE_KINDS], by_slice)
        report.repair = apply_repair(runtime, plan, chosen, run_id, runtime.config.sync.lock_stale_after_seconds)
        report.timings["repair"] = round(time.perf_counter() - mark, 3)
    report.finished_at = datetime.now(UTC)
    report.duration_seconds = round(time.perf_counter() - started, 3)
    return report


def _summarise(report: ReconcileReport, mappings: list[ObjectMapping], stats: Any, diffs: list[Difference]) -> None:
    per_slice: dict[tuple[str, str], dict[str, int]] = {}
    for d in diffs:
        counts = per_slice.setdefault((d.system, d.entity), {})
        counts[d.kind] = counts.get(d.kind, 0) + 1
        report.counts[d.kind] = report.counts.get(d.kind, 0) + 1
    for m in mappings:
        key = (m.system, m.entity)
        report.slices.append(SliceSummary(
            system=m.system, entity=m.entity, remote_object=m.remote_object, match_kind=m.match_kind,
            remote_rows=stats.remote_rows.get(key, 0), prm_rows=stats.prm_rows.get(key, 0),
            linked=stats.linked.get(key, 0), fields_compared=[v.name for v in field_views(m)],
            counts=dict(sorted(per_slice.get(key, {}).items())),
        ))
    report.issues = sum(n for kind, n in report.counts.items() if kind in ISSUE_KINDS)
    report.clean = report.issues == 0
    report.api_calls = dict(stats.api_calls)
    taken: dict[tuple[str, str, str], int] = {}
    for d in diffs:
        key = (d.system, d.entity, d.kind)
        if taken.get(key, 0) >= SAMPLES_PER_KIND or len(report.samples) >= MAX_SAMPLES:
            continue
        taken[key] = taken.get(key, 0) + 1
        report.samples.append(d)
