"""Per-run state shared by the pull and push steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from connectors.base import Connector
from prm_sync.config import AppConfig
from prm_sync.mapping.apply import MappingSet
from prm_sync.model import ENTITIES, CanonicalRecord
from prm_sync.store.db import Store
from prm_sync.sync import repo
from prm_sync.sync.identity import KeyIndex
from prm_sync.sync.linkstate import LinkState
from prm_sync.sync.preview import Preview
from prm_sync.sync.values import normalize

CrashHook = Callable[[str], None]


class LinkIndex:
    """Remote ids <-> PRM ids per (entity, system), loaded once per run and kept current.

    It backs the mapping ``lookup`` transform (a registration's partner as
    the partner's Salesforce id) without a query per record.
    """

    def __init__(self) -> None:
        self._by_prm: dict[tuple[str, str], dict[str, str]] = {}
        self._by_remote: dict[tuple[str, str], dict[str, str]] = {}
        self.session: Session | None = None

    def _load(self, entity: str, system: str) -> None:
        key = (entity, system)
        if key in self._by_prm or self.session is None:
            return
        ids = repo.linked_ids(self.session, entity, system)  # ids only: no snapshots decoded
        self._by_prm[key] = ids
        self._by_remote[key] = {remote_id: record_id for record_id, remote_id in ids.items()}

    def remember(self, state: LinkState) -> None:
        self.remember_id(state.entity, state.system, state.record_id, state.remote_id)

    def remember_id(self, entity: str, system: str, record_id: str, remote_id: str | None) -> None:
        key = (entity, system)
        if key not in self._by_prm:
            self._load(entity, system)
        if remote_id and key in self._by_prm:
            self._by_prm[key][record_id] = remote_id
            self._by_remote[key][remote_id] = record_id

    def forget(self, entity: str, system: str, record_id: str) -> None:
        key = (entity, system)
        remote = self._by_prm.get(key, {}).pop(record_id, None)
        if remote is not None:
            self._by_remote.get(key, {}).pop(remote, None)

    # MappingContext protocol
    def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
        self._load(entity, system)
        return self._by_prm.get((entity, system), {}).get(prm_id)

    def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
        self._load(entity, system)
        return self._by_remote.get((entity, system), {}).get(str(remote_id))


@dataclass(slots=True)
class PushRecord:
    """A record as the push plans it, with its normalised values filled in as slices ask for them."""

    record: CanonicalRecord
    version: int | None = None  # the record's row_version when it was read
    normalized: dict[str, Any] = field(default_factory=dict)

    def values(self, fields: list[str]) -> dict[str, Any]:
        known = self.normalized
        for name in fields:
            if name not in known:
                known[name] = normalize(getattr(self.record, name))
        return {name: known[name] for name in fields}


@dataclass
class RunContext:
    store: Store
    config: AppConfig
    mappings: MappingSet
    connectors: dict[str, Connector]
    run_id: str
    dry_run: bool = False
    full: bool = False  # --full: push plans visit every record, not only the changed ones
    sweep_now: frozenset[tuple[str, str]] = frozenset()  # (system, remote object): delete sweep due now (a webhook said so)
    crash_hook: CrashHook | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    links: LinkIndex = field(default_factory=LinkIndex)
    keys: KeyIndex = field(default_factory=KeyIndex)  # natural keys of PRM records, for records without our id
    pulled: dict[str, set[str]] = field(default_factory=dict)  # entity -> PRM ids changed by pulls this run
    # the records of the entity being pushed, shared by its slices (one per system): loaded and
    # normalised once instead of once per system; dropped whenever a pull applies anything
    push_records: tuple[str, dict[str, PushRecord]] | None = None
    on_progress: Callable[[int, int | None], None] | None = None  # set by the engine for the step running
    preview: Preview | None = None  # a dry run's per-record changes (``prm_sync.sync.preview``)
    fence: Callable[[Session, list[str] | None], None] | None = None  # ``LockSet.fence`` of a run that writes
    guard: Callable[[], None] | None = None  # ``LockSet.check``: called before each write to a remote system
    _dry_session: Session | None = None
    _dry_stack: ExitStack | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        """Records handled so far in the current step (and how many it will handle, when known)."""
        if self.on_progress is not None:
            self.on_progress(done, total)

    def before_remote_write(self) -> None:
        """Stop (``LockLost``) before writing to a CRM if another run took this run's locks over."""
        if self.guard is not None:
            self.guard()

    def checkpoint(self, name: str) -> None:
        """Crash-injection point for the reliability tests; a no-op in production."""
        if self.crash_hook is not None:
            self.crash_hook(name)

    @contextmanager
    def transaction(self, *, every_entity: bool = False) -> Iterator[Session]:
        """One committed unit of work; in a dry run everything shares one session that is rolled back.

        It starts with the run's fence (its locks still its own, its turn on
        the entities it writes; ``every_entity`` for steps that write across
        slices, the channel rules).
        """
        if self.dry_run:
            if self._dry_session is None:
                self._dry_stack = ExitStack()
                self._dry_session = self._dry_stack.enter_context(self.store.session(readonly=True))
            self.links.session = self._dry_session
            yield self._dry_session
            self._dry_session.flush()
            return
        with self.store.session() as session:
            if self.fence is not None:  # stops here if another run took this run's locks over
                self.fence(session, list(ENTITIES) if every_entity else None)
            self.links.session = session
            try:
                yield session
            finally:
                # a closed session would silently begin a new (write) transaction on the next lookup
                # and hold SQLite's write lock for the rest of the run
                self.links.session = None

    def close(self) -> None:
        if self._dry_stack is not None:
            self._dry_stack.close()  # a readonly session rolls back: a dry run leaves no trace
            self._dry_stack = None
            self._dry_session = None
