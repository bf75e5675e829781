"""The conflict check's account index, kept in the store between runs and caught up incrementally.

Profiling a million accounts takes minutes, and used to happen on every run
that checked a registration. Now each candidate (an active registration, an
open direct opportunity, a customer) is profiled once into
``conflict_index_entry`` with its hashed blocking keys; a check reads only
the entries sharing a key with the registration. Before a check,
``refresh_index`` profiles again only what the dirty list names (every save
of a registration, opportunity or end customer lands there, from a pull or
anywhere else). A different index format or public-mail list (the
``fingerprint``) rebuilds it from scratch.

Time is not part of an entry: a registration's expiry is checked when it is
read, so an approval that lapses needs no write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.rules.candidates import EXACT_KEYS, MAX_ACRONYM_BLOCK, Candidate, CandidateKind, blocking_keys
from prm_sync.rules.normalize import CustomerProfile, profile
from prm_sync.rules.sources import ACTIVE_STATUSES, customer_profile, is_active, registration_profile
from prm_sync.store import conflict_index as store
from prm_sync.store.orm import DealRegistrationRow, EndCustomerRow, OpportunityRow
from prm_sync.store.records import chunks

INDEX_VERSION = "2"  # bump when profiles, blocking keys or entries change shape: the next check rebuilds
MAX_BLOCK = 2000  # a name key shared by more entries says nothing ("global"): checks skip it
BATCH = 2000


def fingerprint(rules: ConflictRules) -> str:
    """What the stored profiles depend on besides the records themselves."""
    basis = INDEX_VERSION + "|" + ",".join(sorted(d.lower() for d in rules.public_mail_domains))
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def pack(p: CustomerProfile) -> list[Any]:
    return [p.name, p.norm, list(p.tokens), p.acronym, p.short_form, p.domain, p.country, p.city, p.phone, p.street,
            p.phone_e164, p.street_number, list(p.street_name)]


def unpack(v: Sequence[Any]) -> CustomerProfile:
    return CustomerProfile(v[0], v[1], tuple(v[2]), v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], tuple(v[12]))


def _hash(values: Sequence[Any]) -> str:
    return hashlib.blake2b(orjson.dumps(values, default=str), digest_size=16).hexdigest()


@dataclass
class _Source:
    """One candidate as read from its tables, before profiling (``make`` profiles it)."""

    kind: CandidateKind
    record_id: str
    source_hash: str
    make: Any  # () -> CustomerProfile
    label: str
    partner_id: str | None = None
    product_lines: list[str] = field(default_factory=list)
    submitted_at: datetime | None = None
    status: str | None = None
    expires_at: datetime | None = None


def _registrations(session: Session, rules: ConflictRules, ids: Iterable[str] | None) -> Iterator[_Source]:
    query = select(*DealRegistrationRow.__table__.c).where(DealRegistrationRow.status.in_([s.value for s in ACTIVE_STATUSES]))
    for rows in _rows(session, query, DealRegistrationRow.id, ids):
        for row in rows:
            inputs = [row.customer_name, row.customer_domain, row.contact_email, row.customer_country, row.customer_city,
                      row.customer_phone, row.partner_id, row.product_lines, row.submitted_at, row.status, row.expires_at]
            yield _Source(CandidateKind.registration, row.id, _hash(inputs), _bind(registration_profile, row, rules),
                          row.customer_name, row.partner_id, list(row.product_lines or ()), row.submitted_at,
                          row.status, row.expires_at)


def _customer_inputs(row: EndCustomerRow) -> list[Any]:
    return [row.name, row.domain, row.website, row.country, row.city, row.phone, row.street]


def _opportunities(session: Session, rules: ConflictRules, ids: Iterable[str] | None) -> Iterator[_Source]:
    """Open direct opportunities, profiled by their end customer (or their own name without one)."""
    query = select(*OpportunityRow.__table__.c).where(OpportunityRow.is_closed.is_(False), OpportunityRow.is_direct.is_(True))
    for rows in _rows(session, query, OpportunityRow.id, ids):
        customers = _by_id(session, EndCustomerRow, [r.end_customer_id for r in rows if r.end_customer_id])
        for row in rows:
            customer = customers.get(row.end_customer_id or "")
            if customer is not None:
                inputs, make, label = _customer_inputs(customer), _bind(customer_profile, customer, rules), customer.name
            else:
                inputs, label = [row.name], row.name
                make = _bind(lambda name, r: profile(name, public_domains=r.public_mail_domains), row.name, rules)
            yield _Source(CandidateKind.opportunity, row.id, _hash(inputs), make, label)


def _customers(session: Session, rules: ConflictRules, ids: Iterable[str] | None) -> Iterator[_Source]:
    """Customers flagged ``is_customer`` or with a closed-won opportunity."""
    won = select(OpportunityRow.end_customer_id).where(OpportunityRow.is_won.is_(True), OpportunityRow.end_customer_id.is_not(None))
    query = select(*EndCustomerRow.__table__.c).where(or_(EndCustomerRow.is_customer.is_(True), EndCustomerRow.id.in_(won)))
    for rows in _rows(session, query, EndCustomerRow.id, ids):
        for row in rows:
            yield _Source(CandidateKind.customer, row.id, _hash(_customer_inputs(row)), _bind(customer_profile, row, rules),
                          row.name)


def _bind(fn: Any, row: Any, rules: ConflictRules) -> Any:
    return lambda: fn(row, rules)


def _rows(session: Session, query: Any, id_column: Any, ids: Iterable[str] | None) -> Iterator[list[Any]]:
    """Rows of ``query`` (plain Core rows: ORM instances cost more than profiling them) in lists of
    ``BATCH``: all of them, or those with the given ids."""
    if ids is None:
        result = session.execute(query.order_by(id_column).execution_options(yield_per=BATCH))
        for part in result.partitions(BATCH):
            yield list(part)
        return
    for part in chunks(sorted(set(ids))):
        yield list(session.execute(query.where(id_column.in_(part))))


def _by_id(session: Session, cls: Any, ids: Iterable[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in chunks(sorted(set(ids))):
        found.update((row.id, row) for row in session.execute(select(*cls.__table__.c).where(cls.id.in_(part))))
    return found


def _entry(source: _Source, prof: CustomerProfile) -> dict[str, Any]:
    return {"kind": source.kind.value, "record_id": source.record_id, "source_hash": source.source_hash,
            "partner_id": source.partner_id, "product_lines": source.product_lines, "submitted_at": source.submitted_at,
            "status": source.status, "expires_at": source.expires_at, "label": source.label[:2000], "profile": pack(prof)}


def _keys(prof: CustomerProfile) -> set[int]:
    return {key_hash(k) for k in blocking_keys(prof)}


@dataclass
class RefreshStats:
    rebuilt: bool = False
    examined: int = 0  # candidate records read from their tables
    profiled: int = 0  # of those, new or changed: profiled and written
    removed: int = 0  # entries whose record is gone or no longer a candidate

    def __str__(self) -> str:
        how = "rebuilt" if self.rebuilt else "caught up"
        return f"account index {how}: {self.examined} records read, {self.profiled} profiled, {self.removed} removed"


def _apply(session: Session, kind: CandidateKind, wanted: set[str] | None, found: Iterable[_Source],
           stats: RefreshStats, new_keys: set[int]) -> None:
    """Write the entries of ``found`` (and remove those of ``wanted`` that are no longer candidates)."""
    sources = list(found)
    stats.examined += len(sources)
    ids = {s.record_id for s in sources} | (wanted or set())
    existing = store.entries_for(session, kind.value, ids) if wanted is not None else {}
    inserts: list[tuple[dict[str, Any], set[int]]] = []
    updates: list[dict[str, Any]] = []
    add: list[tuple[int, int]] = []
    drop: list[tuple[int, int]] = []
    for source in sources:
        old = existing.pop(source.record_id, None)
        if old is not None and old["source_hash"] == source.source_hash:
            continue
        prof = source.make()
        keys = _keys(prof)
        entry = _entry(source, prof)
        stats.profiled += 1
        if old is None:
            inserts.append((entry, keys))
            continue
        entry["id"] = old["id"]
        updates.append(entry)
        before = _keys(unpack(old["profile"]))
        drop.extend((k, old["id"]) for k in before - keys)
        add.extend((k, old["id"]) for k in keys - before)
    gone = [old["id"] for old in existing.values()]  # wanted, but no longer a candidate (or deleted)
    for old in existing.values():
        drop.extend((k, old["id"]) for k in _keys(unpack(old["profile"])))
    stats.removed += len(gone)
    store.remove_keys(session, drop)
    store.delete_entries(session, gone)
    store.update_entries(session, updates)
    ids_new = store.insert_entries(session, [e for e, _ in inserts])
    add.extend((k, entry_id) for (_, keys), entry_id in zip(inserts, ids_new, strict=True) for k in keys)
    store.add_keys(session, add)
    new_keys.update(k for k, _ in add)


LOADERS = ((CandidateKind.registration, _registrations), (CandidateKind.opportunity, _opportunities),
           (CandidateKind.customer, _customers))


def refresh_index(session: Session, rules: ConflictRules) -> RefreshStats:
    """Bring the stored index up to date with the store: from scratch when its fingerprint differs,
    otherwise only for the records saved since (and the opportunities and customers they touch)."""
    stats = RefreshStats()
    wanted_fp = fingerprint(rules)
    if store.get_meta(session, "fingerprint") != wanted_fp:
        store.clear_index(session)
        for kind, loader in LOADERS:
            _write_all(session, kind, loader(session, rules, None), stats)
        store.mark_big_blocks(session, MAX_BLOCK)
        store.set_meta(session, "fingerprint", wanted_fp)
        stats.rebuilt = True
        return stats
    high, dirty = store.dirty_records(session)
    if not dirty:
        return stats
    regs = dirty.get("deal_registration", set())
    opps = set(dirty.get("opportunity", set()))
    customers = set(dirty.get("end_customer", set()))
    # a customer's profile is its open deals' profile too; a deal won makes its customer a candidate
    for part in chunks(sorted(customers)):
        opps.update(session.scalars(select(OpportunityRow.id).where(OpportunityRow.end_customer_id.in_(part))))
    for part in chunks(sorted(dirty.get("opportunity", set()))):
        customers.update(c for c in session.scalars(select(OpportunityRow.end_customer_id).where(OpportunityRow.id.in_(part))) if c)
    new_keys: set[int] = set()
    for kind, loader, ids in ((CandidateKind.registration, _registrations, regs),
                              (CandidateKind.opportunity, _opportunities, opps),
                              (CandidateKind.customer, _customers, customers)):
        for part in chunks(sorted(ids), BATCH):
            _apply(session, kind, set(part), loader(session, rules, part), stats, new_keys)
    store.mark_big_blocks(session, MAX_BLOCK, new_keys - store.big_blocks(session))
    store.clear_dirty(session, high)
    return stats


def _write_all(session: Session, kind: CandidateKind, sources: Iterator[_Source], stats: RefreshStats) -> None:
    batch: list[_Source] = []
    for source in sources:
        batch.append(source)
        if len(batch) == BATCH:
            _apply(session, kind, None, batch, stats, set())
            batch = []
    if batch:
        _apply(session, kind, None, batch, stats, set())


class StoreIndex:
    """Candidates read from the stored index: ``lookup`` for one profile, ``lookup_many`` for a batch.

    ``now`` decides which approved registrations are still protected.
    Entries read once are kept for the life of the object (one check run).
    """

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self._big = store.big_blocks(session)
        self._entries: dict[int, Candidate | None] = {}
        self._found: dict[CustomerProfile, list[Candidate]] = {}
        self._acronym_keys: set[int] = set()  # query keys of initials: read only when their block is small

    def prefetch(self, queries: Sequence[CustomerProfile]) -> None:
        """Read the candidates of many profiles now, in batches; ``lookup`` then answers from memory."""
        for start in range(0, len(queries), BATCH):
            part = list(dict.fromkeys(queries[start : start + BATCH]))
            self._found.update(zip(part, self._read(part), strict=True))

    def _query_keys(self, prof: CustomerProfile) -> set[int]:
        keys = set()
        for key in blocking_keys(prof, as_query=True):
            hashed = key_hash(key)
            if key[:2] == "x:":
                self._acronym_keys.add(hashed)
            if key[:2] in EXACT_KEYS or hashed not in self._big:
                keys.add(hashed)
        return keys

    def lookup(self, query: CustomerProfile) -> list[Candidate]:
        return self.lookup_many([query])[0]

    def lookup_many(self, queries: Sequence[CustomerProfile]) -> list[list[Candidate]]:
        missing = [q for q in dict.fromkeys(queries) if q not in self._found]
        if missing:
            self.prefetch(missing)
        return [list(self._found[q]) for q in queries]

    def _read(self, queries: Sequence[CustomerProfile]) -> list[list[Candidate]]:
        wanted = [self._query_keys(q) for q in queries]
        by_key = store.entries_by_key(self.session, set().union(*wanted)) if wanted else {}
        for hashed in self._acronym_keys & by_key.keys():
            if len(by_key[hashed]) > MAX_ACRONYM_BLOCK:
                del by_key[hashed]
        needed = {e for keys in wanted for k in keys for e in by_key.get(k, ())} - self._entries.keys()
        for row in store.load_entries(self.session, needed):
            self._entries[row.id] = self._candidate(row)
        out = []
        for keys in wanted:
            ids = sorted({e for k in keys for e in by_key.get(k, ())})
            out.append([c for i in ids if (c := self._entries.get(i)) is not None])
        return out

    def _candidate(self, row: Any) -> Candidate | None:
        kind = CandidateKind(row.kind)
        if kind is CandidateKind.registration and not is_active(row.status, row.expires_at, self.now):
            return None
        return Candidate(kind=kind, record_id=row.record_id, profile=unpack(row.profile), partner_id=row.partner_id,
                         product_lines=frozenset(row.product_lines or ()), submitted_at=row.submitted_at, label=row.label)


def indexed_count(session: Session) -> int:
    return store.count_entries(session)
