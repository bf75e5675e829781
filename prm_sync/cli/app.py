"""The ``prm-sync`` command line: typer app, global options and the error boundary.

``main()`` is the console script. It is the one place where exceptions turn
into exit codes (the table is ``prm_sync.exit_codes``): a ``PrmSyncError``
prints one clear line per problem and exits with its class's code (2 for bad
input or configuration), anything else prints a one-line internal error
(exit 1); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape
from typer._click import exceptions as click  # typer vendors click; its usage errors are these classes

from prm_sync.cli.context import state
from prm_sync.cli.output import configure, err_console, error_line, report_error
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
        code = app(prog_name="prm-sync", standalone_mode=False)
    except PrmSyncError as exc:
        if debug:
            traceback.print_exc()
        report_error(exc, as_json=json_mode)
        sys.exit(exc.exit_code)
    except click.NoArgsIsHelpError as exc:  # a group without its subcommand: typer printed its help already
        exc.show()
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: one line naming the option, not a help box
        error_line(_usage_line(exc))
        sys.exit(ExitCode.BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except UnicodeEncodeError as exc:
        undecodable = next((a for a in sys.argv[1:] if _undecodable(a)), None)
        if undecodable is None or debug:
            _internal_error(exc, debug)
        error_line(f"argument {os.fsencode(undecodable)!r} is not UTF-8 text: ids, names and values given on the "
                   "command line must be (check the terminal's locale)")
        sys.exit(ExitCode.BAD_INPUT)
    except Exception as exc:
        _internal_error(exc, debug)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


def _undecodable(arg: str) -> bool:
    """Bytes that were not UTF-8 reach ``sys.argv`` as lone surrogates (PEP 383); no database or API takes them."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _internal_error(exc: Exception, debug: bool) -> NoReturn:
    if debug:
        traceback.print_exc()
    else:
        err_console.print(
            f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} (run with --debug for the traceback)",
            highlight=False,
            markup=True,
            soft_wrap=True,
        )
    sys.exit(ExitCode.INTERNAL_ERROR)


def _usage_line(exc: click.ClickException) -> str:
    """``Invalid value for '--limit': ...`` and where to read about the command."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message
