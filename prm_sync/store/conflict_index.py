"""Table I/O of the conflict check's persistent account index (what the rows are: ``orm.py``).

The index itself (profiles, keys, what counts as a candidate) is the rules'
business (``prm_sync.rules.account_index``); the store only keeps its rows and
the dirty list. Every save or delete of a watched entity appends to
``conflict_index_dirty`` in the same transaction, whatever wrote it (a pull, a
rule, an admin command, an import), so the index can never miss a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from prm_sync.store import bulk
from prm_sync.store.orm import (
    ConflictIndexBigBlockRow,
    ConflictIndexDirtyRow,
    ConflictIndexEntryRow,
    ConflictIndexKeyRow,
    ConflictIndexMetaRow,
)

WATCHED_ENTITIES = frozenset({"deal_registration", "opportunity", "end_customer"})
CHUNK = 500  # bound parameters per statement, well under both backends' limits

ENTRY = ConflictIndexEntryRow.__table__
KEY = ConflictIndexKeyRow.__table__
BIG = ConflictIndexBigBlockRow.__table__
DIRTY = ConflictIndexDirtyRow.__table__
META = ConflictIndexMetaRow.__table__
ENTRY_COLUMNS = ("id", "kind", "record_id", "source_hash", "partner_id", "product_lines", "submitted_at", "status",
                 "expires_at", "label", "profile")


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def mark_dirty(session: Session, entity: str, record_ids: Iterable[str]) -> None:
    """Note that these records changed; a no-op for entities the index does not watch."""
    if entity in WATCHED_ENTITIES:
        bulk.insert_rows(session, DIRTY, [{"entity": entity, "record_id": rid} for rid in record_ids])


def dirty_records(session: Session) -> tuple[int, dict[str, set[str]]]:
    """(highest dirty row id, entity -> record ids); clear up to that id once they are indexed."""
    found: dict[str, set[str]] = {}
    high = 0
    for row_id, entity, record_id in session.execute(select(DIRTY.c.id, DIRTY.c.entity, DIRTY.c.record_id)):
        high = max(high, row_id)
        found.setdefault(entity, set()).add(record_id)
    return high, found


def clear_dirty(session: Session, up_to: int) -> None:
    """Rows a concurrent writer added after ``dirty_records`` read the list stay for the next refresh."""
    session.execute(delete(DIRTY).where(DIRTY.c.id <= up_to))


def get_meta(session: Session, name: str) -> str | None:
    return session.scalar(select(META.c.value).where(META.c.name == name))


def set_meta(session: Session, name: str, value: str) -> None:
    bulk.insert_rows(session, META, [{"name": name, "value": value}], conflict=["name"])


def clear_index(session: Session) -> None:
    """Every entry, key and mark, before a full rebuild (the dirty list goes too: the rebuild reads all)."""
    for table in (KEY, BIG, ENTRY, DIRTY):
        session.execute(delete(table))


def entries_for(session: Session, kind: str, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Existing entries of ``kind`` by record id: id, source hash and profile (to find their old keys)."""
    found: dict[str, dict[str, Any]] = {}
    query = select(ENTRY.c.id, ENTRY.c.record_id, ENTRY.c.source_hash, ENTRY.c.profile)
    for part in _chunks(sorted(set(record_ids))):
        for row in session.execute(query.where(ENTRY.c.kind == kind, ENTRY.c.record_id.in_(part))):
            found[row.record_id] = {"id": row.id, "source_hash": row.source_hash, "profile": row.profile}
    return found


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert new entries; their ids, in the order of ``rows``.

    The ids come back with the record each belongs to (``RETURNING``, batched
    by SQLAlchemy on both backends), not by position: asking for parameter
    order makes SQLite insert row by row.
    """
    if not rows:
        return []
    columns = [c for c in ENTRY_COLUMNS if c != "id"]
    statement = ENTRY.insert().returning(ENTRY.c.id, ENTRY.c.kind, ENTRY.c.record_id)
    result = session.execute(statement, [{c: row[c] for c in columns} for row in rows])
    ids = {(kind, record_id): row_id for row_id, kind, record_id in result}
    return [ids[(row["kind"], row["record_id"])] for row in rows]


def update_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    bulk.update_rows(session, ENTRY, [{c: row[c] for c in ENTRY_COLUMNS} for row in rows], key=["id"])


def delete_entries(session: Session, entry_ids: Sequence[int]) -> None:
    for part in _chunks(list(entry_ids)):
        session.execute(delete(ENTRY).where(ENTRY.c.id.in_(part)))


def add_keys(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """(key hash, entry id) pairs; a pair already there is left alone."""
    if pairs:
        rows = [{"key_hash": k, "entry_id": e} for k, e in set(pairs)]
        bulk.insert_rows(session, KEY, rows, conflict=["key_hash", "entry_id"])


def remove_keys(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """Delete (key hash, entry id) pairs, in one executemany."""
    if pairs:
        statement = delete(KEY).where(KEY.c.key_hash == bindparam("k"), KEY.c.entry_id == bindparam("e"))
        session.connection().execute(statement, [{"k": k, "e": e} for k, e in set(pairs)])


def big_blocks(session: Session) -> set[int]:
    return set(session.scalars(select(BIG.c.key_hash)))


def mark_big_blocks(session: Session, max_block: int, candidates: Iterable[int] | None = None) -> set[int]:
    """Record the keys (all, or among ``candidates``) held by more than ``max_block`` entries; returns them."""
    count = func.count().label("n")
    query = select(KEY.c.key_hash, count).group_by(KEY.c.key_hash).having(count > max_block)
    found: set[int] = set()
    if candidates is None:
        found.update(session.scalars(query))
    else:
        for part in _chunks(sorted(set(candidates))):
            found.update(session.scalars(query.where(KEY.c.key_hash.in_(part))))
    known = big_blocks(session)
    bulk.insert_rows(session, BIG, [{"key_hash": k} for k in sorted(found - known)])
    return found


def entries_by_key(session: Session, key_hashes: Iterable[int]) -> dict[int, list[int]]:
    """Key hash -> entry ids holding it."""
    found: dict[int, list[int]] = {}
    for part in _chunks(sorted(set(key_hashes))):
        for key_hash, entry_id in session.execute(select(KEY.c.key_hash, KEY.c.entry_id).where(KEY.c.key_hash.in_(part))):
            found.setdefault(key_hash, []).append(entry_id)
    return found


def load_entries(session: Session, entry_ids: Iterable[int]) -> list[Any]:
    """Entry rows (all columns) by id."""
    rows: list[Any] = []
    columns = [ENTRY.c[c] for c in ENTRY_COLUMNS]
    for part in _chunks(sorted(set(entry_ids))):
        rows.extend(session.execute(select(*columns).where(ENTRY.c.id.in_(part))))
    return rows


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ENTRY)) or 0
