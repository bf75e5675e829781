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


def test_0009_keeps_per_record_push_rows_readable_beside_the_batches_written_after_it(db_url: str) -> None:
    """A store with a push's ledger and audit rows (as before 0009) upgrades; audit and ledger read old and new."""
    import json
    from datetime import UTC, datetime

    from prm_sync.audit_view import provenance
    from prm_sync.store.audit import query_audit
    from prm_sync.store.db import session_factory
    from prm_sync.store.ledger import count_writes, last_written_many
    from prm_sync.store.push_batches import append_push_batch

    engine = make_engine(db_url)
    upgrade(engine, "0008")
    old_at, new_at = "2026-11-01 09:00:00", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with engine.begin() as conn:  # what a push of 0008's code wrote for one record: a ledger row, an audit row
        conn.execute(text(
            "INSERT INTO write_ledger (run_id, system, remote_object, remote_id, record_id, entity, payload_hash, "
            "payload, written_at) VALUES ('run_old', 'salesforce', 'Account', '001A', 'ptn_1', 'partner', 'h1', "
            f":payload, '{old_at}')"), {"payload": json.dumps({"Name": "Acme", "Partner_Tier__c": "Gold"})})
        conn.execute(text(
            "INSERT INTO audit_log (at, run_id, actor, action, system, remote_object, entity, record_id, remote_id, "
            "mapping_version, rule, fields_before, fields_after, provenance) VALUES "
            f"('{old_at}', 'run_old', 'prm-sync', 'push.create', 'salesforce', 'Account', 'partner', 'ptn_1', '001A', "
            "'m1', 'to_remote', '{}', :after, :provenance)"),
            {"after": json.dumps({"name": "Acme", "tier": "gold"}), "provenance": json.dumps({
                "Name": {"prm_field": "name", "rule": None, "decision": "to_remote"},
                "Partner_Tier__c": {"prm_field": "tier", "rule": None, "decision": "to_remote", "remote_value": "Gold"}})})
        conn.execute(text(
            "INSERT INTO sync_state (entity, record_id, system, remote_object, remote_id, last_synced_at, "
            f"last_direction) VALUES ('partner', 'ptn_1', 'salesforce', 'Account', '001A', '{old_at}', 'push')"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with session_factory(engine)() as session, session.begin():
        [old] = query_audit(session, record_id="ptn_1")
        assert (old.action, old.run_id, old.batch_id) == ("push.create", "run_old", None)
        assert [line.text.split(" by ")[0] for line in provenance(session, "ptn_1")] == [
            "Salesforce Account.Name was set to Acme", "Salesforce Account.Partner_Tier__c was set to Gold"]
        append_push_batch(session, run_id="run_new", at=new_at, system="salesforce", remote_object="Account",
                          entity="partner", mapping_version="m2", provenance={"tier": ["Partner_Tier__c", None]},
                          entries=[["ptn_1", "001A", False, {"tier": "gold"}, {"tier": "platinum"},
                                    {"Name": "Acme", "Partner_Tier__c": "Platinum"}]])
    with session_factory(engine)() as session:
        entries = query_audit(session, record_id="ptn_1")
        assert [(e.action, e.run_id) for e in entries] == [("push.update", "run_new"), ("push.create", "run_old")]
        assert query_audit(session, remote_id="001A", system="salesforce") == entries
        assert entries[0].fields_before == {"tier": "gold"} and entries[0].fields_after == {"tier": "platinum"}
        assert provenance(session, "001A")[0].text.startswith("Salesforce Account.Partner_Tier__c was set to Platinum")
        newest = last_written_many(session, "salesforce", "Account", ["001A"])["001A"]
        assert (newest.run_id, newest.payload["Partner_Tier__c"]) == ("run_new", "Platinum")
        assert count_writes(session, "run_old") == count_writes(session, "run_new") == 1
    migrate.downgrade(engine, "0008")  # the batches go; the rows from before stay
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 1
    assert "push_batch" not in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize("age_minutes", [5, 120], ids=["running", "dead"])
def test_0010_keeps_the_lock_of_a_sync_of_the_previous_release_until_it_is_dead(db_url: str, age_minutes: int) -> None:
    """A store upgraded under a running sync of the previous release (its one ``sync`` lock, no heartbeat renewed)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from prm_sync.errors import RunInProgress
    from prm_sync.model import utcnow
    from prm_sync.store import locks, query_audit, runs
    from prm_sync.store.orm import RunLockRow, SyncRunRow

    engine = make_engine(db_url)
    upgrade(engine, "0009")
    began = utcnow() - timedelta(minutes=age_minutes)
    with engine.begin() as conn:  # what that release wrote when its run began (its columns only)
        conn.execute(insert(RunLockRow.__table__).values(scope="sync", run_id="run_old", acquired_at=began,
                                                         heartbeat_at=began))
        conn.execute(insert(SyncRunRow.__table__).values(id="run_old", trigger="cli", scope={}, status="running",
                                                         started_at=began, stats={}))
    upgrade(engine)
    engine.dispose()
    store = Store(make_engine(db_url))
    stale = timedelta(hours=1)  # the release's lock_stale_after_seconds default
    try:
        if age_minutes < 60:
            with pytest.raises(RunInProgress, match="earlier prm-sync release"):
                locks.take_locks(store, [locks.slice_scope("hubspot", "partner")], "run_new", stale, heartbeat=False)
            with store.session() as session:
                assert [lock.scope for lock in locks.list_locks(session)] == ["sync"]
                assert runs.get_run(session, "run_old").status == "running"
        else:
            held = locks.take_locks(store, [locks.slice_scope("hubspot", "partner")], "run_new", stale, heartbeat=False)
            held.close()
            with store.session() as session:
                assert locks.list_locks(session) == []
                assert runs.get_run(session, "run_old").status == "abandoned"
                assert [e.action for e in query_audit(session, run_id="run_new")] == ["lock.takeover"]
    finally:
        store.close()
