"""One (system, entity) mapping as the engine sees it: which fields flow which way.

A thin view over the compiled mapping so the pull and push code reads in
the engine's terms (pull fields, push fields, key, match kind) and not in
the YAML's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prm_sync.mapping.apply import ObjectMapping


@dataclass
class FieldFlow:
    prm: str
    remote: str
    direction: str
    rule: str


@dataclass
class Slice:
    mapping: ObjectMapping
    system: str
    entity: str
    remote_object: str
    match_kind: str  # external_id | id_property | natural_key | remote_id
    key_field: str
    filter: Any
    flows: list[FieldFlow] = field(default_factory=list)

    @property
    def pull_fields(self) -> list[str]:
        return [f.prm for f in self.flows if f.direction in ("from_remote", "both")]

    @property
    def push_fields(self) -> list[str]:
        return [f.prm for f in self.flows if f.direction in ("to_remote", "both")]

    @property
    def can_pull(self) -> bool:
        return bool(self.pull_fields) or self.match_kind in ("remote_id", "natural_key")

    @property
    def can_push(self) -> bool:
        return any(f.direction in ("to_remote", "both") for f in self.flows) or self.mapping_has_constants

    @property
    def mapping_has_constants(self) -> bool:
        return any(fs.prm is None and self._direction(fs) == "to_remote" for fs in self.mapping.spec.fields)

    @property
    def creates_remote(self) -> bool:
        """Only records keyed by our own id can be created remotely (upsert by external id)."""
        return self.match_kind in ("external_id", "id_property")

    def flow(self, prm_field: str) -> FieldFlow | None:
        for f in self.flows:
            if f.prm == prm_field:
                return f
        return None

    def remote_names_for(self, prm_field: str) -> list[str]:
        """Remote keys a payload may use for this field (a reference writes ``X__r``)."""
        names: list[str] = []
        for f in self.flows:
            if f.prm == prm_field:
                names.append(f.remote)
                if f.remote.endswith("__c"):
                    names.append(f.remote[:-3] + "__r")
                elif f.remote.endswith("Id"):
                    names.append(f.remote[:-2])
        return names

    def _direction(self, fs: Any) -> str:
        return fs.direction or self.mapping.spec.direction

    @classmethod
    def of(cls, mapping: ObjectMapping) -> Slice:
        spec = mapping.spec
        match = spec.match
        if match.external_id:
            kind, key = "external_id", match.external_id
        elif match.id_property:
            kind, key = "id_property", match.id_property
        elif match.natural_key:
            kind, key = "natural_key", mapping.key_field
        else:
            kind, key = "remote_id", mapping.key_field
        flows: list[FieldFlow] = []
        for fs in spec.fields:
            direction = fs.direction or spec.direction
            if fs.prm is None or direction == "none":
                continue
            rule = fs.rule or spec.rule or mapping.default_rule
            flows.append(FieldFlow(fs.prm, fs.remote, direction, rule))
        # a remote field computed from several PRM fields (concat, sum) changes when any of them does:
        # each input is a push field of its own, so the push sees that change and writes the result
        mapped = {f.prm for f in flows}
        for writer in mapping.writers:
            for name in writer.to_inputs or ():
                if name not in mapped:
                    mapped.add(name)
                    flows.append(FieldFlow(name, writer.remote, "to_remote", mapping.default_rule))
        return cls(
            mapping=mapping,
            system=mapping.system,
            entity=spec.entity,
            remote_object=spec.remote_object,
            match_kind=kind,
            key_field=key,
            filter=spec.filter,
            flows=flows,
        )
