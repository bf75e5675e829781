"""Run locks: two runs on the same slice never overlap, on SQLite or PostgreSQL.

A lock is a row keyed by scope; the sync takes one per (system, entity)
slice it touches (``slice_scope``), so a Salesforce push and a HubSpot push
run at the same time in separate processes while two runs of the same slice
never do. Taking a lock is an INSERT in its own short transaction, so the
primary key decides the race on both backends. The row names its holder's
host and pid: a lock whose holder is gone (its process no longer exists on
this host) or stopped heart-beating (``stale_after``) is taken over by one
conditional UPDATE that only one contender can win (PostgreSQL re-checks the
condition after the row lock, SQLite has a single writer), and the takeover
is written to the audit log. Every time a lock is stamped with or judged
against is the database's clock (``database_now``), not the host's: hosts
whose clocks disagree by more than ``stale_after`` would otherwise take a
live holder's lock over, or never take a dead one's. The lock lives outside the sync's batch
transactions on purpose: it must be visible to other processes at once and
must survive a batch rollback. ``LockSet.fence`` is the other half: every
batch transaction of a run re-reads its locks (``FOR SHARE`` on PostgreSQL),
so a run whose lock was taken over stops before its next commit instead of
writing beside its successor.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from prm_sync.errors import LockLost, RunInProgress
from prm_sync.store.audit import AuditEntry, append_audit
from prm_sync.store.db import Store
from prm_sync.store.orm import RunLockRow
from prm_sync.store.runs import abandon_runs, running_run_ids

LEGACY_SCOPE = "sync"
"""The one lock per store of releases before slice locks (migration 0010): it stands for every slice."""
DEFAULT_STALE_AFTER = timedelta(minutes=15)
SHORTEST_STALE_AFTER = timedelta(seconds=60)  # ``sync.lock_stale_after_seconds`` accepts no less
HEARTBEAT_MAX_INTERVAL = SHORTEST_STALE_AFTER / 4
"""Beats come at least this often whatever the holder's own ``stale_after``: a contender judges a lock by its
own configuration, and one configured with the shortest allowed value must still see four beats per window."""


def database_now(session: Session) -> datetime:
    """The database server's clock (UTC): the one clock every process on every host stamps and judges locks by.

    PostgreSQL's ``clock_timestamp()`` (the time of the call, not of the
    transaction's start); SQLite's ``'now'``, read by SQLite from the clock of
    the host the file lives on.
    """
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.clock_timestamp())).astimezone(UTC)
    stamp = session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def store_now(store: Store) -> datetime:
    with store.session(readonly=True) as session:
        return database_now(session)


def slice_scope(system: str, entity: str) -> str:
    """The lock of one (system, entity) slice: ``salesforce/partner``."""
    return f"{system}/{entity}"


def _process_table() -> str:
    """A token of the process table this process's pid belongs to: its machine's boot and its pid namespace.

    Empty where there is no ``/proc`` to tell (then the host name alone names it, as before).
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:12]


def this_host() -> str:
    """Where this process runs, as a lock names it: ``hostname/token`` (``_process_table``).

    A pid means something only in its own pid namespace of one boot of one
    machine. Containers that share the host's name (host networking) each
    have their own pids, and so do two machines given one name: judged by
    the host name alone, a live holder whose pid number is free here looked
    killed and its lock was taken over while it still wrote. A lock whose
    ``host`` is not exactly this one (another table, or a bare host name
    written by an older release) is judged by its heartbeat only.
    """
    token = _process_table()
    name = socket.gethostname()[:240]
    return f"{name}/{token}" if token else name


def host_name(host: str | None) -> str | None:
    """The host name part of a lock's ``host``, for people."""
    return None if host is None else host.split("/", 1)[0]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the run, and the process it runs in (for dead-holder detection)."""

    run_id: str
    host: str = field(default_factory=this_host)
    pid: int = field(default_factory=os.getpid)


class RunLock(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scope: str
    run_id: str
    acquired_at: datetime
    heartbeat_at: datetime
    host: str | None = None
    pid: int | None = None

    def describe(self) -> str:
        where = f" on {host_name(self.host)} pid {self.pid}" if self.host else ""
        return f"run {self.run_id}{where}, last heartbeat {self.heartbeat_at.isoformat()}"


def process_gone(host: str | None, pid: int | None) -> bool:
    """True when ``pid`` on this host no longer runs (or is a zombie nobody reaped yet).

    A lock held from another host, or from another process table of this
    one (``this_host``), is never judged this way: only its heartbeat can expire.
    """
    if not host or pid is None or host != this_host():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user's process
    try:  # a killed child its parent has not waited for yet still answers kill(0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def why_dead(lock: RunLock, stale_after: timedelta, now: datetime) -> str | None:
    """Why ``lock``'s holder counts as dead (a reason for the audit), or None while it may be alive."""
    if process_gone(lock.host, lock.pid):
        return f"its process {lock.pid} on {host_name(lock.host)} is gone"
    if lock.heartbeat_at < now - stale_after:
        return f"its last heartbeat ({lock.heartbeat_at.isoformat()}) is older than {stale_after}"
    return None


def _take(
    store: Store, scope: str, holder: Holder, stale_after: timedelta, now: datetime
) -> tuple[bool, RunLock | None, str | None]:
    """(won, the dead holder it replaced, why it counted as dead)."""
    # a lock released between our failed insert and our update is simply free again: try once more
    for _attempt in range(3):
        try:
            with store.session() as session:
                session.add(RunLockRow(scope=scope, run_id=holder.run_id, acquired_at=now, heartbeat_at=now,
                                       host=holder.host, pid=holder.pid))
                session.flush()
            return True, None, None
        except IntegrityError:
            pass
        with store.session() as session:
            current = get_lock(session, scope)
            if current is None:
                continue
            if current.run_id == holder.run_id:
                reason = None
            else:
                reason = why_dead(current, stale_after, now)
                if reason is None:
                    return False, None, None
            # compare-and-swap on what we judged: of several contenders only one moves the row
            takeover = (
                update(RunLockRow)
                .where(RunLockRow.scope == scope, RunLockRow.run_id == current.run_id,
                       RunLockRow.heartbeat_at == current.heartbeat_at)
                .values(run_id=holder.run_id, acquired_at=now, heartbeat_at=now, host=holder.host, pid=holder.pid)
                .execution_options(synchronize_session=False)
            )
            if session.execute(takeover).rowcount == 1:
                return True, (current if reason else None), reason
            if session.get(RunLockRow, scope) is not None:
                return False, None, None
    return False, None, None


def acquire_lock(
    store: Store,
    scope: str,
    run_id: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    *,
    now: datetime | None = None,
    holder: Holder | None = None,
) -> bool:
    """Take the scope's lock; False if another run holds it and is still alive.

    Succeeds if the scope is free, if the holder is dead (its process gone
    from this host, or its heartbeat older than ``stale_after``), or if
    ``run_id`` already holds it. A takeover is audited and the dead run's
    row marked ``abandoned``.
    """
    now = now or store_now(store)
    holder = holder or Holder(run_id)
    won, dead, reason = _take(store, scope, holder, stale_after, now)
    if dead is not None:
        _record_takeover(store, [(dead, reason or "")], by=holder.run_id, actor="prm-sync", now=now)
    return won


def _record_takeover(
    store: Store, taken: Sequence[tuple[RunLock, str]], *, by: str | None, actor: str, now: datetime
) -> None:
    """One audit entry per lock taken from a dead holder (or freed by an operator); its runs become abandoned."""
    entries = [
        AuditEntry(
            at=now, run_id=by, actor=actor, action="lock.takeover" if by else "lock.unlock",
            reason=f"lock {lock.scope!r} of run {lock.run_id} " + (f"taken over: {why}" if by else f"released: {why}"),
            fields_before=lock.model_dump(mode="json"),
        )
        for lock, why in taken
    ]
    with store.session() as session:
        append_audit(session, entries)
        runs_done = {lock.run_id for lock, _ in taken}
        abandon_runs(session, runs_done, reason="; ".join(sorted({why for _, why in taken})), now=now)


def heartbeat(store: Store, scope: str, run_id: str, *, now: datetime | None = None) -> bool:
    """Prove the holder is alive; False means the lock was lost (taken over) and the run must stop."""
    return heartbeat_many(store, [scope], run_id, now=now)


def heartbeat_many(store: Store, scopes: Sequence[str], run_id: str, *, now: datetime | None = None) -> bool:
    """Renew every lock of a run in one statement; False if any of them is no longer its own."""
    with store.session() as session:
        query = (
            update(RunLockRow)
            .where(RunLockRow.scope.in_(list(scopes)), RunLockRow.run_id == run_id)
            .values(heartbeat_at=now or database_now(session))
            .execution_options(synchronize_session=False)
        )
        return session.execute(query).rowcount == len(set(scopes))


def release_lock(store: Store, scope: str, run_id: str) -> bool:
    """Give the lock back; only its holder can, so a run that lost it cannot free its successor's."""
    with store.session() as session:
        query = delete(RunLockRow).where(RunLockRow.scope == scope, RunLockRow.run_id == run_id)
        return session.execute(query).rowcount == 1


def release_locks(store: Store, scopes: Sequence[str], run_id: str) -> int:
    if not scopes:
        return 0
    with store.session() as session:
        query = delete(RunLockRow).where(RunLockRow.scope.in_(list(scopes)), RunLockRow.run_id == run_id)
        return session.execute(query).rowcount


def get_lock(session: Session, scope: str) -> RunLock | None:
    row = session.get(RunLockRow, scope)
    return None if row is None else RunLock.model_validate(row)


def list_locks(session: Session) -> list[RunLock]:
    return [
        RunLock.model_validate(row) for row in session.scalars(select(RunLockRow).order_by(RunLockRow.scope))
    ]


def live_holders(session: Session, scopes: Sequence[str], stale_after: timedelta,
                 *, now: datetime | None = None) -> list[RunLock]:
    """The locks among ``scopes`` whose holder may still be running."""
    now = now or database_now(session)
    rows = session.scalars(select(RunLockRow).where(RunLockRow.scope.in_(list(scopes))).order_by(RunLockRow.scope))
    found = [RunLock.model_validate(row) for row in rows]
    return [lock for lock in found if why_dead(lock, stale_after, now) is None]


def unlock(
    store: Store, scope: str | None = None, *, actor: str, stale_after: timedelta = DEFAULT_STALE_AFTER,
    force: bool = False, now: datetime | None = None,
) -> tuple[list[RunLock], list[RunLock]]:
    """An operator frees ``scope``'s lock (every lock when None): (freed, kept because the holder looks alive).

    A holder judged dead (process gone from this host, heartbeat expired)
    is freed at once; one that may be alive only with ``force``, after the
    operator made sure it is gone (a host that died with its heartbeat not
    yet expired). Each freed lock is audited with ``actor`` and its run,
    if still ``running``, becomes ``abandoned``.
    """
    now = now or store_now(store)
    with store.session(readonly=True) as session:
        query = select(RunLockRow).order_by(RunLockRow.scope)
        if scope is not None:
            query = query.where(RunLockRow.scope == scope)
        held = [RunLock.model_validate(row) for row in session.scalars(query)]
    freed: list[tuple[RunLock, str]] = []
    kept: list[RunLock] = []
    for lock in held:
        why = why_dead(lock, stale_after, now)
        if why is None and not force:
            kept.append(lock)
            continue
        with store.session() as session:  # only the holder we judged: a new holder keeps its lock
            gone = session.execute(delete(RunLockRow).where(
                RunLockRow.scope == lock.scope, RunLockRow.run_id == lock.run_id,
                RunLockRow.heartbeat_at == lock.heartbeat_at)).rowcount
        if gone:
            freed.append((lock, f"by {actor}" + (f" ({why})" if why else " (forced: holder presumed alive)")))
    if freed:
        _record_takeover(store, freed, by=None, actor=actor, now=now)
    return [lock for lock, _ in freed], kept


def abandon_dead_runs(store: Store, stale_after: timedelta, *, now: datetime | None = None) -> int:
    """Runs still ``running`` that hold no live lock died mid-run: mark them ``abandoned``.

    A run takes its locks before its row is written and finishes its row
    before it lets them go, so a running row without a live lock has no
    process behind it (killed, or its host lost).
    """
    with store.session() as session:
        now = now or database_now(session)
        running = running_run_ids(session)
        if not running:
            return 0
        alive = {lock.run_id for lock in list_locks(session) if why_dead(lock, stale_after, now) is None}
        dead = set(running) - alive
        return abandon_runs(session, dead, reason="its process ended without finishing the run", now=now)


def heartbeat_interval(stale_after: timedelta) -> float:
    """Seconds between heartbeats: four chances before a lock looks stale to any process (``HEARTBEAT_MAX_INTERVAL``)."""
    return max(0.5, min(stale_after / 4, HEARTBEAT_MAX_INTERVAL).total_seconds())


class LockSet:
    """The locks one run holds, renewed by a background thread while the run lasts.

    ``fence(session)`` is called at the start of each of the run's write
    transactions: it takes the transaction's turn on the run's entities
    (``serialize``), then raises ``LockLost`` when another run took one of the
    locks over (this one was presumed dead), and on PostgreSQL holds a share
    lock on the rows until that transaction commits, so no takeover can
    slip in between the check and the commit.
    """

    def __init__(self, store: Store, scopes: list[str], holder: Holder, stale_after: timedelta) -> None:
        self.store = store
        self.scopes = scopes
        self.holder = holder
        self.stale_after = stale_after
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def run_id(self) -> str:
        return self.holder.run_id

    @property
    def entities(self) -> list[str]:
        return [scope.rsplit("/", 1)[-1] for scope in self.scopes]

    def fence(self, session: Session, entities: Iterable[str] | None = None) -> None:
        """Check the locks are still this run's, then wait for the turn to write ``entities`` (its own by default)."""
        serialize(session, self.entities if entities is None else entities)
        self._verify(session, share=True)

    def check(self) -> None:
        """Raise ``LockLost`` unless every lock is still this run's: read just before a remote write.

        The fence guards commits; a write to a CRM happens before its commit
        (and, pipelined, before the previous batch's commit), so without this
        a run taken over would send one more batch beside its successor.
        """
        with self.store.session(readonly=True) as session:
            self._verify(session, share=False)

    def _verify(self, session: Session, *, share: bool) -> None:
        """Raise ``LockLost`` unless every lock is still this run's (``share``: held so until the commit)."""
        if self.lost.is_set():
            self._raise_lost()
        query = select(RunLockRow.scope).where(RunLockRow.scope.in_(self.scopes), RunLockRow.run_id == self.run_id)
        if share:
            query = query.with_for_update(read=True)
        if len(session.scalars(query).all()) != len(self.scopes):
            self.lost.set()
            self._raise_lost()

    def _raise_lost(self) -> None:
        msg = (f"run {self.run_id} lost its lock on {', '.join(self.scopes)} to another run (it was presumed dead); "
               "it stopped before writing more")
        raise LockLost(msg)

    def start_heartbeat(self) -> None:
        """Renew the locks every ``heartbeat_interval`` until ``close``; a lost lock sets ``lost``.

        Not for an in-memory SQLite store: its one shared connection cannot
        take a second thread, and no other process can see its locks anyway.
        """
        database = self.store.engine.url.database
        if self.store.backend == "sqlite" and (not database or database == ":memory:"):
            return
        self._thread = threading.Thread(target=self._beat, name=f"prm-sync-heartbeat-{self.run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = heartbeat_interval(self.stale_after)
        while not self._stop.wait(interval):
            try:
                alive = heartbeat_many(self.store, self.scopes, self.run_id)
            except SQLAlchemyError:  # a busy or unreachable database: the next beat tries again, the fence decides
                continue
            if not alive:
                self.lost.set()
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        release_locks(self.store, self.scopes, self.run_id)


def _clear_legacy(store: Store, stale_after: timedelta, now: datetime) -> tuple[RunLock, str] | None:
    """A ``sync`` lock of the previous release: refuse while its run may live, remove it once dead.

    That release renewed no heartbeat, so its row says only when its run
    began: it counts as alive for ``stale_after`` from then, as it did
    there. Removed by a compare-and-delete on what was judged, like a takeover.
    """
    with store.session() as session:
        legacy = get_lock(session, LEGACY_SCOPE)
        if legacy is None:
            return None
        reason = why_dead(legacy, stale_after, now)
        if reason is None:
            msg = (f"the store is locked by a sync of an earlier prm-sync release ({legacy.describe()}), which locked "
                   f"every slice; it is taken over once its heartbeat is older than {stale_after} "
                   f"(`prm-sync db unlock {LEGACY_SCOPE}` frees it by hand)")
            raise RunInProgress(msg)
        gone = session.execute(delete(RunLockRow).where(
            RunLockRow.scope == LEGACY_SCOPE, RunLockRow.run_id == legacy.run_id,
            RunLockRow.heartbeat_at == legacy.heartbeat_at)).rowcount
    return (legacy, reason) if gone else None


def take_locks(
    store: Store, scopes: Sequence[str], run_id: str, stale_after: timedelta = DEFAULT_STALE_AFTER,
    *, now: datetime | None = None, heartbeat: bool = True,
) -> LockSet:
    """All of ``scopes`` for ``run_id``, in the order given, or none: ``RunInProgress`` names the live holder.

    Callers pass the scopes in dependency order (``SyncEngine.lock_scopes``),
    so every run asks for shared slices in the same order. Takeovers of dead
    holders are audited and their runs marked ``abandoned``.
    """
    now = now or store_now(store)
    holder = Holder(run_id)
    taken: list[str] = []
    dead: list[tuple[RunLock, str]] = []
    try:
        legacy = _clear_legacy(store, stale_after, now)
        if legacy is not None:
            dead.append(legacy)
        for scope in dict.fromkeys(scopes):
            won, previous, reason = _take(store, scope, holder, stale_after, now)
            if not won:
                with store.session(readonly=True) as session:
                    current = get_lock(session, scope)
                who = current.describe() if current else "another run"
                msg = (f"slice {scope!r} is locked by {who}; it is taken over once that process is gone from its "
                       f"host or its heartbeat is older than {stale_after} (`prm-sync db unlock {scope}` frees it "
                       "by hand)")
                raise RunInProgress(msg)
            taken.append(scope)
            if previous is not None:
                dead.append((previous, reason or ""))
        if dead:
            _record_takeover(store, dead, by=run_id, actor="prm-sync", now=now)
        abandon_dead_runs(store, stale_after, now=now)
        held = LockSet(store, taken, holder, stale_after)
        if heartbeat:
            held.start_heartbeat()
    except BaseException:
        # a refusal, a database error or an interrupt: nothing stays held by a process that may live on
        # (a Dagster worker, the webhook server) without a heartbeat, refusing every run until it looks stale
        release_locks(store, taken, run_id)
        raise
    return held


@contextmanager
def hold_lock(
    store: Store, scope: str, run_id: str, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> Iterator[LockSet]:
    """Hold the scope's lock for the block, or raise ``RunInProgress`` naming the holder."""
    with hold_locks(store, [scope], run_id, stale_after) as held:
        yield held


@contextmanager
def hold_locks(
    store: Store, scopes: Sequence[str], run_id: str, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> Iterator[LockSet]:
    held = take_locks(store, scopes, run_id, stale_after)
    try:
        yield held
    finally:
        held.close()


def serialize(session: Session, entities: Iterable[str]) -> None:
    """Let one transaction at a time write these entities' rows, until it commits.

    Slices run in parallel, but the commits of two slices of one entity (a
    Salesforce and a HubSpot pull of the same partner, their pushes adding
    external ids) take turns, so neither overwrites the other's row nor
    deadlocks with it. PostgreSQL: transaction-scoped advisory locks, taken
    in one global order (sorted names) so two transactions never wait on each
    other in a circle, and released by the commit or by the connection dying
    with a killed process. SQLite: every write transaction already starts with
    ``BEGIN IMMEDIATE``, so writers are one at a time anyway.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for entity in sorted(set(entities)):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"prm_sync:entity:{entity}"))))


@contextmanager
def exclusive(store: Store, name: str) -> Iterator[None]:
    """One process at a time inside the block, whichever host it runs on: a short read-modify-write elsewhere.

    For state kept outside the store that several processes update (the
    Dagster run's tags, written by every step of a multiprocess run).
    PostgreSQL: a transaction-scoped advisory lock on ``name``; SQLite: the
    store's one write transaction (``BEGIN IMMEDIATE``). Keep the block short:
    on SQLite it holds every other writer back.
    """
    with store.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"prm_sync:{name}"))))
        else:
            session.execute(select(1))  # begins the IMMEDIATE transaction: the write lock is ours
        yield
