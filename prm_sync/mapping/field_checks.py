"""Meaning checks for one mapped object: match, filter, fields, transforms, types.

Split from ``validate.py`` to keep each module readable; ``FieldChecker``
only reads a shape-valid :class:`ObjectSpec` and returns problems, it never
raises.
"""

from __future__ import annotations

from typing import Any

from connectors.base import FieldInfo
from prm_sync.errors import Problem
from prm_sync.mapping.canonical import COMPATIBLE, ENGINE_FIELDS, entity_fields, required_fields
from prm_sync.mapping.filters import hubspot_filter_problem, odoo_domain_problem, soql_filter_problem
from prm_sync.mapping.registry import TRANSFORMS, Transform, split_ref
from prm_sync.mapping.spec import FieldSpec, ObjectSpec
from prm_sync.mapping.transforms import transform_names
from prm_sync.model import ENTITIES
from prm_sync.yaml_source import Loc, YamlDocument, did_you_mean, validate_document

READS = ("from_remote", "both")
WRITES = ("to_remote", "both")


def effective_direction(spec: FieldSpec, obj: ObjectSpec) -> str:
    return spec.direction or obj.direction


def _setup_creates(system: str, name: str) -> bool:
    """Whether ``prm-sync setup`` creates this remote field when it is missing (custom fields and properties)."""
    if system == "salesforce":
        return name.endswith("__c")
    return system == "hubspot" and not name.startswith("associations.")


def relationship_for(remote: str) -> str:
    """Salesforce relationship name of a reference field: Partner__c -> Partner__r, AccountId -> Account."""
    if remote.endswith("__c"):
        return remote[:-3] + "__r"
    return remote[:-2] if remote.endswith("Id") else remote


class FieldChecker:
    def __init__(
        self,
        doc: YamlDocument,
        system: str,
        obj: ObjectSpec,
        default_rule: str,
        remote_fields: dict[str, FieldInfo] | None,
        loc: Loc,
        field_locs: list[Loc],
        *,
        partial: bool = False,
        live: bool = False,
    ) -> None:
        self.live = live  # remote_fields came from the system's describe (validate --remote), not the built-in list
        self.partial = partial  # some fields failed their shape check: skip whole-object coverage checks
        self.doc = doc
        self.system = system
        self.obj = obj
        self.default_rule = default_rule
        self.remote = remote_fields
        self.loc = loc
        self.field_locs = field_locs
        self.canonical = entity_fields(obj.entity)
        self.problems: list[Problem] = []

    def _add(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.problems.append(self.doc.problem(loc, message, hint))

    def check(self) -> list[Problem]:
        self._check_match()
        self._check_filter()
        writers: dict[str, Loc] = {}
        readers: dict[str, Loc] = {}
        for spec, loc in zip(self.obj.fields, self.field_locs, strict=True):
            self._check_field(spec, loc, writers, readers)
        if not self.partial:
            self._check_coverage(readers, writers)
        self._check_associations()
        return self.problems

    # --- object level ---------------------------------------------------------------

    def _remote_ok(self, name: str, loc: Loc, what: str = "field") -> FieldInfo | None:
        if self.remote is None:
            return None
        if name in self.remote:
            return self.remote[name]
        if self.live and _setup_creates(self.system, name):
            self._add(
                loc,
                f"{self.system} has no {'property' if self.system == 'hubspot' else what} '{name}' on "
                f"{self.obj.remote_object} yet",
                "create it with `prm-sync setup` (`prm-sync setup --dry-run` shows the plan)",
            )
            return None
        hint = did_you_mean(name, self.remote) or f"{self.obj.remote_object} fields: " + ", ".join(
            sorted(self.remote)
        )
        self._add(loc, f"unknown {self.system} {what} '{name}' on {self.obj.remote_object}", hint)
        return None

    def _canonical_ok(self, name: str, loc: Loc) -> bool:
        if name in self.canonical:
            return True
        hint = did_you_mean(name, self.canonical) or f"{self.obj.entity} fields: " + ", ".join(self.canonical)
        self._add(loc, f"unknown field '{name}' of entity '{self.obj.entity}'", hint)
        return False

    def _check_match(self) -> None:
        m = self.obj.match
        loc = (*self.loc, "match")
        chosen = [k for k in ("external_id", "id_property", "natural_key") if getattr(m, k)] + (
            ["remote_id"] if m.remote_id else []
        )
        if len(chosen) != 1:
            self._add(
                loc,
                f"match needs exactly one of external_id, id_property, natural_key, remote_id (got {len(chosen)})",
                "e.g. match: {external_id: PRM_Id__c}",
            )
            return
        if m.external_id:
            self._remote_ok(m.external_id, (*loc, "external_id"))
        if m.id_property:
            self._remote_ok(m.id_property, (*loc, "id_property"))
        for i, name in enumerate(m.natural_key or []):
            self._canonical_ok(name, (*loc, "natural_key", i))

    def _check_filter(self) -> None:
        flt = self.obj.filter
        loc = (*self.loc, "filter")
        if flt is None:
            return
        expected = {
            "salesforce": (str, 'a SOQL WHERE clause, e.g. "IsPartner = true"'),
            "hubspot": (list, "a list of {propertyName, operator, value}"),
            "erp": (list, "an Odoo domain, e.g. [[move_type, =, out_invoice]]"),
            "lms": (dict, "xAPI query parameters, e.g. {verb: http://adlnet.gov/expapi/verbs/completed}"),
        }[self.system]
        if not isinstance(flt, expected[0]):
            self._add(
                loc, f"a {self.system} filter should be {expected[1]}", f"write the filter as {expected[1]}"
            )
            return
        if self.system == "salesforce":
            problem = soql_filter_problem(flt)
            if problem:
                self._add(loc, f"filter {flt!r} is not one SOQL condition: {problem}",
                          'e.g. "IsPartner = true AND (Type = \'Partner\' OR Type = \'Reseller\')"')
        if self.system == "hubspot":
            for i, clause in enumerate(flt):
                problem = hubspot_filter_problem(clause)
                if problem:
                    self._add((*loc, i), problem, expected[1])
                else:
                    self._remote_ok(str(clause["propertyName"]), (*loc, i, "propertyName"), "property")
        if self.system == "erp":
            problem = odoo_domain_problem(flt)
            if problem is not None:
                self._add((*loc, problem[0]) if problem[0] is not None else loc, problem[1], expected[1])
                return
            for i, clause in enumerate(flt):
                if isinstance(clause, list):
                    self._remote_ok(str(clause[0]), (*loc, i), "field")

    def _check_remote_required(self, writers: dict[str, Loc]) -> None:
        """Records we create remotely must carry every field the remote requires on create."""
        if self.remote is None or not writers:
            return
        key = self.obj.match.external_id or self.obj.match.id_property
        missing = [
            name
            for name, info in self.remote.items()
            if info.required_on_create and name not in writers and name != key
        ]
        if missing:
            self._add(
                (*self.loc, "fields"),
                f"{self.obj.remote_object} requires {', '.join(missing)} on create, but no field writes it",
                "map a canonical field to it with direction to_remote or both",
            )

    def _check_coverage(self, readers: dict[str, Loc], writers: dict[str, Loc]) -> None:
        """Records created from the remote side must get every required canonical field."""
        m = self.obj.match
        if not (m.remote_id or m.natural_key):
            self._check_remote_required(writers)
            return
        missing = [f for f in required_fields(self.obj.entity) if f not in readers]
        if missing:
            self._add(
                (*self.loc, "fields"),
                f"entity '{self.obj.entity}' requires {', '.join(missing)}, but no field reads it from {self.system}",
                "records keyed by the remote side are created from what is read; map these from_remote",
            )

    def _check_associations(self) -> None:
        for i, assoc in enumerate(self.obj.associations):
            loc = (*self.loc, "associations", i)
            self._canonical_ok(assoc.prm, (*loc, "prm"))
            if assoc.entity not in ENTITIES:
                self._add(
                    (*loc, "entity"), f"unknown entity '{assoc.entity}'", did_you_mean(assoc.entity, ENTITIES)
                )

    # --- fields ----------------------------------------------------------------------

    def _transform(self, ref: Any, loc: Loc) -> tuple[Transform | None, Any]:
        name, raw = split_ref(ref)
        if name is None:
            self._add(
                loc,
                "a transform is a name or a mapping with exactly one key",
                "e.g. transform: {value_map: {...}}",
            )
            return None, None
        transform = TRANSFORMS.get(name)
        if transform is None:
            where = loc if isinstance(ref, str) else (*loc, name)
            self._add(
                where,
                f"unknown transform '{name}'",
                did_you_mean(name, TRANSFORMS) or "transforms: " + ", ".join(transform_names()),
            )
            return None, None
        wrapped = {} if raw is None else raw
        if not isinstance(wrapped, dict) and transform.shorthand is not None:
            wrapped = {transform.shorthand: wrapped}
        params, problems = validate_document(
            transform.params, self.doc, loc_prefix=(*loc, name), value=wrapped
        )
        for p in problems:
            self.problems.append(
                Problem(f"transform '{name}': {p.message}", p.file, p.line, p.column, p.hint)
            )
        return (transform, params) if params is not None else (None, None)

    def _check_field(
        self, spec: FieldSpec, loc: Loc, writers: dict[str, Loc], readers: dict[str, Loc]
    ) -> None:
        direction = effective_direction(spec, self.obj)
        transform, params = (None, None)
        if spec.transform is not None:
            transform, params = self._transform(spec.transform, (*loc, "transform"))
        inverse = None
        if spec.inverse is not None:
            inverse, _ = self._transform(spec.inverse, (*loc, "inverse"))
        is_constant = transform is not None and transform.name == "constant"
        canonical_ok = False
        if spec.prm is None:
            if not (is_constant and direction == "to_remote"):
                self._add(loc, "missing required key 'prm'", "only a to_remote constant may leave out 'prm'")
        else:
            canonical_ok = self._canonical_ok(spec.prm, (*loc, "prm"))
        info = self._remote_ok(spec.remote, (*loc, "remote"))
        if spec.rule is not None and direction != "both":
            self._add(
                (*loc, "rule"),
                f"'rule' has no effect on a {direction} field",
                "remove it or use direction: both",
            )
        remote_keyed = bool(self.obj.match.remote_id or self.obj.match.natural_key)
        if spec.required and (direction == "none" or (direction == "to_remote" and remote_keyed)):
            self._add(
                (*loc, "required"),
                f"field '{spec.prm or spec.remote}' is required but direction '{direction}' can never supply it"
                + (f" (records of this object are created from {self.system})" if remote_keyed else ""),
                "use direction: from_remote or both, or drop 'required'",
            )
        if direction == "both" and transform is not None and not transform.two_way and inverse is None:
            self._add(
                (*loc, "transform"),
                f"two-way field uses transform '{transform.name}', which cannot be inverted",
                "use direction: to_remote or from_remote, or give an explicit 'inverse'",
            )
        if inverse is not None and inverse.from_remote is None:
            self._add(
                (*loc, "inverse"),
                f"transform '{inverse.name}' cannot read values back",
                "use lookup or a codec",
            )
        if (
            direction == "from_remote"
            and transform is not None
            and transform.from_remote is None
            and inverse is None
        ):
            self._add(
                (*loc, "transform"),
                f"transform '{transform.name}' only writes to {self.system}",
                "pair it with 'inverse: {lookup: ...}' or use direction: to_remote",
            )
        if direction in WRITES:
            key = (
                transform.output_key(params, spec.remote)
                if transform and transform.output_key
                else spec.remote
            )
            self._first((*loc, "remote"), key, writers, f"remote field '{key}' is written by two fields")
            if info is not None and not info.updateable:
                self._add(
                    (*loc, "direction"),
                    f"{self.obj.remote_object}.{spec.remote} is read-only in {self.system}",
                    "use direction: from_remote",
                )
        if direction in READS and spec.prm is not None:
            self._first(
                (*loc, "prm"), spec.prm, readers, f"canonical field '{spec.prm}' is read from two fields"
            )
        if canonical_ok and info is not None and spec.prm is not None:
            self._check_types(spec, loc, info, transform, params)
        if (
            transform is not None
            and transform.name == "reference"
            and info is not None
            and self.system == "salesforce"
        ):
            expected = relationship_for(spec.remote)
            if params.relationship != expected:
                self._add(
                    (*loc, "transform", "reference", "relationship"),
                    f"relationship '{params.relationship}' does not belong to '{spec.remote}'",
                    f"did you mean '{expected}'?",
                )
        if transform is not None and transform.name == "lookup" and params.entity not in ENTITIES:
            self._add(
                (*loc, "transform", "lookup", "entity"),
                f"unknown entity '{params.entity}'",
                did_you_mean(params.entity, ENTITIES),
            )

    def _first(self, loc: Loc, key: str, seen: dict[str, Loc], message: str) -> None:
        if key in seen:
            line, _ = self.doc.position(seen[key])
            self._add(loc, f"{message} (first on line {line})", "keep one field per target")
        else:
            seen[key] = loc

    def _check_types(
        self, spec: FieldSpec, loc: Loc, info: FieldInfo, transform: Transform | None, params: Any
    ) -> None:
        kind, enum_values = self.canonical[spec.prm or ""]
        if spec.prm in ENGINE_FIELDS and spec.prm != "id":
            self._add((*loc, "prm"), f"'{spec.prm}' is kept by the engine and cannot be mapped")
            return
        picklist = [str(v) for v in info.picklist_values]
        if transform is None:
            if info.type not in COMPATIBLE.get(kind, set()):
                self._add(
                    (*loc, "remote"),
                    f"type mismatch: {self.obj.entity}.{spec.prm} is {kind} but "
                    f"{self.obj.remote_object}.{spec.remote} is {info.type}",
                    "add a transform (e.g. date, datetime, number, bool, join, value_map, lookup)",
                )
            elif kind == "enum" and picklist:
                outside = [v for v in enum_values if v not in picklist]
                if outside:
                    self._add(
                        (*loc, "remote"),
                        f"values {', '.join(outside)} of {spec.prm} are not in the picklist of {spec.remote}",
                        "add transform: {value_map: {values: {...}}}",
                    )
            return
        if transform.name != "value_map":
            return
        tloc = (*loc, "transform", "value_map", "values")
        if picklist:
            for key, target in params.values.items():
                for value in target if isinstance(target, list) else [target]:
                    if str(value) not in picklist:
                        self._add(
                            (*tloc, key),
                            f"value '{value}' is not in the picklist of {self.obj.remote_object}.{spec.remote}",
                            did_you_mean(str(value), picklist) or "picklist: " + ", ".join(picklist),
                        )
        if kind == "enum":
            for key in params.values:
                if str(key) not in enum_values:
                    self._add(
                        (*tloc, key),
                        f"'{key}' is not a value of {self.obj.entity}.{spec.prm}",
                        did_you_mean(str(key), enum_values) or "values: " + ", ".join(enum_values),
                    )
            direction = effective_direction(spec, self.obj)
            if direction in WRITES and "default" not in params.model_fields_set:
                unmapped = [v for v in enum_values if v not in {str(k) for k in params.values}]
                if unmapped:
                    self._add(
                        tloc,
                        f"value_map does not cover {', '.join(unmapped)} of {self.obj.entity}.{spec.prm}",
                        "map every value or give a 'default'",
                    )
