"""``validate`` and ``db``: checks that need no remote system."""

from __future__ import annotations

from pathlib import Path

import typer

from prm_sync.cli.app import app
from prm_sync.cli.context import state
from prm_sync.cli.output import console, print_json
from prm_sync.errors import ConfigError, Problem

db_app = typer.Typer(help="The PRM data store: migrations, retention and run locks.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _describe_provider(remote: bool):
    """Describe remote objects when the systems are reachable, so unknown fields are caught early."""
    if not remote:
        return None
    from prm_sync.sync.connections import build_connectors

    connectors = build_connectors(state.config())
    cache: dict[tuple[str, str], list] = {}

    def provider(system: str, remote_object: str) -> list:
        key = (system, remote_object)
        if key not in cache:
            connector = connectors.get(system)
            cache[key] = connector.describe(remote_object) if connector else []
        return cache[key]

    return provider


@app.command()
def validate(
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    remote: bool = typer.Option(False, "--remote", help="Also check remote field names against each system's describe API."),
) -> None:
    """Check the configuration and every mapping file; report all problems at once (exit 2)."""
    from prm_sync.mapping.validate import validate_mapping_files

    problems: list[Problem] = []
    try:
        config = state.config()
    except ConfigError as exc:
        problems.extend(exc.problems)
        config = None
    mapping_files: list[Path] = []
    if config is not None:
        for entry in config.mappings:
            if entry.is_dir():
                mapping_files.extend(sorted(p for p in entry.glob("*.yaml")))
            elif entry.exists():
                mapping_files.append(entry)
            else:
                problems.append(Problem(f"mappings path {entry} does not exist", hint="fix `mappings:` in the config"))
        problems.extend(validate_mapping_files(mapping_files, describe_provider=_describe_provider(remote)))
    if problems:
        raise ConfigError(problems)
    if json_output:
        print_json({"ok": True, "problems": [], "config": str(state.config_file()),
                    "mapping_files": [str(p) for p in mapping_files]})
    else:
        console.print(f"[green]ok[/]: configuration ({state.config_file()}) and {len(mapping_files)} mapping files "
                      "are valid", highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    from prm_sync.store.db import make_engine, reaching, render_url, resolve_database_url
    from prm_sync.store.migrate import current_revision, upgrade

    config = state.config()
    url = resolve_database_url(config.data_dir)
    engine = make_engine(url)
    try:
        with reaching(engine):
            before = current_revision(engine)
            upgrade(engine)
            after = current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"database {render_url(url)}: {before or 'empty'} -> {after}")


@db_app.command("current")
def db_current(json_output: bool = typer.Option(False, "--json")) -> None:
    """Show the database's migration revision and the one this code expects."""
    from prm_sync.store.db import make_engine, reaching, render_url, resolve_database_url
    from prm_sync.store.migrate import current_revision, head_revision

    config = state.config()
    url = resolve_database_url(config.data_dir)
    engine = make_engine(url)
    try:
        with reaching(engine):
            current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if json_output:
        print_json({"database": render_url(url), "current": current, "head": head, "up_to_date": current == head})
    else:
        status = "up to date" if current == head else "behind: run `prm-sync db upgrade`"
        console.print(f"database {render_url(url)}: revision {current or 'none'} (code expects {head}; {status})")


@db_app.command("prune")
def db_prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    vacuum: bool = typer.Option(False, "--vacuum", help="Afterwards give the space back to the file system (SQLite)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Delete history older than `retention:` in the config (ledger, audit, runs, inbox, resolved items)."""
    from prm_sync.cli.commands.admin import actor
    from prm_sync.cli.output import print_table
    from prm_sync.runtime import open_store
    from prm_sync.store.retention import prune_history, vacuum_sqlite

    config = state.config()
    store = open_store(config)
    try:
        report = prune_history(store, config.retention, dry_run=dry_run, actor=actor())
        vacuumed = vacuum_sqlite(store) if vacuum and not dry_run else None
    finally:
        store.close()
    if json_output:
        print_json({**report.model_dump(mode="json"), "total": report.total,
                    "vacuumed": vacuumed.model_dump() if vacuumed else None})
        return
    verb = "would delete" if dry_run else "deleted"
    print_table(
        f"retention ({'dry run' if dry_run else 'applied'})",
        ["history", "table", "kept", "older than", verb],
        [(t.name, t.table, f"{t.keep_days} days" if t.keep_days else "for ever",
          t.cutoff.isoformat(timespec="seconds") if t.cutoff else "-", t.rows) for t in report.tables],
    )
    done = f"{verb} {report.total} rows"
    if vacuumed is not None:
        done += f"; database file compacted ({vacuumed.page_size // 1024} KB pages" + (
            ", converted)" if vacuumed.resized else ")")
    console.print(done)


@db_app.command("unlock")
def db_unlock(
    scope: str | None = typer.Argument(None, help="The lock to free, as `prm-sync status` names it (e.g. "
                                       "salesforce/partner); every lock whose holder is dead when left out."),
    force: bool = typer.Option(False, "--force", help="Also free a lock whose holder may still be alive "
                               "(its host is not this one and its heartbeat has not expired): check it is gone first."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Free run locks left by a sync that died (kill -9, a lost host); audited, its run marked abandoned."""
    from datetime import timedelta

    from prm_sync.cli.commands.admin import actor
    from prm_sync.errors import RunInProgress
    from prm_sync.runtime import open_store
    from prm_sync.store.locks import unlock

    config = state.config()
    store = open_store(config)
    try:
        freed, kept = unlock(store, scope, actor=actor(), force=force,
                             stale_after=timedelta(seconds=config.sync.lock_stale_after_seconds))
    finally:
        store.close()
    if json_output:
        print_json({"freed": [lock.model_dump(mode="json") for lock in freed],
                    "kept": [lock.model_dump(mode="json") for lock in kept]})
    else:
        for lock in freed:
            console.print(f"freed lock {lock.scope!r} of {lock.describe()}", markup=False, highlight=False)
        if not freed and not kept:
            console.print(f"no lock {scope!r} is held" if scope else "no lock is held", markup=False)
    if kept:
        names = ", ".join(f"{lock.scope} (run {lock.run_id}, pid {lock.pid})" for lock in kept)
        msg = f"kept, holder may be alive: {names}; --force frees it"
        raise RunInProgress(msg)
