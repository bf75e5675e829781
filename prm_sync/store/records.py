"""Canonical records in and out of their tables, by column name.

Rows never leave this module: callers get pydantic models, which stay valid
after the session closes and compare by value. ``external_ids`` is mirrored
into ``record_external_id`` on every save so a record can be found from a
remote id with an index lookup instead of a scan of JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Session

from prm_sync.errors import PrmSyncError, UsageError
from prm_sync.exit_codes import ExitCode
from prm_sync.model import ENTITIES, CanonicalRecord
from prm_sync.store import bulk
from prm_sync.store.conflict_index import mark_dirty
from prm_sync.store.orm import ENTITY_ROWS, EntityRow, RecordExternalIdRow
from prm_sync.store.types import Money

# stay well under SQLite's and PostgreSQL's bound-parameter limits
CHUNK = 500


def row_class(entity: str) -> type[EntityRow]:
    try:
        return ENTITY_ROWS[entity]
    except KeyError:
        msg = f"unknown entity {entity!r}; known: {', '.join(sorted(ENTITY_ROWS))}"
        raise UsageError(msg) from None


class UnstorableValue(PrmSyncError, ValueError):
    """A record holds a value its column cannot keep (an amount past ``Numeric(18,2)``).

    Raised before the record reaches the session: a value the database refuses
    at flush would fail the whole transaction (every record saved beside it)
    with a raw driver error. The sync turns it into a failed record for this
    record alone; ``field`` and ``value`` say what to fix. One that reaches the
    command line came from a person (``import``, ``failures fix --set``,
    ``review resolve --value``): bad input, exit 2.
    """

    code = "VALUE_OUT_OF_RANGE"
    exit_code = ExitCode.BAD_INPUT

    def __init__(self, entity: str, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{entity}.{field}: {value} cannot be stored in the PRM: {problem}")


def _money_columns(entity: str, dialect_name: str) -> list[tuple[str, Money, Decimal]]:
    """The entity's amount columns, each with a bound below which any finite value surely fits."""
    cached = _MONEY_COLUMNS.get((entity, dialect_name))
    if cached is None:
        columns = [(c.key, c.type) for c in row_class(entity).__table__.columns if isinstance(c.type, Money)]
        cached = _MONEY_COLUMNS[(entity, dialect_name)] = [
            (name, money, Decimal(10) ** money.whole_digits(dialect_name) - 1) for name, money in columns
        ]
    return cached


_MONEY_COLUMNS: dict[tuple[str, str], list[tuple[str, Money, Decimal]]] = {}


def check_storable(record: CanonicalRecord, dialect_name: str) -> None:
    """Raise ``UnstorableValue`` when a value of ``record`` would not survive its column."""
    check_storable_values(record.entity, lambda name: getattr(record, name, None), dialect_name)


def check_storable_values(entity: str, get: Callable[[str], Any], dialect_name: str) -> None:
    """``check_storable`` for values not yet a record (``get(field)``: a pulled page's mapped values)."""
    for name, money, safe in _money_columns(entity, dialect_name):
        value = get(name)
        if value is None or (type(value) is Decimal and value.is_finite() and -safe < value < safe):
            continue  # nearly every amount: no rounding needed to know it fits
        problem = money.fit(value, dialect_name)[1]
        if problem is not None:
            raise UnstorableValue(entity, name, value, problem)
    if dialect_name == "postgresql":
        # PostgreSQL text cannot hold U+0000 (psycopg refuses the whole statement): a CRM text holding one
        # would fail every record saved beside it, and every lookup by that value, run after run
        for name in _text_columns(entity):
            value = get(name)
            if isinstance(value, str) and "\x00" in value:
                raise UnstorableValue(entity, name, value.replace("\x00", "\\x00"),
                                      "PostgreSQL text cannot hold the NUL character (\\x00)")


def _text_columns(entity: str) -> list[str]:
    cached = _TEXT_COLUMNS.get(entity)
    if cached is None:
        cached = _TEXT_COLUMNS[entity] = [
            c.key for c in row_class(entity).__table__.columns if isinstance(c.type, String)
        ]
    return cached


_TEXT_COLUMNS: dict[str, list[str]] = {}


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _column_values(record: CanonicalRecord) -> dict[str, Any]:
    values = {}
    for name in type(record).model_fields:
        value = getattr(record, name)
        if isinstance(value, Enum):  # defaults skip use_enum_values; store the plain value
            value = value.value
        elif isinstance(value, list | dict):
            value = value.copy()  # the row must not share a mutable value with the model
        values[name] = value
    return values


def to_record(row: EntityRow) -> CanonicalRecord:
    model = ENTITIES[row.entity]
    return model.model_validate({name: getattr(row, name) for name in model.model_fields})


def _sync_external_ids_many(session: Session, entity: str, changes: dict[str, tuple[bool, dict[str, str]]]) -> None:
    """Mirror changed ``external_ids``: one delete per chunk of records, then the new rows."""
    stale = [record_id for record_id, (had, _) in changes.items() if had]
    for part in chunks(stale):
        session.execute(
            delete(RecordExternalIdRow).where(
                RecordExternalIdRow.entity == entity, RecordExternalIdRow.record_id.in_(part)
            )
        )
    session.add_all(
        RecordExternalIdRow(entity=entity, system=system, remote_id=remote_id, record_id=record_id)
        for record_id, (_, ids) in changes.items()
        for system, remote_id in ids.items()
    )


# bookkeeping columns: their changes are not "a field changed" for a conflict rule
UNSTAMPED = frozenset({"id", "external_ids", "created_at", "updated_at"})


def save_records(
    session: Session, records: Sequence[CanonicalRecord], *, changed_at: Mapping[str, datetime] | None = None
) -> None:
    """Insert or update each record by id (existing rows loaded in one query per entity).

    A save that changes a row increments its ``row_version`` (a new row
    starts at 1): that, not ``updated_at``, is how the push finds what moved,
    so a caller that forgets to touch ``updated_at`` still gets its change synced.

    Each field whose value changes is stamped in ``field_changed_at`` with
    the time of the change: ``changed_at[record id]`` when the caller knows it
    (a value pulled from a CRM changed there, at that record's modstamp),
    else the record's ``updated_at``. The ``newest`` rule compares that
    stamp, not the record's ``updated_at``, so a later edit of another field
    does not make an old edit of this one look new.
    """
    dialect = session.get_bind().dialect.name
    by_entity: dict[str, list[CanonicalRecord]] = {}
    for record in records:
        check_storable(record, dialect)  # before the session holds anything of this save
        by_entity.setdefault(record.entity, []).append(record)
    for entity, group in by_entity.items():
        cls = row_class(entity)
        existing: dict[str, EntityRow] = {}
        for part in chunks([r.id for r in group]):
            existing.update((row.id, row) for row in session.scalars(select(cls).where(cls.id.in_(part))))
        # record id -> (had mirrored ids before, the ids to mirror now); applied once per group
        id_changes: dict[str, tuple[bool, dict[str, str]]] = {}
        changed: list[str] = []
        for record in group:
            values = _column_values(record)
            row = existing.get(record.id)
            old_ids = None
            if row is None:
                row = cls(**values, row_version=1, field_changed_at={})
                session.add(row)
                existing[record.id] = row
                changed.append(record.id)
            else:
                old_ids = dict(row.external_ids)
                differing = [name for name, value in values.items() if getattr(row, name) != value]
                if differing:
                    # in SQL, so two writers in separate transactions cannot both write the same version
                    row.row_version = cls.row_version + 1  # type: ignore[assignment]
                    changed.append(record.id)
                    fields = [name for name in differing if name not in UNSTAMPED]
                    if fields:
                        when = (changed_at or {}).get(record.id) or record.updated_at
                        stamp = stamp_time(when)
                        row.field_changed_at = {**(row.field_changed_at or {}), **dict.fromkeys(fields, stamp)}
                for name, value in values.items():
                    setattr(row, name, value)
            if old_ids != values["external_ids"]:
                had = id_changes.get(record.id, (False, {}))[0] or bool(old_ids)
                id_changes[record.id] = (had, dict(values["external_ids"]))
        _sync_external_ids_many(session, entity, id_changes)
        mark_dirty(session, entity, changed)  # the conflict index catches up before its next check
        # make the mirrored external ids visible to the next save of the same record
        session.flush()


def add_external_ids(session: Session, entity: str, system: str, remote_ids: dict[str, str]) -> None:
    """Record ``system``'s id for many records (record id -> remote id), touching only that key of that column.

    What the sync does after creating records remotely, for thousands of rows
    per run, so no row is read: one executemany ``UPDATE`` sets the one key
    inside the stored JSON (``json_set`` on SQLite, ``jsonb ||`` on
    PostgreSQL), and the mirror table's ``system`` rows of these records are
    replaced. Each row changes in one statement, so a Salesforce push and a
    HubSpot push of the same partner in two processes cannot write back a copy
    of ``external_ids`` without the other's id (a read-modify-write would need
    the rows locked for that).
    """
    if not remote_ids:
        return
    cls = row_class(entity)
    table = cls.__table__
    session.flush()  # pending ORM changes to these rows land first
    ordered = sorted(remote_ids)  # rows changed in one order: two writers never wait in a circle
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        sql = (f"UPDATE {table.name} SET external_ids = CAST((CASE WHEN json_typeof(external_ids) = 'object' "
               "THEN CAST(external_ids AS jsonb) ELSE '{}'::jsonb END) "
               "|| jsonb_build_object(CAST(%(system)s AS text), CAST(%(remote_id)s AS text)) AS json) WHERE id = %(id)s")
    else:
        sql = f"UPDATE {table.name} SET external_ids = json_set(external_ids, :path, :remote_id) WHERE id = :id"
    path = '$."' + system.replace('"', '""') + '"'
    rows = [{"id": record_id, "entity": entity, "system": system, "path": path, "remote_id": remote_ids[record_id]}
            for record_id in ordered]
    session.connection().exec_driver_sql(sql, rows)  # type: ignore[arg-type]
    expire_loaded(session, cls, {(record_id,) for record_id in ordered}, ["external_ids"])
    mirror_table = RecordExternalIdRow.__table__
    # the ids these records had in ``system`` go: one driver-level executemany of a key probe each
    if postgres:
        sql = f"DELETE FROM {mirror_table.name} WHERE entity = %(entity)s AND record_id = %(id)s AND system = %(system)s"
    else:  # without statistics SQLite would pick the primary key's (entity, system) prefix: a scan per row
        sql = (f"DELETE FROM {mirror_table.name} INDEXED BY ix_record_external_id_record "
               "WHERE entity = :entity AND record_id = :id AND system = :system")
    session.connection().exec_driver_sql(sql, rows)  # type: ignore[arg-type]
    mirror = [{"entity": entity, "system": system, "remote_id": remote_ids[record_id], "record_id": record_id}
              for record_id in ordered]
    bulk.insert_rows(session, mirror_table, mirror)


def update_fields(session: Session, entity: str, changes: Mapping[str, Mapping[str, Any]], *, now: datetime) -> None:
    """Set some fields of existing records (record id -> field -> value), changed at ``now``.

    What ``save_records`` does for a change the caller already worked out
    (``row_version`` bumped in SQL, each field stamped, ``updated_at`` moved,
    the conflict index told), without loading the rows: one executemany per
    set of fields. A rule that decides thousands of records at once (the
    conflict check of a large pull) writes them here; rows the session holds
    are expired so that later reads see the change.
    """
    cls = row_class(entity)
    table = cls.__table__
    session.flush()  # pending ORM changes to these rows land first
    stamps: dict[str, dict[str, str]] = {}
    for part in chunks(sorted(changes)):
        query = select(table.c.id, table.c.field_changed_at).where(table.c.id.in_(part))
        stamps.update((record_id, current or {}) for record_id, current in session.execute(query))
    stamp = stamp_time(now)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record_id, fields in changes.items():
        if record_id not in stamps or not fields:
            continue
        row = {name: value.value if isinstance(value, Enum) else value for name, value in fields.items()}
        stamped = dict.fromkeys((name for name in fields if name not in UNSTAMPED), stamp)
        row.update(id=record_id, updated_at=now, field_changed_at={**stamps[record_id], **stamped})
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, rows in groups.items():
        bulk.update_rows(session, table, [{c: r[c] for c in columns} for r in rows], key=["id"], increment=["row_version"])
    changed = {record_id for rows in groups.values() for record_id in (r["id"] for r in rows)}
    expire_loaded(session, cls, {(record_id,) for record_id in changed},
                  sorted({c for columns in groups for c in columns if c != "id"} | {"row_version"}))
    mark_dirty(session, entity, sorted(changed))


def expire_loaded(session: Session, cls: type[Any], keys: set[tuple[Any, ...]], attributes: list[str]) -> None:
    """Expire rows of ``cls`` this session already holds whose key a Core statement just rewrote.

    Core statements bypass the identity map; without this a row loaded
    earlier in the same session would keep answering with the old value.
    """
    for obj in list(session.identity_map.values()):
        if type(obj) is cls and session.identity_key(instance=obj)[1] in keys:
            session.expire(obj, attributes)


def save_record(session: Session, record: CanonicalRecord, *, changed_at: datetime | None = None) -> None:
    """Insert or update one record by id (``changed_at``: when its changed fields changed, if not now)."""
    save_records(session, [record], changed_at={record.id: changed_at} if changed_at is not None else None)


def stamp_time(when: datetime) -> str:
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def field_changed_at(session: Session, record: CanonicalRecord, name: str) -> datetime:
    """When the PRM value of ``record.name`` last changed, as far as the store knows.

    The field's stamp; for a record saved since with no change to this
    field, its creation; for a row saved before stamps existed, its
    ``updated_at`` (the best the old store knew).
    """
    row = session.get(row_class(record.entity), record.id)
    stamps = row.field_changed_at if row is not None else None
    if stamps is None:
        return record.updated_at
    stamp = stamps.get(name)
    return datetime.fromisoformat(stamp) if stamp else record.created_at


def get_record(session: Session, entity: str, record_id: str) -> CanonicalRecord | None:
    row = session.get(row_class(entity), record_id)
    return None if row is None else to_record(row)


def list_records(
    session: Session,
    entity: str,
    *,
    ids: Sequence[str] | None = None,
    updated_since: datetime | None = None,
    limit: int | None = None,
) -> list[CanonicalRecord]:
    """Records ordered by ``(updated_at, id)``; ``updated_since`` is inclusive.

    Inclusive because two records can share a timestamp: a caller resuming
    from the last ``updated_at`` it saw re-reads that instant rather than
    losing its twin.
    """
    # read as plain Core rows: a push lists every record of an entity, and ORM instances
    # (identity map, instance state) would only be thrown away after the pydantic copy
    table = row_class(entity).__table__  # first: an unknown entity is a UsageError
    model = ENTITIES[entity]
    names = list(model.model_fields)
    query = select(*(table.c[name] for name in names)).order_by(table.c.updated_at, table.c.id)
    if updated_since is not None:
        query = query.where(table.c.updated_at >= updated_since)
    session.flush()  # what an ORM query would autoflush: pending changes must be read back
    if ids is None:
        if limit is not None:
            query = query.limit(limit)
        return [model.model_validate(dict(zip(names, row, strict=True))) for row in session.execute(query)]
    rows: list[Any] = []
    for part in chunks(list(dict.fromkeys(ids))):
        rows.extend(session.execute(query.where(table.c.id.in_(part))))
    rows.sort(key=lambda row: (row.updated_at, row.id))
    return [model.model_validate(dict(zip(names, row, strict=True))) for row in rows[:limit]]


def find_by_external_id(session: Session, entity: str, system: str, remote_id: str) -> CanonicalRecord | None:
    """The record whose ``external_ids[system]`` is ``remote_id``.

    Should two records claim the same remote id (a merge not yet synced), the
    most recently updated wins so the answer is at least deterministic.
    """
    cls = row_class(entity)
    query = (
        select(cls)
        .join(RecordExternalIdRow, RecordExternalIdRow.record_id == cls.id)
        .where(
            RecordExternalIdRow.entity == entity,
            RecordExternalIdRow.system == system,
            RecordExternalIdRow.remote_id == remote_id,
        )
        .order_by(cls.updated_at.desc(), cls.id)
        .limit(1)
    )
    row = session.scalars(query).first()
    return None if row is None else to_record(row)


def row_versions(session: Session, entity: str, ids: Sequence[str] | None = None) -> dict[str, int]:
    """Record id -> ``row_version``, for every record of the entity or for ``ids``."""
    table = row_class(entity).__table__
    query = select(table.c.id, table.c.row_version)
    session.flush()
    if ids is None:
        return dict(session.execute(query).tuples().all())
    found: dict[str, int] = {}
    for part in chunks(list(dict.fromkeys(ids))):
        found.update(session.execute(query.where(table.c.id.in_(part))).tuples().all())
    return found


def count_records(session: Session, entity: str) -> int:
    cls = row_class(entity)
    return session.scalar(select(func.count()).select_from(cls)) or 0


def delete_record(session: Session, entity: str, record_id: str) -> bool:
    """Remove a record and its external-id index entries; False if it was not there."""
    cls = row_class(entity)
    session.execute(
        delete(RecordExternalIdRow).where(
            RecordExternalIdRow.entity == entity, RecordExternalIdRow.record_id == record_id
        )
    )
    row = session.get(cls, record_id)
    if row is None:
        return False
    session.delete(row)
    mark_dirty(session, entity, [record_id])
    session.flush()
    return True
