"""Printing for the CLI: rich for people, JSON for scripts, one line for errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prm_sync.errors import ConfigError, PrmSyncError


def _width(stream: object) -> int | None:
    """Piped or in CI there is no terminal to measure: give tables room instead of 80 columns."""
    if getattr(stream, "isatty", lambda: False)() or os.environ.get("COLUMNS"):
        return None
    return 160


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def print_mapping(title: str, values: Mapping[str, Any]) -> None:
    print_table(title, ["field", "value"], values.items())


def report_error(exc: PrmSyncError, *, as_json: bool = False) -> None:
    """Every problem on its own line, prefixed with where it is; never a traceback."""
    if as_json:
        problems = (
            [p.as_dict() for p in exc.problems] if isinstance(exc, ConfigError) else [{"message": str(exc)}]
        )
        sys.stdout.write(
            json.dumps({"ok": False, "error": type(exc).__name__, "problems": problems}, indent=2) + "\n"
        )
        return
    if isinstance(exc, ConfigError):
        count = len(exc.problems)
        err_console.print(
            f"[bold red]error:[/] {count} problem{'s' if count != 1 else ''} found", highlight=False
        )
        for problem in exc.problems:
            err_console.print(f"  {problem.render()}", highlight=False, markup=False)
    else:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
