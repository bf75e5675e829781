"""The mapping plan: what a push would write, per slice, from ``plan_push`` (the dry-run planner).

Nothing is read from the remote systems and nothing is written: the plan is
computed inside a dry-run ``RunContext`` whose session is rolled back, so it
shows what the current mappings would send for the PRM store as it is now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from prm_sync.model import new_id
from prm_sync.runtime import Runtime
from prm_sync.sync.context import RunContext
from prm_sync.sync.engine import ENTITY_ORDER
from prm_sync.sync.push import plan_push
from prm_sync.sync.slice import Slice

SAMPLES_PER_SLICE = 5
FIELDS_PER_SAMPLE = 6


class SlicePlan(BaseModel):
    system: str
    entity: str
    remote_object: str
    create: int = 0
    update: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: int = 0


class FieldDiff(BaseModel):
    system: str
    entity: str
    record: str
    action: str
    field: str
    before: str | None
    after: str | None


class MappingPlan(BaseModel):
    mapping_version: str
    slices: list[SlicePlan] = Field(default_factory=list)
    samples: list[FieldDiff] = Field(default_factory=list)

    def markdown(self) -> str:
        head = "| system | entity | object | create | update | unchanged | skipped | invalid |\n|---|---|---|---|---|---|---|---|"
        rows = [f"| {s.system} | {s.entity} | {s.remote_object} | {s.create} | {s.update} | {s.unchanged} | {s.skipped} | {s.invalid} |"
                for s in self.slices]
        lines = [f"**Push plan** (mappings `{self.mapping_version}`; dry run, nothing written)", "", head, *rows]
        if self.samples:
            lines += ["", "**Sample field changes**", "", "| system/entity | record | action | field | before | after |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {d.system}/{d.entity} | {d.record} | {d.action} | {d.field} | {_md(d.before)} | {_md(d.after)} |"
                      for d in self.samples]
        return "\n".join(lines)


def _md(value: str | None) -> str:
    return "" if value is None else value.replace("|", "\\|")[:80]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def pushable_slices(runtime: Runtime, systems: list[str]) -> list[Slice]:
    """Push-capable slices of the enabled systems, in the engine's order."""
    found: list[Slice] = []
    for entity in ENTITY_ORDER:
        for system in runtime.mappings.systems_for(entity):
            mapping = runtime.mappings.for_entity(system, entity)
            if system in systems and mapping is not None:
                sl = Slice.of(mapping)
                if sl.can_push:
                    found.append(sl)
    return found


def build_plan(runtime: Runtime, systems: list[str]) -> MappingPlan:
    plan = MappingPlan(mapping_version=runtime.mappings.version)
    ctx = RunContext(store=runtime.store, config=runtime.config, mappings=runtime.mappings, connectors={},
                     run_id=new_id("run"), dry_run=True, clock=lambda: datetime.now(UTC))
    try:
        with ctx.transaction() as session:
            for sl in pushable_slices(runtime, systems):
                push = plan_push(ctx, session, sl)
                counts = push.counts()
                plan.slices.append(SlicePlan(system=sl.system, entity=sl.entity, remote_object=sl.remote_object, **counts))
                for write in push.writes[:SAMPLES_PER_SLICE]:
                    plan.samples.extend(
                        FieldDiff(system=sl.system, entity=sl.entity, record=write.record.id, action=write.action,
                                  field=name, before=_text(write.before.get(name)), after=_text(write.values.get(name)))
                        for name in write.changed[:FIELDS_PER_SAMPLE]
                    )
    finally:
        ctx.close()
    return plan
