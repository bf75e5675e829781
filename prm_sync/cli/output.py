"""Printing for the CLI: rich for people, JSON for scripts, one line for errors."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from prm_sync.errors import ConfigError, PrmSyncError, Problem

PIPED_WIDTH = 160


def _width(stream: object) -> int:
    """``COLUMNS`` if set, else the terminal's width; piped or in CI, room for tables instead of 80 columns."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if getattr(stream, "isatty", lambda: False)():
        return shutil.get_terminal_size().columns
    return PIPED_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def configure() -> None:
    """Measure the terminal again: each invocation (and each in-process test) gets its own width."""
    console.width = _width(sys.stdout)
    err_console.width = _width(sys.stderr)


# run, failure and health statuses -> colour: green is only ever "nothing to do"
STATUS_STYLES = {
    "succeeded": "green", "ok": "green", "healthy": "green", "resolved": "green", "synced": "green",
    "fresh": "green", "would_sync": "green",
    "succeeded_with_failures": "yellow", "partial": "yellow", "failures": "yellow", "warning": "yellow",
    "discarded": "dim", "skipped": "dim", "never": "dim", "running": "cyan",
    "failed": "bold red", "failed_again": "bold red", "open": "red", "stale": "bold red", "unhealthy": "bold red",
    "abandoned": "red",  # a run whose process died (kill -9, lost host) before it finished
}


def when(value: datetime | None, missing: str = "-") -> str:
    """A timestamp as tables show it: minutes, in the time zone it carries (UTC from the store)."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else missing


def styled(status: str) -> Text:
    """A status word in its colour (plain when the output is not a terminal, or ``NO_COLOR`` is set)."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


@dataclass(frozen=True)
class Col:
    """A table column: who is dropped first on a narrow terminal, and which one column wraps."""

    header: str
    priority: int = 0  # 0: always shown; the highest number is dropped first when the table does not fit
    wrap: bool = False  # the message column: wraps onto more lines, never cut; takes the width left over
    min_width: int = 24  # the least a wrapping column gets before other columns are dropped
    justify: Literal["left", "right"] = "left"


def _cell_width(value: Any) -> int:
    text = value.plain if isinstance(value, Text) else ("" if value is None else str(value))
    return max((len(line) for line in text.splitlines()), default=0)


def natural_widths(cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Each column's width without wrapping: its widest cell or header."""
    return [max([len(c.header), *(_cell_width(r[i]) for r in rows)]) for i, c in enumerate(cols)]


def fit_columns(cols: Sequence[Col], rows: Sequence[Sequence[Any]], width: int) -> list[int]:
    """The indexes of the columns that fit ``width``: optional ones dropped, highest priority number first."""
    natural = natural_widths(cols, rows)

    def needed(keep: list[int]) -> int:
        # the box print_fitted draws: a space of padding each side of a divider, three between columns, none at the edges
        return sum(min(natural[i], cols[i].min_width) if cols[i].wrap else natural[i] for i in keep) + 3 * (len(keep) - 1)

    keep = list(range(len(cols)))
    droppable = sorted((i for i, c in enumerate(cols) if c.priority), key=lambda i: (-cols[i].priority, -i))
    for index in droppable:
        if needed(keep) <= width:
            break
        keep.remove(index)
    return keep


def print_fitted(title: str | None, cols: Sequence[Col], rows: Sequence[Sequence[Any]], *, caption: str | None = None) -> None:
    """A table that fits the terminal: optional columns dropped by width, only the wrapping column wraps."""
    keep = fit_columns(cols, rows, console.width)
    natural = natural_widths(cols, rows)
    wraps = any(cols[i].wrap for i in keep)
    table = Table(title=title, caption=caption, expand=wraps, title_justify="left", caption_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i in keep:
        col = cols[i]
        if col.wrap:
            table.add_column(col.header, overflow="fold", ratio=1, min_width=min(col.min_width, natural[i]))
        else:
            table.add_column(col.header, no_wrap=True, overflow="ellipsis", justify=col.justify)
    for row in rows:
        table.add_row(*[row[i] if isinstance(row[i], Text) else ("" if row[i] is None else str(row[i])) for i in keep])
    console.print(table)


def write_output(path: Path, text: str) -> Path:
    """Write a file the user named with ``--out``: a folder, a full disk or a read-only place is one clear line."""
    if path.is_dir():
        raise ConfigError([Problem(f"--out {path} is a directory; name a file in it", hint=f"e.g. --out {path / 'out'}")])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError([Problem(f"cannot write --out {path}: {exc.strerror or exc}")]) from None
    return path


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


def command_lines(step: str, width: int, indent: str = "  ") -> list[str]:
    """A next command as ``$ ...`` lines that fit ``width`` and still paste as one command.

    The console would break a long command at a space, and a shell runs the
    two halves as two commands; here it is broken with ``\\`` continuations
    (a flag kept with its value), and a trailing ``# comment`` that does not
    fit goes on a line of its own above it.
    """
    import shlex

    command, _, comment = step.partition("  # ")
    lexer = shlex.shlex(command.strip(), posix=False)
    lexer.whitespace_split, lexer.commenters = True, ""
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote (in a remote's error code, say): its words as they stand
        tokens = command.split()
    words: list[str] = []
    for token in tokens:
        if words and words[-1].startswith("--") and " " not in words[-1] and not token.startswith("-"):
            words[-1] += " " + token  # --error-code INVALID_FIELD stays together
        else:
            words.append(token)
    first, rest = f"{indent}$ ", f"{indent}    "
    lines: list[str] = []
    current = first
    for word in words:
        candidate = word if current in (first, rest) else " " + word
        if current not in (first, rest) and len(current) + len(candidate) + 2 > width:
            lines.append(current + " \\")
            current = rest + word
        else:
            current += candidate
    lines.append(current)
    if comment:
        if len(lines) == 1 and len(lines[0]) + len(comment) + 5 <= width:
            lines[0] += f"   # {comment}"
        else:
            lines.insert(0, f"{indent}# {comment}")
    return lines


def print_command(step: str, indent: str = "  ") -> None:
    """``command_lines`` on the console, never re-wrapped by it."""
    for line in command_lines(step, console.width, indent):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


MAX_PROBLEMS_SHOWN = 100  # a bare org fails validate --remote with ~60; a broken CSV with a million


def problem_lines(problems: Sequence[Any], limit: int = MAX_PROBLEMS_SHOWN) -> list[str]:
    """At most ``limit`` rendered problems, then one line counting the rest (a million bad rows print 11 lines)."""
    lines = [p.render() for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit:,} more")
    return lines


def error_line(text: str) -> None:
    """One ``error:`` line on stderr, never wrapped at the terminal's width."""
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def report_error(exc: PrmSyncError, *, as_json: bool = False) -> None:
    """One line for one problem; several: a count, then each on its own line (capped); never a traceback."""
    if as_json:
        problems = (
            [p.as_dict() for p in exc.problems] if isinstance(exc, ConfigError) else [{"message": str(exc)}]
        )
        sys.stdout.write(
            json.dumps({"ok": False, "error": type(exc).__name__, "problems": problems}, indent=2) + "\n"
        )
        return
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        error_line(exc.problems[0].render())
    elif isinstance(exc, ConfigError):
        count = len(exc.problems)
        err_console.print(f"[bold red]error:[/] {count:,} problems found", highlight=False)
        for line in problem_lines(exc.problems):
            err_console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    else:
        error_line(str(exc))
