"""The packaged migrations build the schema the ORM describes, and stale databases are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from prm_sync.errors import StoreNotMigrated
from prm_sync.store import (
    Store,
    current_revision,
    ensure_migrated,
    head_revision,
    make_engine,
    migrate,
    upgrade,
)
from prm_sync.store.orm import Base

# the packaged head and the number a release after it would use: the tests below follow new migrations
HEAD = head_revision()
NEXT = f"{int(HEAD) + 1:04d}"
SECOND_REVISION = f'''
"""A later release: adds a column."""
import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("partner", sa.Column("nickname", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("partner", "nickname")
'''


@pytest.fixture
def release_with_second_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The packaged migrations plus one more, as if the code were one release newer than the database."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{NEXT}_nickname.py").write_text(SECOND_REVISION)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    return NEXT


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # EXPRESSION_INDEXES, checked by name
def test_upgrade_builds_exactly_the_orm_schema(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the packaged scripts are found from any working directory
    upgrade(db_url)  # a URL: upgrade opens and disposes its own engine
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision() == HEAD
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True, "include_object": _comparable}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert _index_names(conn) >= EXPRESSION_INDEXES  # compared by name: see ``_comparable``
    engine.dispose()


# indexes on an expression: SQLite cannot reflect them and PostgreSQL reflects them rewritten
# (``lower(TRIM(BOTH FROM email))``), so autogenerate cannot compare them; they are checked by name
EXPRESSION_INDEXES = {"ix_partner_contact_email_key"}


def _comparable(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    return not (kind == "index" and name in EXPRESSION_INDEXES)


def _index_names(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        return set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
    return set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_empty_database_is_migrated_when_auto_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    ensure_migrated(engine, auto_upgrade=True)
    assert current_revision(engine) == head_revision()
    ensure_migrated(engine, auto_upgrade=False)  # at head: nothing to do, no error
    engine.dispose()


def test_empty_database_without_auto_upgrade_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(StoreNotMigrated, match=r"revision none .* run `prm-sync db upgrade`"):
        ensure_migrated(engine, auto_upgrade=False)
    assert inspect(engine).get_table_names() == []
    engine.dispose()


def test_database_behind_head_is_refused_with_the_command(
    db_url: str, release_with_second_revision: str
) -> None:
    engine = make_engine(db_url)
    upgrade(engine, HEAD)
    with pytest.raises(StoreNotMigrated) as raised:
        ensure_migrated(engine, auto_upgrade=False)
    shown = make_url(db_url).render_as_string(hide_password=True)
    assert str(raised.value) == (
        f"database at {shown} is at revision {HEAD}, code expects {NEXT}: run `prm-sync db upgrade`"
    )
    assert raised.value.exit_code == 2
    ensure_migrated(engine, auto_upgrade=True)
    assert current_revision(engine) == NEXT
    assert "nickname" in {c["name"] for c in inspect(engine).get_columns("partner")}
    engine.dispose()


def test_database_from_a_newer_release_is_refused(
    db_url: str, release_with_second_revision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_url)
    upgrade(engine)  # to NEXT with the newer scripts
    monkeypatch.undo()  # back to this release's scripts, which stop at HEAD
    with pytest.raises(StoreNotMigrated, match=f"revision {NEXT}, which this version of prm-sync does not know"):
        ensure_migrated(engine, auto_upgrade=True)
    engine.dispose()


def test_unstamped_tables_are_not_migrated_over(db_url: str) -> None:
    engine = make_engine(db_url)
    Base.metadata.tables["partner"].create(engine)
    with pytest.raises(StoreNotMigrated, match="no migration stamp"):
        ensure_migrated(engine, auto_upgrade=True)
    engine.dispose()


def test_message_never_shows_the_password(db_backend: str, db_url: str) -> None:
    if db_backend == "sqlite":
        url = db_url
    else:
        # the test server trusts local connections, so a password is accepted and ignored
        url = make_url(db_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    engine = make_engine(url)
    with pytest.raises(StoreNotMigrated) as raised:
        ensure_migrated(engine, auto_upgrade=False)
    assert "s3cret-pw" not in str(raised.value)
    if db_backend == "postgresql":
        assert ":***@" in str(raised.value)
    engine.dispose()


def test_store_open_auto_upgrades_into_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRM_SYNC_DATA_DIR", str(tmp_path / "data"))
    with Store.open(auto_upgrade=True) as store:
        assert store.backend == "sqlite"
        assert current_revision(store.engine) == head_revision()
    assert (tmp_path / "data" / "prm_sync.sqlite").is_file()
    with pytest.raises(StoreNotMigrated, match="prm-sync db upgrade"):
        Store.open(data_dir=tmp_path / "elsewhere")


def test_0002_keeps_data_and_leaves_existing_links_to_be_checked_once(db_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO partner (id, external_ids, name, partner_type, tier, status, program, created_at, updated_at) "
            "VALUES ('ptn_old', '{}', 'Old Ltd', 'reseller', 'gold', 'active', 'default', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO sync_state (entity, record_id, system, remote_object, remote_id, last_synced_at, last_direction) "
            "VALUES ('partner', 'ptn_old', 'hubspot', 'companies', '101', '2026-01-01 00:00:00', 'push')"
        ))
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, row_version FROM partner")).one() == ("Old Ltd", 0)
        assert conn.execute(text("SELECT remote_id, record_version, push_fingerprint FROM sync_state")).one() == (
            "101", None, None,  # no version: the first push after the upgrade checks this link
        )
    migrate.downgrade(engine, "0001")
    assert "row_version" not in {c["name"] for c in inspect(engine).get_columns("partner")}
    engine.dispose()


def test_the_runtime_migrates_its_own_sqlite_file_and_leaves_postgresql_to_an_operator(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prm_sync.config import load_config
    from prm_sync.runtime import open_store

    engine = make_engine(db_url)
    upgrade(engine, "0002")  # a store one release behind
    engine.dispose()
    monkeypatch.setenv("PRM_SYNC_DATABASE_URL", db_url)
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")
    if make_url(db_url).get_backend_name() == "sqlite":
        store = open_store(config)
        assert current_revision(store.engine) == head_revision()
        store.close()
        return
    with pytest.raises(StoreNotMigrated, match=r"revision 0002, code expects .*: run `prm-sync db upgrade`"):
        open_store(config)
    store = open_store(config, auto_upgrade=True)  # what `prm-sync db upgrade` decides to do
    assert current_revision(store.engine) == head_revision()
    store.close()
