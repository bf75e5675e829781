"""``--system``/``--entity``/``--record`` checked against the mappings and the store before a run.

A selection that matches nothing used to exit 0 having done nothing
(``sync -s lms -e partner``, ``mappings plan -s nosuch``, ``--record
ptn_nope``): a scheduler then reports success for a job that never ran.
These checks turn each into one line naming what exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from prm_sync.errors import UsageError
from prm_sync.mapping.apply import MappingSet
from prm_sync.model import ENTITIES
from prm_sync.store import records
from prm_sync.store.db import Store

SYSTEM_NAMES = ("salesforce", "hubspot", "lms", "erp")


def check_names(systems: Sequence[str] | None, entities: Sequence[str] | None) -> None:
    """Every ``--system`` and ``--entity`` is one prm-sync knows (before any file or database is opened)."""
    bad = [s for s in systems or [] if s not in SYSTEM_NAMES] + [e for e in entities or [] if e not in ENTITIES]
    if bad:
        msg = (f"unknown system or entity: {', '.join(bad)} (systems: {', '.join(SYSTEM_NAMES)}; "
               f"entities: {', '.join(ENTITIES)})")
        raise UsageError(msg)


def check_selection(
    mappings: MappingSet, enabled: Sequence[str], systems: Sequence[str] | None, entities: Sequence[str] | None
) -> None:
    """The selection names at least one mapped object of an enabled system."""
    check_names(systems, entities)
    off = [s for s in systems or [] if s not in enabled]
    if off:
        msg = f"system {', '.join(off)} is not enabled in the configuration (enabled: {', '.join(enabled) or 'none'})"
        raise UsageError(msg)
    chosen = [
        (system, entity) for system, entity in mappings.objects
        if system in enabled and (not systems or system in systems) and (not entities or entity in entities)
    ]
    if not chosen:
        where = " and ".join(f"--system {s}" for s in systems or []) or "the enabled systems"
        maps = "; ".join(f"{s} maps {', '.join(mappings.entities_for(s)) or 'nothing'}" for s in systems or enabled)
        msg = f"nothing to do: no mapping of {where} covers {', '.join(entities or [])} ({maps})"
        raise UsageError(msg)


def check_records(store: Store, record_ids: Sequence[str] | None) -> None:
    """Every ``--record`` id is a record in the PRM store."""
    if not record_ids:
        return
    prefixes = {cls.id_prefix: name for name, cls in ENTITIES.items()}
    with store.session(readonly=True) as session:
        missing = [
            rid for rid in record_ids
            if (entity := prefixes.get(rid.split("_", 1)[0])) is None or records.get_record(session, entity, rid) is None
        ]
    if missing:
        msg = f"no PRM record {', '.join(missing)} in the store (ids look like ptn_..., reg_...; see `prm-sync audit`)"
        raise UsageError(msg)
