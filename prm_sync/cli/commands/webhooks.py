"""``prm-sync webhooks serve``: receive HubSpot and Salesforce notifications into the inbox."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, err_console

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
        err_console.print(
            f"warning: {settings.hubspot.client_secret_env} is not set: /webhooks/hubspot is disabled",
            highlight=False,
        )
    if not settings.salesforce.organization_ids:
        err_console.print(
            "warning: webhooks.salesforce.organization_ids is empty: every outbound message is refused",
            highlight=False,
        )
    store = open_store(config)
    server, thread = start_server(store, settings, hubspot_secret=secret, host=host, port=port)
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
