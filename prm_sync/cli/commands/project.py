"""``prm-sync init``: start a deployment of your own from the shipped configuration and mappings."""

from __future__ import annotations

from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.output import console, print_json


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Folder for config/ and mappings/ (created if missing)."),
    json_output: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write an editable config/prm_sync.yaml and mappings/ for a new deployment; never overwrites."""
    from prm_sync.scaffold import init_project

    result = init_project(directory)
    if json_output:
        print_json({"directory": str(result.directory), "written": [str(p) for p in result.written],
                    "secret_envs": result.secret_envs, "next_steps": result.next_steps()})
        return
    console.print(f"[green]wrote[/] {len(result.written)} files in {result.directory}:", highlight=False)
    for path in result.written:
        console.print(f"  {path.relative_to(result.directory)}", markup=False, highlight=False)
    console.print("[bold]next[/]:")
    for number, step in enumerate(result.next_steps(), start=1):
        console.print(f"  {number}. {step}", markup=False, highlight=False)
