"""Everything a command needs, opened the same way for the CLI, Dagster and tests.

``open_runtime`` validates the configuration and the mappings before any
I/O, then opens (and, for the embedded default, migrates) the store.
Connectors are built on demand so that commands which never talk to a
remote system never need its secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from connectors.base import Connector
from prm_sync.config import AppConfig
from prm_sync.mapping.apply import MappingSet, load_mappings
from prm_sync.store.db import Store, resolve_database_url
from prm_sync.sync.connections import build_connectors
from prm_sync.sync.context import CrashHook
from prm_sync.sync.engine import SyncEngine


def open_store(config: AppConfig, *, auto_upgrade: bool | None = None) -> Store:
    """The configured store, its schema checked before anyone uses it.

    The embedded SQLite file belongs to this installation alone: empty or
    behind the code, it is migrated on open, so the README's first command
    keeps working across releases. A PostgreSQL database is shared, and
    migrating it is an operator's decision (see ``prm_sync.store.migrate``):
    empty or behind, it is refused with the command to run, unless the
    caller passes ``auto_upgrade`` explicitly.
    """
    url = resolve_database_url(config.data_dir)
    if auto_upgrade is None:
        auto_upgrade = make_url(url).get_backend_name() == "sqlite"
    return Store.open(url, auto_upgrade=auto_upgrade)


@dataclass
class Runtime:
    config: AppConfig
    store: Store
    mappings: MappingSet
    _connectors: dict[str, Connector] = field(default_factory=dict)

    def connectors(self, systems: list[str] | None = None) -> dict[str, Connector]:
        wanted = systems or self.config.systems.enabled()
        missing = [s for s in wanted if s not in self._connectors]
        if missing:
            self._connectors.update(build_connectors(self.config, missing))
        return {s: self._connectors[s] for s in wanted}

    def engine(
        self,
        systems: list[str] | None = None,
        *,
        crash_hook: CrashHook | None = None,
        clock: Callable[[], datetime] | None = None,
        with_rules: bool = True,
    ) -> SyncEngine:
        hooks = []
        if with_rules:
            from prm_sync.rules.hooks import apply_rules

            hooks.append(apply_rules)
        return SyncEngine(
            store=self.store,
            config=self.config,
            mappings=self.mappings,
            connectors=self.connectors(systems),
            crash_hook=crash_hook,
            clock=clock or (lambda: datetime.now(UTC)),
            rule_hooks=hooks,
        )

    def close(self) -> None:
        self.store.close()


def open_runtime(config: AppConfig, *, auto_upgrade: bool | None = None) -> Runtime:
    mappings = load_mappings(config.mappings)
    store = open_store(config, auto_upgrade=auto_upgrade)
    return Runtime(config=config, store=store, mappings=mappings)
