"""Run results as Dagster metadata: numbers for the asset's plots, a failures table, a markdown summary.

Only values that are safe to show: counts, record keys, error codes and the
remote systems' error messages. Payloads and tokens never go into metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from prm_sync.health.causes import detail_of, parse_error
from prm_sync.store.failures import FailedRecord
from prm_sync.sync.stats import IDENTITY, FailureSample, RunReport, SliceStats, identity_line

COUNTS = ("read", "created", "updated", "unchanged", "deleted", "failed", "conflicts", "skipped", "api_calls")
MAX_ROWS = 200  # the UI table stays readable; the full list is `prm-sync failures list`

FAILURE_SCHEMA = TableSchema(
    columns=[
        TableColumn("error_code", "string"),
        TableColumn("message", "string", description="the remote's error, read into field, value and allowed values"),
        TableColumn("failure_id", "int", description="id for replay_job (ids) and `prm-sync failures`"),
        TableColumn("system", "string"),
        TableColumn("entity", "string"),
        TableColumn("record", "string", description="PRM id or remote key of the record"),
        TableColumn("operation", "string"),
        TableColumn("replay_config", "string", description="paste into replay_job's launchpad"),
    ]
)


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]] | None = None) -> MetadataValue:
    """A ``MetadataValue.table`` from plain dicts; columns default to the first row's keys as strings."""
    cols = list(columns) if columns else [(k, "string") for k in (rows[0] if rows else {})]
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in cols])
    records = [TableRecord({name: _cell(row.get(name)) for name, _ in cols}) for row in rows[:MAX_ROWS]]
    return MetadataValue.table(records=records, schema=schema)


def replay_config(ids: list[int]) -> str:
    """replay_job's run config for these failures, as the launchpad takes it."""
    return f"ops: {{replay_failures: {{config: {{ids: [{', '.join(str(i) for i in ids)}]}}}}}}"


def failure_rows(failures: Iterable[FailedRecord], samples: Iterable[FailureSample]) -> list[dict[str, Any]]:
    """Failed records, from the store (with ids) or, when absent there, a run's samples; code and message first."""
    rows = [
        {"error_code": f.error_code, "message": detail_of(f).problem, "failure_id": f.id, "system": f.system,
         "entity": f.entity or "", "record": f.record_key, "operation": str(f.operation),
         "replay_config": replay_config([f.id])}
        for f in failures
    ]
    if not rows:
        rows = [
            {"error_code": s.error_code, "message": parse_error(s.error_code, s.message, s.fields).problem, "failure_id": None,
             "system": s.system, "entity": s.entity, "record": s.record_key, "operation": s.operation,
             "replay_config": ""}
            for s in samples
        ]
    return rows


def failures_table(rows: list[dict[str, Any]]) -> MetadataValue:
    records = [
TableRecord({c.name: _cell(row.get(c.name)) for c in FAILURE_SCHEMA.columns}) for row in rows[:MAX_ROWS]
    ]
    return MetadataValue.table(records=records, schema=FAILURE_SCHEMA)


def slice_summary(stats: SliceStats, report: RunReport, failure_count: int) -> str:
    counts = " | ".join(str(getattr(stats, k)) for k in COUNTS)
    lines = [
        f"**{stats.system} / {stats.entity}** ({stats.remote_object}) — run `{report.run_id}`: {report.status}",
        "",
        "| " + " | ".join(COUNTS) + " |",
        "|" + "---|" * len(COUNTS),
        f"| {counts} |",
        "",
        f"quota left: {stats.quota_remaining if stats.quota_remaining is not None else 'not reported'}; "
        f"duration {stats.duration_seconds:.2f} s",
    ]
    if stats.stopped_reason:
        lines.append(f"\n**stopped**: {stats.stopped_reason}")
    if report.rule_decisions:
        lines.append("\nchannel rules: " + ", ".join(f"{k} {v}" for k, v in sorted(report.rule_decisions.items())))
    identity = identity_line([stats])
    if identity:
        lines.append(f"\n{identity}")
    if report.unmatched:
        lines.append("\nunmatched: " + ", ".join(f"{k} {v}" for k, v in sorted(report.unmatched.items()))
                     + " (`prm-sync learners unmatched` lists the learners)")
    if stats.failed:
        lines.append(f"\n**{stats.failed} records failed in this run.**")
    if failure_count:
        lines.append(f"\n{failure_count} failed records are open for this slice: see the `failures` table (error "
                     "first) and `prm/failed_records` for causes and fixes; then launch `replay_job`.")
    return "\n".join(lines)


def slice_metadata(stats: SliceStats, report: RunReport, failures: list[FailedRecord]) -> dict[str, Any]:
    """Everything one slice materialization shows in the UI; ``failures`` are the slice's open ones now."""
    rows = failure_rows(failures, stats.failures)
    meta: dict[str, Any] = {k: MetadataValue.int(getattr(stats, k)) for k in COUNTS}
    meta["open_failures"] = MetadataValue.int(len(failures))
    for name in IDENTITY:  # born in the CRM and adopted, tied to no PRM record, merges followed
        meta[name] = MetadataValue.int(getattr(stats, name))
    if stats.quota_limit:
        meta["quota_used_pct"] = MetadataValue.float(round(100 * (stats.quota_used or 0) / stats.quota_limit, 1))
    meta["quota_remaining"] = (
        MetadataValue.int(stats.quota_remaining) if stats.quota_remaining is not None else MetadataValue.text("n/a")
    )
    meta["duration_seconds"] = MetadataValue.float(round(stats.duration_seconds, 3))
    meta["prm_run_id"] = MetadataValue.text(report.run_id)
    meta["status"] = MetadataValue.text(report.status)
    meta["failures"] = failures_table(rows)
    meta["summary"] = MetadataValue.md(slice_summary(stats, report, len(rows)))
    if report.rule_decisions:
        meta["rule_decisions"] = MetadataValue.json(dict(report.rule_decisions))
    if report.unmatched:
        meta["unmatched"] = MetadataValue.json(dict(report.unmatched))
    return meta


def merged_stats(report: RunReport, system: str, entity: str, remote_object: str) -> SliceStats:
    """The slice's numbers in ``report``, zeros when the engine had no such slice (a mapping was removed)."""
    total = SliceStats(system=system, entity=entity, remote_object=remote_object)
    for s in report.slices:
        if s.system == system and s.entity == entity:
            total.add(s)
            total.remote_object = s.remote_object
    return total


def report_metadata(report: RunReport) -> dict[str, Any]:
    """A multi-slice run (targeted sync, expiry write-back, replay) as one table plus totals."""
    rows = [
        {"system": s.system, "entity": s.entity, **{k: getattr(s, k) for k in COUNTS}, "stopped": s.stopped_reason or ""}
        for s in report.slices
    ]
    cols = [("system", "string"), ("entity", "string"), *[(k, "int") for k in COUNTS], ("stopped", "string")]
    meta: dict[str, Any] = {"prm_run_id": MetadataValue.text(report.run_id), "status": MetadataValue.text(report.status),
                            "slices": table(rows, cols)}
    meta.update({k: MetadataValue.int(v) for k, v in report.totals().items()})
    samples = [f for s in report.slices for f in s.failures]
    if samples:
        meta["failures"] = failures_table(failure_rows([], samples))
    return meta
