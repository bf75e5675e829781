"""``prm-sync webhooks serve`` receives HubSpot and Salesforce notifications into the inbox; ``drain`` syncs them."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, err_console

MAX_EVENTS = 1_000_000  # events one targeted run takes; a larger --limit is a typo (and past what SQLite binds)

webhooks_app = typer.Typer(
    help="Receive HubSpot webhooks and Salesforce outbound messages.", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("serve")
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default webhooks.host, 127.0.0.1)."),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port (default webhooks.port, 8085)."
    ),
) -> None:
    """Serve POST /webhooks/hubspot and /webhooks/salesforce until Ctrl-C or SIGTERM.

    HubSpot is enabled when its client secret's environment variable is set;
    Salesforce accepts only the org ids in webhooks.salesforce.organization_ids.
    """
    from prm_sync.errors import MissingSecretError
    from prm_sync.runtime import open_store
    from prm_sync.webhooks import hubspot_client_secret, start_server

    config = state.config()
    settings = config.webhooks
    try:
        secret = hubspot_client_secret(settings)
    except MissingSecretError:
        secret = None
    store = open_store(config)
    try:
        server, thread = start_server(store, settings, hubspot_secret=secret, host=host, port=port)
    except BaseException:
        store.close()
        raise
    if secret is None:  # warnings once listening: a port in use is the one line a failed start prints
        err_console.print(
            f"warning: {settings.hubspot.client_secret_env} is not set: /webhooks/hubspot is disabled",
            highlight=False,
        )
    if not settings.salesforce.organization_ids:
        err_console.print(
            "warning: webhooks.salesforce.organization_ids is empty: every outbound message is refused",
            highlight=False,
        )
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    console.print(f"listening on {server.url} (Ctrl-C stops)", highlight=False)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        store.close()
        console.print("stopped")


@webhooks_app.command("drain")
def drain(
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan the targeted sync; write nothing, mark nothing."),
    limit: int = typer.Option(1000, "--limit", min=1, max=MAX_EVENTS, help="Events per targeted run."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sync exactly what pending webhook events name, then mark them processed (no full run).

    What Dagster's inbox_sensor does, for deployments without Dagster: run it
    from cron every minute or two beside `prm-sync webhooks serve`.
    """
    from prm_sync.cli.commands.sync import print_drain
    from prm_sync.cli.output import print_json
    from prm_sync.cli.report import notify_runs
    from prm_sync.exit_codes import for_run_status
    from prm_sync.runtime import open_runtime
    from prm_sync.webhooks.drain import drain_inbox

    runtime = open_runtime(state.config())
    try:
        drained = drain_inbox(runtime, dry_run=dry_run, limit=limit)
        if not dry_run and drained is not None and drained.report is not None:
            notify_runs(runtime.config, runtime.store, [drained.report.run_id])
    finally:
        runtime.close()
    if json_output:
        print_json(drained.model_dump(mode="json") if drained is not None else {"events": 0, "report": None})
    elif drained is None:
        console.print("inbox: no pending change notifications")
    else:
        print_drain(drained)
    if drained is not None and drained.report is not None and for_run_status(drained.report.status):
        raise typer.Exit(for_run_status(drained.report.status))
