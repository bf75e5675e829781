"""Command groups; importing this package registers them on the typer app."""

from prm_sync.cli.commands import (  # noqa: F401
    admin,
    conflicts,
    core,
    failures,
    health,
    identity,
    learners,
    mappings,
    project,
    reconcile,
    sandbox,
    setup,
    sync,
    webhooks,
)
