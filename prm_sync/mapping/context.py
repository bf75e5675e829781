"""What a transform may ask the outside world, and how it reports a bad value.

Transforms are pure functions of a value; the only outside knowledge they
need is how ids translate between the PRM and a system (``lookup`` and
``reference``). The engine supplies that through :class:`MappingContext`, a
protocol so that tests can use the dict-backed :class:`DictMappingContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from prm_sync.errors import PrmSyncError


@runtime_checkable
class MappingContext(Protocol):
    """Translates record ids between the PRM and one external system."""

    def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
        """The id ``system`` gave the PRM record ``prm_id`` of ``entity``, if synced."""
        ...

    def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
        """Our id for the ``system`` record ``remote_id`` of ``entity``, if known."""
        ...


@dataclass
class DictMappingContext:
    """An in-memory id map: enough for tests and for YAML mapping tests."""

    ids: dict[tuple[str, str, str], str] = field(
        default_factory=dict
    )  # (entity, system, prm_id) -> remote id

    def add(self, entity: str, system: str, prm_id: str, remote_id: str) -> None:
        self.ids[(entity, system, prm_id)] = remote_id

    def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
        return self.ids.get((entity, system, prm_id))

    def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
        for (ent, sys_, prm_id), rid in self.ids.items():
            if ent == entity and sys_ == system and rid == remote_id:
                return prm_id
        return None


@dataclass(frozen=True, slots=True)
class TransformContext:
    """Handed to every transform call: which system we are mapping for, and the id map."""

    system: str
    ids: MappingContext | None = None


class MappingValueError(PrmSyncError):
    """One record's value could not be mapped (unmapped picklist value, bad date...).

    The engine dead-letters just that record, as it does for a ``RecordError``;
    ``field`` and ``value`` say what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        value: Any = None,
        field: str | None = None,
        entity: str | None = None,
        system: str | None = None,
    ) -> None:
        self.reason = message
        self.value = value
        self.field = field
        self.entity = entity
        self.system = system
        super().__init__(self._text())

    def _text(self) -> str:
        where = ".".join(p for p in (self.system, self.entity, self.field) if p)
        return f"{where}: {self.reason}" if where else self.reason

    def located(self, *, field: str, entity: str, system: str) -> MappingValueError:
        """The same error, told which field of which record it belongs to."""
        return MappingValueError(
            self.reason, value=self.value, field=self.field or field, entity=entity, system=system
        )
