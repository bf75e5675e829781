"""The ``prm-sync`` command line: typer app, global options and the error boundary.

``main()`` is the console script. It is the one place where exceptions turn
into exit codes (the table is ``prm_sync.exit_codes``): a ``PrmSyncError``
prints one clear line per problem and exits with its class's code (2 for bad
input or configuration), anything else prints a one-line internal error
(exit 1); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer
from rich.markup import escape

from prm_sync.cli.context import state
from prm_sync.cli.output import configure, err_console, report_error
from prm_sync.errors import PrmSyncError
from prm_sync.exit_codes import ExitCode

app = typer.Typer(
    name="prm-sync",
    help="Keep a partner program in one truth across the PRM store, Salesforce, HubSpot, the LMS and the ERP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Configuration file (else $PRM_SYNC_CONFIG, else ./config/prm_sync.yaml, else the shipped default).",
    ),
    sandbox_state: Path | None = typer.Option(
        None,
        "--sandbox-state",
        help="Point every system at the sandboxes in this state file (or $PRM_SYNC_SANDBOX_STATE).",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    state.config_path = config
    state.sandbox_state = sandbox_state
    state.debug = debug
    state.reset()


def _register() -> None:
    from prm_sync.cli import commands  # noqa: F401  (registers commands on `app`)


def main() -> None:
    _register()
    configure()
    debug = "--debug" in sys.argv
    json_mode = "--json" in sys.argv
    try:
        app(prog_name="prm-sync")
    except PrmSyncError as exc:
        if debug:
            traceback.print_exc()
        report_error(exc, as_json=json_mode)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            err_console.print(
                f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} (run with --debug for the traceback)",
                highlight=False,
                markup=True,
            )
        sys.exit(ExitCode.INTERNAL_ERROR)
