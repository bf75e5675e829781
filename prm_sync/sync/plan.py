"""``prm-sync mappings plan --offline``: what each system would receive, from the store alone.

Built from ``plan_push``, the function a real run uses to decide its writes,
over the store as it is now: a plan and the run that follows cannot disagree.
Pulls are not previewed here (they need the remote's changes); without
``--offline``, ``mappings plan`` (like ``sync --dry-run``) reads them and shows
both directions (``prm_sync.sync.preview``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from prm_sync.model import new_id
from prm_sync.runtime import Runtime
from prm_sync.sync.context import RunContext
from prm_sync.sync.engine import SyncScope
from prm_sync.sync.preview import Preview, RecordChange
from prm_sync.sync.push import plan_push
from prm_sync.sync.values import normalize


class PlannedChange(BaseModel):
    record_id: str
    key: str
    action: str
    changes: dict[str, list[Any]]  # canonical field -> [what the remote has now, what it would get]
    payload: dict[str, Any]


class ObjectPlan(BaseModel):
    system: str
    entity: str
    remote_object: str
    counts: dict[str, int]
    samples: list[PlannedChange] = Field(default_factory=list)
    invalid: list[dict[str, str]] = Field(default_factory=list)


class MappingPlan(BaseModel):
    mapping_version: str
    objects: list[ObjectPlan]
    rules: list[RecordChange] = Field(default_factory=list)  # what the channel rules would change first (``rules=True``)

    def totals(self) -> dict[str, int]:
        keys = ("create", "update", "unchanged", "skipped", "invalid")
        return {k: sum(o.counts.get(k, 0) for o in self.objects) for k in keys}

    def markdown(self) -> str:
        lines = [f"# Mapping plan (mappings {self.mapping_version})", "",
                 "| system | entity | object | create | update | unchanged | skipped | invalid |",
                 "|---|---|---|---:|---:|---:|---:|---:|"]
        for o in self.objects:
            c = o.counts
            lines.append(f"| {o.system} | {o.entity} | {o.remote_object} | {c['create']} | {c['update']} | "
                         f"{c['unchanged']} | {c['skipped']} | {c['invalid']} |")
        for o in self.objects:
            for s in o.samples:
                changes = ", ".join(f"`{k}`: {v[0]!r} → {v[1]!r}" for k, v in s.changes.items())
                lines.append(f"- {o.system}/{o.entity} {s.action} {s.record_id}: {changes}")
            for bad in o.invalid:
                lines.append(f"- {o.system}/{o.entity} invalid {bad['record_id']}: {bad['error']}")
        return "\n".join(lines)


def plan_mappings(
    runtime: Runtime,
    *,
    systems: list[str] | None = None,
    entities: list[str] | None = None,
    record_ids: list[str] | None = None,
    sample: int = 5,
    rules: bool = False,
) -> MappingPlan:
    """Per object: how many records would be created, updated or left alone, with field diffs.

    ``rules`` first applies the channel rules to the store as it is (in the
    same rolled-back transaction), so the plan includes what they would
    change (a tier earned, a registration expired) and the writes that follow.
    """
    from prm_sync.sync.engine import SyncEngine

    # planning pushes maps PRM records only: no connector, no secret, no network
    planner = SyncEngine(store=runtime.store, config=runtime.config, mappings=runtime.mappings, connectors={})
    scope = SyncScope(systems=systems, entities=entities)
    ctx = RunContext(store=runtime.store, config=runtime.config, mappings=runtime.mappings, connectors={},
                     run_id=new_id("plan"), dry_run=True)
    wanted = set(record_ids) if record_ids else None
    objects: list[ObjectPlan] = []
    preview = Preview(sample=max(sample, 1))
    try:
        if rules:
            from prm_sync.rules.hooks import apply_rules_in_session

            with ctx.transaction() as session:
                apply_rules_in_session(session, runtime.config.rules, {}, now=ctx.clock(), run_id=ctx.run_id)
                preview.rules(session, ctx.run_id)
        for sl in planner.slices(scope, require_connectors=False):
            if not sl.can_push:
                continue
            with ctx.transaction() as session:
                plan = plan_push(ctx, session, sl, record_ids=wanted)
            chosen = plan.writes if wanted else plan.writes[:sample]
            objects.append(
                ObjectPlan(
                    system=sl.system, entity=sl.entity, remote_object=sl.remote_object, counts=plan.counts(),
                    samples=[
                        PlannedChange(
                            record_id=w.record.id, key=w.key, action=w.action, payload=w.payload,
                            changes={f: [w.before.get(f), normalize(w.values.get(f))] for f in w.changed},
                        )
                        for w in chosen
                    ],
                    invalid=[{"record_id": rid, "error": str(exc)} for rid, _payload, exc in plan.failures[:sample]],
                )
            )
    finally:
        ctx.close()
    changed = [c for c in preview.changes if wanted is None or c.record_id in wanted]
    return MappingPlan(mapping_version=runtime.mappings.version, objects=objects, rules=changed)
