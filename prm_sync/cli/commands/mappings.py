"""``prm-sync mappings``: the RevOps tools for mapping files (schema, tests, plan)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from prm_sync.cli.app import app
from prm_sync.cli.commands.sync import print_preview
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_table, write_output
from prm_sync.cli.selection import check_names, check_records, check_selection
from prm_sync.errors import ConfigError, Problem
from prm_sync.exit_codes import ExitCode

if TYPE_CHECKING:
    from prm_sync.sync.plan import MappingPlan

mappings_app = typer.Typer(help="Mapping files: JSON Schema for editors, YAML tests, and a dry-run plan.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


def _schema_target() -> Path:
    """Beside the mapping files the config uses; the working directory when those are the installed copy."""
    from prm_sync import defaults

    folders = [p if p.is_dir() else p.parent for p in state.config().mappings]
    if folders and not defaults.is_installed_copy(folders[0]):
        return folders[0] / "mapping.schema.json"
    return Path("mapping.schema.json")


@mappings_app.command("schema")
def mappings_schema(
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Where to write the JSON Schema (default: beside the configured mapping files).",
    ),
) -> None:
    """Write the JSON Schema of the mapping format, for editors with the YAML language server."""
    from prm_sync.mapping.schema import schema_text

    written = write_output(out or _schema_target(), schema_text())
    console.print(f"wrote {written}; put `# yaml-language-server: $schema=./{written.name}` at the top of a mapping file")


def _test_files(paths: list[Path] | None) -> list[Path]:
    if paths:
        files: list[Path] = []
        for p in paths:
            files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
        return files
    found: list[Path] = []
    for entry in state.config().mappings:
        folder = entry if entry.is_dir() else entry.parent
        found.extend(sorted((folder / "tests").glob("*.yaml")))
    return found


@mappings_app.command("test")
def mappings_test(
    paths: list[Path] = typer.Argument(None, help="Test files or folders (default: tests/ beside each mappings folder)."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Run the YAML mapping tests RevOps write; a failure shows a readable diff (exit 1)."""
    from prm_sync.mapping.apply import load_mappings
    from prm_sync.mapping.testing import run_mapping_tests

    files = _test_files(paths)
    if not files:
        raise ConfigError([Problem("no mapping test files found", hint="put them in mappings/tests/*.yaml or pass paths")])
    report = run_mapping_tests(files, load_mappings(state.config().mappings))
    if json_output:
        print_json({"ok": report.ok, "results": [r.__dict__ for r in report.results]})
    else:
        for result in report.results:
            colour = "green" if result.passed else "red"
            console.print(f"[{colour}]{'PASS' if result.passed else 'FAIL'}[/] {result.file}:{result.line} {result.name}", highlight=False)
            if not result.passed:
                console.print(result.render().split("\n", 1)[-1], markup=False, highlight=False)
        console.print(f"{len(report.results) - len(report.failed)} of {len(report.results)} mapping tests pass")
    if not report.ok:
        raise typer.Exit(ExitCode.DIFFERENCES)


@mappings_app.command("plan")
def mappings_plan(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these systems (repeatable)."),
    entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these entities (repeatable)."),
    record: list[str] = typer.Option(None, "--record", "-r", help="Show the field-level diff for these PRM ids."),
    sample: int = typer.Option(5, "--sample", min=0, max=100_000, help="How many record diffs per object and step."),
    offline: bool = typer.Option(False, "--offline", help="From the store alone: pushes and rules, no remote read "
                                 "and no secret needed (for CI checks of a mapping change)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the offline plan as markdown."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Dry run of the current mappings: per-record, per-field changes both ways and the rules' (writes nothing)."""
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.engine import SyncScope
    from prm_sync.sync.plan import plan_mappings

    check_names(system, entity)
    runtime = open_runtime(state.config())
    try:
        check_selection(runtime.mappings, runtime.config.systems.enabled(), system, entity)
        check_records(runtime.store, record)
        if offline or markdown:
            plan = plan_mappings(runtime, systems=system or None, entities=entity or None, record_ids=record or None,
                                 sample=sample, rules=True)
        else:
            engine = runtime.engine(system or None)
            report = engine.run(SyncScope(systems=system or None, entities=entity or None), dry_run=True,
                                preview_sample=max(sample, 1) if not record else 100_000)
    finally:
        runtime.close()
    if offline or markdown:
        _print_offline(plan, json_output=json_output, markdown=markdown)
        return
    preview = report.preview
    changes = [c for c in preview.changes if not record or c.record_id in record] if preview else []
    if json_output:
        print_json({"mapping_version": report.mapping_version, "slices": [s.model_dump(mode="json") for s in report.slices],
                    "rule_decisions": report.rule_decisions, "changes": [c.model_dump(mode="json") for c in changes],
                    "omitted": preview.omitted if preview else {}})
        return
    rows = [(s.system, s.entity, s.remote_object, s.read, s.created, s.updated, s.unchanged, s.failed)
            for s in report.slices]
    print_table(f"plan with mappings {report.mapping_version} (dry run: both ways, nothing written)",
                ["system", "entity", "object", "read", "create", "update", "unchanged", "would fail"], rows)
    print_preview(changes, preview.omitted if preview and not record else {})


def _print_offline(plan: MappingPlan, *, json_output: bool, markdown: bool) -> None:
    if json_output:
        print_json(plan.model_dump(mode="json"))
        return
    if markdown:
        console.print(plan.markdown(), markup=False, highlight=False)
        return
    rows = [(o.system, o.entity, o.remote_object, o.counts["create"], o.counts["update"], o.counts["unchanged"],
             o.counts["skipped"], o.counts["invalid"]) for o in plan.objects]
    print_table(f"plan with mappings {plan.mapping_version} from the store (nothing read, nothing written)",
                ["system", "entity", "object", "create", "update", "unchanged", "skipped", "invalid"], rows)
    print_preview(plan.rules, {})
    for o in plan.objects:
        for s in o.samples:
            console.print(f"{o.system}/{o.entity} {s.action} {s.record_id}", highlight=False)
            for field, (before, after) in s.changes.items():
                console.print(f"    {field}: {before!r} -> {after!r}", markup=False, highlight=False)
        for bad in o.invalid:
            console.print(f"[red]invalid[/] {o.system}/{o.entity} {bad['record_id']}: {bad['error']}", highlight=False)
