"""``prm-sync mappings``: the RevOps tools for mapping files (schema, tests, plan)."""

from __future__ import annotations

from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json, print_table
from prm_sync.errors import ConfigError, Problem

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
    from prm_sync.mapping.schema import write_schema

    target = out or _schema_target()
    target.parent.mkdir(parents=True, exist_ok=True)
    written = write_schema(target)
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
        raise typer.Exit(1)


@mappings_app.command("plan")
def mappings_plan(
    system: list[str] = typer.Option(None, "--system", "-s", help="Only these systems (repeatable)."),
    entity: list[str] = typer.Option(None, "--entity", "-e", help="Only these entities (repeatable)."),
    record: list[str] = typer.Option(None, "--record", "-r", help="Show the field-level diff for these PRM ids."),
    sample: int = typer.Option(5, "--sample", min=0, max=1000, help="How many sample diffs per object."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the plan as markdown."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Dry run: what each system would receive with the current mappings and data (writes nothing)."""
    from prm_sync.runtime import open_runtime
    from prm_sync.sync.plan import plan_mappings

    runtime = open_runtime(state.config())
    try:
        plan = plan_mappings(runtime, systems=system or None, entities=entity or None, record_ids=record or None, sample=sample)
    finally:
        runtime.close()
    if json_output:
        print_json(plan.model_dump(mode="json"))
        return
    if markdown:
        console.print(plan.markdown(), markup=False, highlight=False)
        return
    rows = [(o.system, o.entity, o.remote_object, o.counts["create"], o.counts["update"], o.counts["unchanged"],
             o.counts["skipped"], o.counts["invalid"]) for o in plan.objects]
    print_table(f"plan with mappings {plan.mapping_version} (nothing written)",
                ["system", "entity", "object", "create", "update", "unchanged", "skipped", "invalid"], rows)
    for o in plan.objects:
        for s in o.samples:
            console.print(f"{o.system}/{o.entity} {s.action} {s.record_id}", highlight=False)
            for field, (before, after) in s.changes.items():
                console.print(f"    {field}: {before!r} -> {after!r}", markup=False, highlight=False)
        for bad in o.invalid:
            console.print(f"[red]invalid[/] {o.system}/{o.entity} {bad['record_id']}: {bad['error']}", highlight=False)
