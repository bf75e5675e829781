"""Where the store lives, how its engine is set up, and what a session commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from prm_sync.errors import ConfigError, StoreUnavailable
from prm_sync.model import Partner
from prm_sync.store import Store, count_records, make_engine, render_url, resolve_database_url, save_record
from prm_sync.store.db import parse_url
from prm_sync.store.orm import PartnerRow


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRM_SYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("PRM_SYNC_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_database_url() == f"sqlite:///{tmp_path.resolve()}/.data/prm_sync.sqlite"
    monkeypatch.setenv("PRM_SYNC_DATA_DIR", str(tmp_path / "env"))
    assert resolve_database_url() == f"sqlite:///{tmp_path}/env/prm_sync.sqlite"
    assert resolve_database_url(tmp_path / "arg") == f"sqlite:///{tmp_path}/arg/prm_sync.sqlite"


def test_database_url_env_overrides_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_SYNC_DATABASE_URL", "postgresql+psycopg://prm@db:5432/prm")
    assert resolve_database_url(tmp_path) == "postgresql+psycopg://prm@db:5432/prm"


def test_plain_postgresql_urls_get_the_installed_driver() -> None:
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url",
    ["mysql+pymysql://root:hunter2@db/prm", "this is not a url with hunter2"],
    ids=["unsupported-backend", "unparseable"],
)
def test_bad_urls_are_config_errors_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url(url)
    assert "hunter2" not in str(raised.value)
    assert "PRM_SYNC_DATABASE_URL" in str(raised.value)


def test_render_url_masks_the_password() -> None:
    assert (
        render_url("postgresql+psycopg://prm:hunter2@db:5432/prm")
        == "postgresql+psycopg://prm:***@db:5432/prm"
    )


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'prm.sqlite'}", busy_timeout_ms=1234)
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 1234}
    assert (tmp_path / "nested" / "dir" / "prm.sqlite").is_file()
    engine.dispose()


def test_a_new_sqlite_store_gets_large_pages_and_vacuum_converts_an_old_one(tmp_path: Path) -> None:
    import sqlite3

    from prm_sync.store.db import SQLITE_PAGE_SIZE, Store
    from prm_sync.store.migrate import upgrade
    from prm_sync.store.retention import Vacuumed, vacuum_sqlite

    def page_size(path: Path) -> tuple[int, str]:
        db = sqlite3.connect(path)
        try:
            return db.execute("PRAGMA page_size").fetchone()[0], db.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            db.close()

    fresh = make_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    upgrade(fresh)
    fresh.dispose()
    assert page_size(tmp_path / "new.sqlite") == (SQLITE_PAGE_SIZE, "wal")

    old = tmp_path / "old.sqlite"  # a store created before: SQLite's 4 KB default
    sqlite3.connect(old).execute("PRAGMA page_size=4096").connection.execute("VACUUM").connection.close()
    engine = make_engine(f"sqlite:///{old}")
    upgrade(engine)
    engine.dispose()
    assert page_size(old) == (4096, "wal")  # opening never rewrites a store
    with Store.open(data_dir=None, url=f"sqlite:///{old}") as store:
        with store.session() as session:
            session.execute(text("INSERT INTO run_lock (scope, run_id, acquired_at, heartbeat_at) VALUES ('s', 'r', '2026-01-01', '2026-01-01')"))
        assert vacuum_sqlite(store) == Vacuumed(page_size=SQLITE_PAGE_SIZE, resized=True)
        with store.session(readonly=True) as session:
            assert session.execute(text("SELECT run_id FROM run_lock")).scalar() == "r"
    assert page_size(old) == (SQLITE_PAGE_SIZE, "wal")


def test_in_memory_sqlite_is_one_database() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(store: Store) -> None:
    with store.session() as session:
        save_record(session, Partner(id="ptn_1", name="Kept"))
    with pytest.raises(RuntimeError), store.session() as session:
        save_record(session, Partner(id="ptn_2", name="Dropped"))
        raise RuntimeError("batch failed")
    with store.session() as session:
        assert session.scalars(select(PartnerRow.id)).all() == ["ptn_1"]


def test_readonly_session_never_commits(store: Store) -> None:
    with store.session(readonly=True) as session:
        save_record(session, Partner(id="ptn_1", name="Not kept"))
    with store.session() as session:
        assert count_records(session, "partner") == 0


def test_store_url_hides_the_password() -> None:
    store = Store(make_engine("postgresql+psycopg://prm:hunter2@127.0.0.1:1/prm"))  # connects only when used
    assert store.url == "postgresql+psycopg://prm:***@127.0.0.1:1/prm"
    assert store.backend == "postgresql"
    store.close()


def test_unreachable_database_is_fatal_without_the_password() -> None:
    with pytest.raises(
        StoreUnavailable, match=r"cannot open the database at postgresql\+psycopg://prm:\*\*\*@127.0.0.1:9/prm"
    ) as raised:
        Store.open("postgresql+psycopg://prm:hunter2@127.0.0.1:9/prm?connect_timeout=2")
    assert "hunter2" not in str(raised.value)
