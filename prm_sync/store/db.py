"""Where the PRM store lives and how sessions on it behave.

SQLite in the data directory is the zero-setup default; ``PRM_SYNC_DATABASE_URL``
points prm-sync at PostgreSQL instead. Both must behave the same to the sync
engine, which commits a batch's records, sync state, ledger, failures and
cursor in one transaction: so the store hands out sessions, and helpers take
a ``Session`` rather than committing on their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from prm_sync.errors import ConfigError, Problem, StoreUnavailable

ENV_DATABASE_URL = "PRM_SYNC_DATABASE_URL"
ENV_DATA_DIR = "PRM_SYNC_DATA_DIR"
DEFAULT_DATA_DIR = Path(".data")
SQLITE_FILENAME = "prm_sync.sqlite"
DEFAULT_BUSY_TIMEOUT_MS = 30_000
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# execution option that makes a SQLite transaction start deferred (a reader) instead of IMMEDIATE
READONLY_OPTION = "prm_sync_readonly"


def resolve_database_url(data_dir: Path | None = None) -> str:
    """The database to use: ``PRM_SYNC_DATABASE_URL`` if set, else SQLite in the data directory.

    The data directory is ``data_dir`` if given, else ``PRM_SYNC_DATA_DIR``,
    else ``./.data``. The path is made absolute so the URL means the same file
    whatever the working directory is later.
    """
    env_url = os.environ.get(ENV_DATABASE_URL, "").strip()
    if env_url:
        return env_url
    directory = data_dir or Path(os.environ.get(ENV_DATA_DIR, "").strip() or DEFAULT_DATA_DIR)
    return f"sqlite:///{(directory / SQLITE_FILENAME).expanduser().resolve()}"


def parse_url(url: str | URL) -> URL:
    """Parse and normalise a database URL, refusing backends the store is not tested on.

    ``postgresql://`` and ``postgres://`` get the psycopg 3 driver that is
    installed (SQLAlchemy would otherwise pick psycopg2).
    """
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            # sqlalchemy's message quotes the whole string, password included
            msg = "database URL is not a valid SQLAlchemy URL"
            hint = "expected sqlite:///path/file.sqlite or postgresql+psycopg://user@host:5432/db"
            raise ConfigError([Problem(msg, file=ENV_DATABASE_URL, hint=hint)]) from None
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        msg = f"unsupported database backend {url.get_backend_name()!r} in {render_url(url)}"
        raise ConfigError([Problem(msg, file=ENV_DATABASE_URL, hint="use sqlite or postgresql+psycopg")])
    return url


def render_url(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: the password masked."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_dumps(value: Any) -> str:
    # orjson: a sync writes several JSON columns per record, and json.dumps was a visible share
    # of a run. Decimals, datetimes and models are emitted the way pydantic emits them.
    try:
        return orjson.dumps(value, default=to_jsonable_python, option=_JSON_OPTIONS).decode()
    except orjson.JSONEncodeError:  # what orjson refuses outright (integers beyond 64 bits)
        return json.dumps(value, default=to_jsonable_python, separators=(",", ":"))


def _json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only the standard library reads (NaN, integers beyond 64 bits)
        return json.loads(text)


SQLITE_PAGE_SIZE = 16384
"""Page size of a new SQLite store. A sync appends link states (~0.6 KB), ledger (~0.7 KB) and audit
rows (~2 KB) for every record it writes; with SQLite's 4 KB default an audit row took a page of its
own and every page reached the disk twice (WAL, then checkpoint), so the store wrote ~4 KB per
record written. 16 KB pages pack them: the rows of a pushed record cost ~half the time to store
(``benchmarks/store_floor.py``), while a scattered update still rewrites only one 16 KB page."""


def make_engine(
    url: str | URL, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, echo: bool = False
) -> Engine:
    """An engine configured so SQLite and PostgreSQL behave alike.

    SQLite gets WAL (readers never block the writer), enforced foreign keys, a
    busy timeout, and SQLAlchemy-controlled ``BEGIN IMMEDIATE`` transactions:
    the sqlite3 driver's own transaction handling skips BEGIN for SELECT and
    breaks SAVEPOINT, and a deferred transaction that reads then writes fails
    at once with "database is locked" when another process wrote in between.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed, echo=echo, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=_json_loads
        )

    database = parsed.database
    in_memory = not database or database == ":memory:" or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if in_memory:
        # one shared connection, or every checkout would see its own empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder must be, /proc, no permission: the URL is wrong
            msg = f"cannot open the database at {render_url(parsed)}: cannot create {folder}: {exc.strerror or exc}"
            raise StoreUnavailable(msg) from None
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # sqlalchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                # before WAL: a new file is created with this page size (an existing one keeps its own
                # until `prm-sync db prune --vacuum`)
                cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit no longer waits for an fsync (it was ~12 ms of every batch).
                # Still atomic and never corrupt; a power cut can undo the last commits, cursor and
                # data together, and the next run re-reads and re-writes them idempotently.
                cursor.execute("PRAGMA synchronous=NORMAL")
                # a sync batch dirties thousands of pages: checkpoint every ~80 MB of WAL, not every
                # 4 MB (each checkpoint copies and fsyncs), and trim the WAL file back afterwards
                cursor.execute("PRAGMA wal_autocheckpoint=20000")
                cursor.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get(READONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


@contextmanager
def reaching(engine: Engine) -> Iterator[None]:
    """Turn "cannot connect" and "not a database" into ``StoreUnavailable``: one line, exit 2, no password."""
    try:
        yield
    except DatabaseError as exc:  # down, refused, or a file that is no SQLite database
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        msg = f"cannot open the database at {render_url(engine.url)}: {reason}"
        raise StoreUnavailable(msg) from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so results outlive the transaction."""
    return sessionmaker(bind=engine, expire_on_commit=False)


class Store:
    """The PRM database: an engine plus transactional sessions on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._readonly_sessions = session_factory(engine.execution_options(**{READONLY_OPTION: True}))

    @classmethod
    def open(
        cls,
        url: str | URL | None = None,
        *,
        data_dir: Path | None = None,
        auto_upgrade: bool = False,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Store:
        """Open the configured store and check its schema before anyone uses it.

        Raises ``StoreNotMigrated`` when the schema is behind the code and
        ``auto_upgrade`` is off, ``StoreUnavailable`` (exit 2, URL password masked) when the
        database cannot be reached.
        """
        # migrate imports this module for make_engine; importing it here avoids the cycle
        from prm_sync.store.migrate import ensure_migrated

        engine = make_engine(url or resolve_database_url(data_dir), busy_timeout_ms=busy_timeout_ms)
        try:
            with reaching(engine):
                ensure_migrated(engine, auto_upgrade=auto_upgrade)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL with the password masked, for messages and run metadata."""
        return render_url(self.engine.url)

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        A ``readonly`` session never commits, and on SQLite starts a deferred
        transaction so it does not queue behind a running sync's writes.
        """
        factory = self._readonly_sessions if readonly else self._sessions
        with factory() as session:
            try:
                yield session
                if readonly:
                    session.rollback()
                else:
                    session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
