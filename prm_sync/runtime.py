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

from connectors.base import Connector
from prm_sync.config import AppConfig
from prm_sync.mapping.apply import MappingSet, load_mappings
from prm_sync.store.db import Store
from prm_sync.sync.connections import build_connectors
from prm_sync.sync.context import CrashHook
from prm_sync.sync.engine import SyncEngine


def open_store(config: AppConfig, *, auto_upgrade: bool = True) -> Store:
    """The configured store; an empty database is migrated, an outdated one is refused with the fix."""
    return Store.open(data_dir=config.data_dir, auto_upgrade=auto_upgrade)


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


def open_runtime(config: AppConfig, *, auto_upgrade: bool = True) -> Runtime:
    mappings = load_mappings(config.mappings)
    store = open_store(config, auto_upgrade=auto_upgrade)
    return Runtime(config=config, store=store, mappings=mappings)
