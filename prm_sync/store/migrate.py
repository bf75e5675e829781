"""Schema migrations, configured in code so they run from an installed package.

The Alembic scripts ship inside ``prm_sync/store/migrations``; nothing depends
on the working directory or an ``alembic.ini`` next to it. A database behind
the code is refused (``StoreNotMigrated``) unless the caller asked for
``auto_upgrade``: silently migrating a shared PostgreSQL on first contact is
a decision for an operator, not for a sync run.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from prm_sync.errors import StoreNotMigrated
from prm_sync.store.db import make_engine, render_url
from prm_sync.store.orm import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "prm-sync db upgrade"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged scripts, independent of cwd."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        msg = f"no migrations found in {MIGRATIONS_DIR}"
        raise StoreNotMigrated(msg)
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the database to ``revision`` in one transaction (DDL included, on both backends)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back; used by tests and by operators rolling back a release."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def ensure_migrated(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema matches the code before any reads or writes.

    An empty database, or one behind head, is upgraded when ``auto_upgrade``;
    otherwise ``StoreNotMigrated`` names the database (password masked), both
    revisions and the command to run.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = render_url(engine.url)
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        msg = (
            f"database at {where} is at revision {current}, which this version of prm-sync "
            f"does not know (code expects {head}): it was migrated by a newer release"
        )
        raise StoreNotMigrated(msg)
    if current is None and _has_store_tables(engine):
        msg = (
            f"database at {where} has prm-sync tables but no migration stamp, code expects {head}: "
            "restore the alembic_version table or migrate into an empty database"
        )
        raise StoreNotMigrated(msg)
    if auto_upgrade:
        upgrade(engine)
        return
    shown = current or "none (empty database)"
    msg = f"database at {where} is at revision {shown}, code expects {head}: run `{UPGRADE_COMMAND}`"
    raise StoreNotMigrated(msg)


def _has_store_tables(engine: Engine) -> bool:
    existing = set(inspect(engine).get_table_names())
    return bool(existing & set(Base.metadata.tables))
