"""Compiled mappings: what the sync engine calls on every record.

Loading validates every file (all problems at once) and compiles each object
into a list of small bound field functions, so mapping a record is a plain
loop with no pydantic or dict-of-spec lookups in it: the engine maps tens of
thousands of records a second. Everything here is pure; ids of other records
come from the :class:`MappingContext` the engine passes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prm_sync.errors import ConfigError
from prm_sync.mapping.canonical import field_type
from prm_sync.mapping.compiled import compile_read_back, compile_writer
from prm_sync.mapping.context import MappingContext, MappingValueError, TransformContext
from prm_sync.mapping.field_checks import READS, WRITES, effective_direction
from prm_sync.mapping.known_fields import REMOTE_ID_FIELD
from prm_sync.mapping.merge import MergeResult, merge_values
from prm_sync.mapping.registry import TRANSFORMS, split_ref
from prm_sync.mapping.spec import ObjectSpec
from prm_sync.mapping.validate import DescribeProvider, ValidatedObject, check_mapping_files
from prm_sync.mapping.values import canonical_json, is_blank
from prm_sync.model import CanonicalRecord

Bound = Callable[[Any, TransformContext], Any]


def _round_trips(ref: Any, entity: str, prm: str | None) -> bool:
    """The transform claims that this PRM field's values read back as they normalise (see ``Transform.round_trips``)."""
    if prm is None:
        return False
    name, raw = split_ref(ref)
    transform = TRANSFORMS[name or ""]
    if transform.round_trips is None:
        return False
    return field_type(entity, prm) in transform.round_trips(transform.parse_params(raw))


def _bind(
    ref: Any, half: str
) -> tuple[Bound | None, Callable[[Any, str], str] | None, list[str] | None, tuple[Any, Any] | None]:
    """A transform half bound to its params, plus its output key, input fields and (function, params)."""
    name, raw = split_ref(ref)
    transform = TRANSFORMS[name or ""]
    params = transform.parse_params(raw)
    fn = getattr(transform, half)
    if fn is None:
        return None, None, None, None
    inputs = transform.inputs(params) if transform.inputs else None
    out_key = (lambda remote: transform.output_key(params, remote)) if transform.output_key else None

    def bound(value: Any, ctx: TransformContext) -> Any:
        return fn(value, params, ctx)

    return bound, out_key, inputs, (fn, params)


@dataclass(slots=True)
class CompiledField:
    prm: str | None
    remote: str
    out_key: str
    direction: str
    rule: str
    required: bool
    has_default: bool
    default: Any
    to_fn: Bound | None
    from_fn: Bound | None
    to_inputs: list[str] | None
    from_inputs: list[str] | None
    round_trips: bool = False  # its one transform reads the written value back as the PRM value normalises
    to_call: tuple[Any, Any] | None = None  # (function, params) behind ``to_fn``, for the generated code
    from_call: tuple[Any, Any] | None = None  # the same behind ``from_fn``


def _compile_field(spec: Any, obj: ObjectSpec, default_rule: str) -> CompiledField:
    direction = effective_direction(spec, obj)
    to_fn = from_fn = None
    out_key = spec.remote
    to_inputs = from_inputs = to_call = from_call = None
    if spec.transform is not None:
        to_fn, key_fn, to_inputs, to_call = _bind(spec.transform, "to_remote")
        if key_fn is not None:
            out_key = key_fn(spec.remote)
        from_fn, _, from_inputs, from_call = _bind(spec.transform, "from_remote")
    if spec.inverse is not None:
        from_fn, _, from_inputs, from_call = _bind(spec.inverse, "from_remote")
    return CompiledField(
        prm=spec.prm,
        remote=spec.remote,
        out_key=out_key,
        direction=direction,
        rule=spec.rule or obj.rule or default_rule,
        required=spec.required,
        has_default="default" in spec.model_fields_set,
        default=spec.default,
        to_fn=to_fn,
        from_fn=from_fn,
        to_inputs=to_inputs,
        from_inputs=from_inputs,
        round_trips=spec.transform is not None and spec.inverse is None and _round_trips(spec.transform, obj.entity, spec.prm),
        to_call=to_call,
        from_call=from_call,
    )


class ObjectMapping:
    """One (system, entity) mapping, compiled."""

    def __init__(self, system: str, spec: ObjectSpec, default_rule: str = "prefer_prm") -> None:
        self.system = system
        self.entity = spec.entity
        self.remote_object = spec.remote_object
        self.spec = spec
        self.default_rule = default_rule  # the file's `defaults.rule`, for fields and objects naming none
        self.filter = spec.filter
        self.fields = [_compile_field(f, spec, default_rule) for f in spec.fields]
        self._compiled: dict[tuple[str, bool], tuple[list[CompiledField], Callable[..., Any]]] = {}
        self.writers = [f for f in self.fields if f.direction in WRITES]
        self.readers = [f for f in self.fields if f.direction in READS and f.prm is not None]
        self.reads_links = any(
            split_ref(f.inverse if f.inverse is not None else f.transform)[0] == "lookup"
            for f in spec.fields
            if f.prm is not None and effective_direction(f, spec) in READS
        )
        """Reading a record resolves other records' ids through the link index (it can change as a page applies)."""
        self.transforming_readers = [f for f in self.readers if not self._reads_back_as_written(f)]
        """Readers whose value read back after our write may differ from the PRM value we wrote."""
        self.push_fingerprint = hashlib.sha256(
            f"{system}|{default_rule}|{spec.model_dump_json()}".encode()
        ).hexdigest()[:32]
        """Changes with any change to this object's mapping: links agreed under another one are checked again."""
        self.mapped = sorted({f.prm for f in self.fields if f.prm is not None and f.direction != "none"})
        match = spec.match
        self.match_kind = next(
            k for k in ("external_id", "id_property", "natural_key", "remote_id") if getattr(match, k)
        )
        self.natural_key: list[str] | None = list(match.natural_key) if match.natural_key else None
        self.key_field: str = match.external_id or match.id_property or REMOTE_ID_FIELD[system]
        """The remote field an upsert matches on (``Id``-like for remote-id and natural-key objects)."""

    def __repr__(self) -> str:
        return f"ObjectMapping({self.system}:{self.entity} <-> {self.remote_object})"

    def _reads_back_as_written(self, f: CompiledField) -> bool:
        """True when reading ``f`` back gives exactly the PRM value written, normalised.

        So it is for a field with no transform and no default, and for one whose
        transform round-trips values of the field's type (``trim`` on text,
        ``datetime`` on a datetime). The engine then takes the normalised PRM
        value as the read-back snapshot instead of running the field through
        ``from_remote``.
        """
        untransformed = f.to_fn is None and f.from_fn is None
        plain = (
            (untransformed or f.round_trips) and f.to_inputs is None and f.from_inputs is None
            and not f.has_default and f.out_key == f.remote and f in self.writers
        )
        return plain and sum(1 for w in self.writers if w.out_key == f.remote or w.remote == f.remote) == 1

    @property
    def writes_by_remote_id(self) -> bool:
        """Upserts target the system's own id, so only records already linked can be written."""
        return self.match_kind in ("remote_id", "natural_key")

    def _error(self, err: MappingValueError, f: CompiledField) -> MappingValueError:
        return err.located(field=f.prm or f.remote, entity=self.entity, system=self.system)

    def to_remote(
        self, record: CanonicalRecord | dict[str, Any], ctx: MappingContext | None = None
    ) -> dict[str, Any]:
        """Remote field -> value for every to_remote/both field, transforms applied.

        Runs the object's generated writer (``prm_sync.mapping.compiled``), made
        on first use and again if ``writers`` is replaced; ``_write`` is the loop it unrolls.
        """
        from_dict = isinstance(record, dict)
        compiled = self._compiled.get(("write", from_dict))
        if compiled is None or compiled[0] is not self.writers:
            compiled = (self.writers, compile_writer(self, self.writers, from_dict=from_dict))
            self._compiled[("write", from_dict)] = compiled
        return compiled[1](record, TransformContext(self.system, ctx))  # type: ignore[operator]

    def read_back(
        self, values: dict[str, Any], payload: dict[str, Any], ctx: MappingContext | None,
        normalize: Callable[[Any], Any],
    ) -> dict[str, Any]:
        """``values`` (normalised, changed in place) with each ``transforming_readers`` field read back from ``payload``.

        What the next read of a record we wrote will map to; see
        ``prm_sync.sync.push._read_back`` for why and how (it passes the
        engine's ``normalize``). A generated function (``compile_read_back``),
        remade if ``transforming_readers`` is replaced.
        """
        readers = self.transforming_readers
        compiled = self._compiled.get(("read_back", False))
        if compiled is None or compiled[0] is not readers:
            compiled = (readers, compile_read_back(self, readers, normalize))
            self._compiled[("read_back", False)] = compiled
        return compiled[1](values, payload, TransformContext(self.system, ctx))  # type: ignore[operator]

    def _write(
        self,
        record: CanonicalRecord | dict[str, Any],
        writers: list[CompiledField],
        ctx: MappingContext | None,
    ) -> dict[str, Any]:
        get = record.get if isinstance(record, dict) else (lambda name: getattr(record, name, None))
        tctx = TransformContext(self.system, ctx)
        out: dict[str, Any] = {}
        for f in writers:
            if f.to_inputs is not None:
                value: Any = {name: get(name) for name in f.to_inputs}
            else:
                value = get(f.prm) if f.prm is not None else None
                if f.has_default and is_blank(value):
                    value = f.default
            if f.to_fn is not None:
                try:
                    value = f.to_fn(value, tctx)
                except MappingValueError as err:
                    raise self._error(err, f) from None
            if is_blank(value):
                if f.required:
                    raise self._error(MappingValueError("required value is blank", value=value), f)
                out[f.remote] = None  # a blank reference clears the lookup field itself
                continue
            out[f.out_key] = value
        return out

    def from_remote(self, fields: dict[str, Any], ctx: MappingContext | None = None) -> dict[str, Any]:
        """Canonical field -> value for every from_remote/both field."""
        tctx = TransformContext(self.system, ctx)
        out: dict[str, Any] = {}
        get = fields.get
        for f in self.readers:
            value = (
                {name: get(name) for name in f.from_inputs} if f.from_inputs is not None else get(f.remote)
            )
            if f.from_fn is not None:
                try:
                    value = f.from_fn(value, tctx)
                except MappingValueError as err:
                    raise self._error(err, f) from None
            if is_blank(value) and not isinstance(value, list):
                value = f.default if f.has_default else None
                if value is None and f.required:
                    raise self._error(MappingValueError("required value is blank", value=None), f)
            out[f.prm] = value  # type: ignore[index]
        return out

    def remote_fields_to_read(self) -> list[str]:
        names: list[str] = []
        for f in self.readers:
            names.extend(f.from_inputs if f.from_inputs is not None else [f.remote])
        names.append(self.key_field)
        return list(dict.fromkeys(names))

    def natural_key_of(self, canonical: dict[str, Any]) -> tuple[Any, ...] | None:
        """The natural key of a mapped record (None when the object has none)."""
        if self.natural_key is None:
            return None
        return tuple(canonical.get(name) for name in self.natural_key)

    def content_hash(self, canonical_values: dict[str, Any]) -> str:
        """Stable hash of the mapped canonical values: equal values, equal hash."""
        picked = {name: canonical_values.get(name) for name in self.mapped if name != "id"}
        return hashlib.sha256(canonical_json(picked).encode()).hexdigest()[:32]

    def associations_for(
        self, record: CanonicalRecord | dict[str, Any], ctx: MappingContext | None
    ) -> list[tuple[str, str]]:
        """(remote object type, remote id) links to create beside the record (HubSpot)."""
        get = record.get if isinstance(record, dict) else (lambda name: getattr(record, name, None))
        links: list[tuple[str, str]] = []
        for assoc in self.spec.associations:
            prm_id = get(assoc.prm)
            if prm_id and ctx is not None:
                remote_id = ctx.remote_id_for(assoc.entity, self.system, str(prm_id))
                if remote_id:
                    links.append((assoc.to_object, remote_id))
        return links

    def merge(
        self,
        prm: dict[str, Any],
        remote: dict[str, Any],
        base: dict[str, Any] | None,
        prm_changed_at: Any = None,
        remote_changed_at: Any = None,
        *,
        ctx: MappingContext | None = None,
    ) -> MergeResult:
        """Field-level merge of a record changed on both sides (canonical values on all three)."""
        result = merge_values(self.fields, prm, remote, base, prm_changed_at, remote_changed_at)
        changed = [f for f in self.writers if f.prm is not None and f.prm in result.remote_stale]
        if changed:
            result.to_remote_fields = self._write(result.values, changed, ctx)
        return result


class MappingSet:
    """Every loaded mapping file, compiled; ``version`` names the exact content."""

    def __init__(
        self, objects: Iterable[ObjectMapping], version: str, files: list[Path] | None = None
    ) -> None:
        self.objects: dict[tuple[str, str], ObjectMapping] = {(o.system, o.entity): o for o in objects}
        self.version = version
        self.files = files or []

    def for_entity(self, system: str, entity: str) -> ObjectMapping | None:
        return self.objects.get((system, entity))

    def systems_for(self, entity: str) -> list[str]:
        return sorted(system for system, ent in self.objects if ent == entity)

    def entities_for(self, system: str) -> list[str]:
        return sorted(ent for sys_, ent in self.objects if sys_ == system)

    def __iter__(self) -> Iterable[ObjectMapping]:  # type: ignore[override]
        return iter(self.objects.values())


def compile_object(obj: ValidatedObject) -> ObjectMapping:
    return ObjectMapping(obj.system, obj.spec, obj.default_rule)


def load_mappings(paths: list[Path] | Path, describe_provider: DescribeProvider | None = None) -> MappingSet:
    """Validate and compile mapping files; raise ``ConfigError`` with every problem."""
    result = check_mapping_files(paths, describe_provider)
    if result.problems:
        raise ConfigError(result.problems)
    digest = hashlib.sha256()
    for name in sorted(result.contents):
        digest.update(name.encode() + b"\0" + result.contents[name] + b"\0")
    files = [obj.doc.path for obj in result.objects]
    return MappingSet(
        (compile_object(o) for o in result.objects), digest.hexdigest()[:12], list(dict.fromkeys(files))
    )
