"""Command groups; importing this package registers them on the typer app."""

from prm_sync.cli.commands import core, sandbox, sync  # noqa: F401
