"""Alembic environment for the PRM store.

``prm_sync.store.migrate`` passes an open connection in
``config.attributes["connection"]`` so migrations run inside its transaction;
run through the ``alembic`` command instead (``alembic -c
prm_sync/store/migrations/alembic.ini upgrade head``), it opens the database
prm-sync itself would use.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from prm_sync.store.db import make_engine, resolve_database_url
from prm_sync.store.orm import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # sqlite can only alter tables by copying them; batch mode does that for later revisions
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or resolve_database_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or resolve_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
