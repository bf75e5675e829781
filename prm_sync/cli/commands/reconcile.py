"""``reconcile`` and ``reports``: full comparisons and channel analytics, both on DuckDB."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.status import Status

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_table, write_output
from prm_sync.cli.selection import SYSTEM_NAMES
from prm_sync.errors import ConfigError, Problem
from prm_sync.exit_codes import ExitCode
from prm_sync.reconcile.models import ISSUE_KINDS, KIND_HELP, ReconcileReport


def _short(value: object, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_reconcile(report: ReconcileReport) -> None:
    kinds = [k for k in KIND_HELP if any(s.counts.get(k) for s in report.slices)]
    rows = [
        (s.system, s.entity, s.remote_object, s.remote_rows, s.prm_rows, s.linked, *[s.counts.get(k, 0) for k in kinds])
        for s in report.slices
    ]
    verdict = "clean" if report.clean else f"{report.issues} differences"
    print_table(f"reconcile {report.run_id}: {verdict} ({report.duration_seconds:.1f} s)",
                ["system", "entity", "object", "remote", "prm", "linked", *kinds], rows)
    if report.samples:
        print_table("samples", ["system", "entity", "kind", "action", "record", "remote id", "field", "prm", "remote"],
                    [(d.system, d.entity, d.kind, d.action, d.record_id, d.remote_id, d.field, _short(d.prm_value),
                      _short(d.remote_value)) for d in report.samples if d.kind in ISSUE_KINDS][:25])
        for kind in kinds:
            meaning, fix = KIND_HELP[kind]
            console.print(f"  [bold]{kind}[/]: {meaning}; repair: {fix}", highlight=False)
    if report.repair is not None:
        r = report.repair
        pushed = ", ".join(f"{k} {v}" for k, v in r.pushed.items()) or "nothing"
        console.print(f"repair: run {r.run_id or '-'} {r.status or 'not needed'}; pushed {pushed}; "
                      f"re-read {', '.join(r.reread) or 'nothing'}; {r.states_reset} link states reset; "
                      f"{r.manual} left for a person", highlight=False)
        console.print("run `prm-sync reconcile` again to confirm", highlight=False)
    console.print(f"snapshot: {report.snapshot_dir}", highlight=False, markup=False)


@app.command()
def reconcile(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these systems (repeatable)."),
    repair: bool = typer.Option(False, "--repair", help="Feed the differences back through the sync engine."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare full snapshots of each system with the PRM store; optionally repair."""
    from prm_sync.cli.report import notify_runs
    from prm_sync.errors import UsageError
    from prm_sync.reconcile import run_reconcile
    from prm_sync.runtime import open_runtime

    bad = [s for s in system or [] if s not in SYSTEM_NAMES]
    if bad:
        msg = f"unknown system: {', '.join(bad)} (systems: {', '.join(SYSTEM_NAMES)})"
        raise UsageError(msg)
    runtime = open_runtime(state.config())
    try:
        if json_output:
            report = run_reconcile(runtime, system or None, repair=repair)
        else:
            with Status("starting", console=console) as status:
                report = run_reconcile(runtime, system or None, repair=repair, progress=lambda m: status.update(m))
        if report.repair is not None:
            notify_runs(runtime.config, runtime.store, [report.repair.run_id])
    finally:
        runtime.close()
    if json_output:
        print_json(report.model_dump(mode="json"))
    else:
        print_reconcile(report)
    if not report.clean and not repair:
        raise typer.Exit(ExitCode.DIFFERENCES)


@app.command()
def reports(
    name: str = typer.Argument(None, help="One report (all when omitted); see --list."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Write here (a file, or a folder for several reports)."),
    list_only: bool = typer.Option(False, "--list", help="List the reports and exit."),
) -> None:
    """Channel reports from DuckDB: pipeline, revenue, conversion, approvals, certifications, payouts."""
    from prm_sync.errors import UsageError
    from prm_sync.reports import REPORTS, run_reports, to_csv, write_parquet_report
    from prm_sync.runtime import open_store

    if list_only:
        print_table("reports", ["name", "what"], [(r.name, r.title) for r in REPORTS.values()])
        return
    if fmt not in ("table", "csv", "parquet"):
        msg = f"unknown format {fmt!r}; use table, csv or parquet"
        raise UsageError(msg)
    if name is not None and name not in REPORTS:
        msg = f"unknown report {name!r}; available: {', '.join(REPORTS)}"
        raise UsageError(msg)
    names = [name] if name else list(REPORTS)
    if fmt == "parquet" and out is None:
        msg = "--format parquet needs --out PATH"
        raise UsageError(msg)
    if fmt == "table" and out is not None:  # a table is for the terminal: --out alone used to write nothing, silently
        msg = "--out writes csv or parquet: add --format csv or --format parquet"
        raise UsageError(msg)
    store = open_store(state.config())
    try:
        if fmt == "parquet":
            for n in names:
                target = out if (name and out.suffix) else out / f"{n}.parquet"
                try:
                    console.print(f"{n}: {write_parquet_report(store, n, target)}", highlight=False)
                except OSError as exc:
                    raise ConfigError([Problem(f"cannot write --out {target}: {exc.strerror or exc}")]) from None
            return
        results = run_reports(store, names)
    finally:
        store.close()
    for n, rows in results.items():
        if fmt == "csv":
            text = to_csv(rows)
            if out is None:
                sys.stdout.write(text)
            else:
                target = write_output(out if (name and out.suffix) else out / f"{n}.csv", text)
                console.print(f"{n}: {target}", highlight=False)
            continue
        columns = list(rows[0]) if rows else ["(no rows)"]
        print_table(f"{n}: {REPORTS[n].title}", columns, [list(r.values()) for r in rows])
