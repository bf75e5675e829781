"""``prm-sync sandbox up``: the four local sandboxes, for demos, Dagster and manual testing."""

from __future__ import annotations

from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import MAX_ID
from prm_sync.cli.output import console

sandbox_app = typer.Typer(help="Local sandboxes of Salesforce, HubSpot, the LMS and the ERP.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def sandbox_up(
    state_file: Path = typer.Option(Path(".data/sandbox.json"), "--state-file", help="Where to write URLs and tokens for other processes."),
    work_dir: Path = typer.Option(Path(".data/sandbox"), "--work-dir", help="TLS files and, with --persist, saved state."),
    persist: bool = typer.Option(False, "--persist", help="Keep sandbox data on disk across restarts."),
    seed: int | None = typer.Option(None, "--seed", min=0, max=MAX_ID, help="Seed the sandboxes with demo data from this seed."),
    scale: float = typer.Option(1.0, "--scale", min=0.01, max=100.0, help="Size of the demo data (1.0 is about 200 partners)."),
    salesforce_port: int = typer.Option(0, "--salesforce-port", min=0, max=65535),
    hubspot_port: int = typer.Option(0, "--hubspot-port", min=0, max=65535),
    lms_port: int = typer.Option(0, "--lms-port", min=0, max=65535),
    erp_port: int = typer.Option(0, "--erp-port", min=0, max=65535),
    strict: bool = typer.Option(False, "--strict", help="Log every request the sandboxes do not implement."),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address (loopback by default: the tokens are throwaway, "
                             "the data is not yours to expose)."),
) -> None:
    """Start all four sandboxes on loopback until Ctrl-C or SIGTERM."""
    from connectors.sandbox.cluster import SandboxCluster, serve_until_stopped
    from connectors.sandbox.seed import generate
    from connectors.sandbox.seeding import seed_sandboxes
    from prm_sync.config.loader import system_path_problem
    from prm_sync.errors import ConfigError, Problem

    for path, option in ((state_file, "--state-file"), (work_dir, "--work-dir")):
        problem = system_path_problem(path, option)  # the state file is replaced, the work dir filled
        if problem or (option == "--state-file" and path.is_dir()):
            raise ConfigError([Problem(problem or f"--state-file {path} is a folder; name a file")])
    ports = {"salesforce": salesforce_port, "hubspot": hubspot_port, "lms": lms_port, "erp": erp_port}
    cluster = SandboxCluster(work_dir, strict=strict, ports=ports, persist=persist, host=host)

    def ready(c: SandboxCluster) -> None:
        if seed is not None:
            counts = seed_sandboxes(c, generate(seed=seed, scale=scale))
            console.print(f"seeded: {', '.join(f'{k} {v}' for k, v in counts.items())}")
        for name, url in c.urls().items():
            console.print(f"{name:<11} {url}")
        console.print(f"state file  {state_file}  (use --sandbox-state {state_file}; Ctrl-C stops)")
        console.print(f"the org and portal start as new ones do: `prm-sync --sandbox-state {state_file} setup` "
                      "creates the fields, properties and objects the mappings need")

    serve_until_stopped(cluster, state_file, ready)
