"""The generated writer and read-back of every shipped object mapping give what the field loops give.

``prm_sync.mapping.compiled`` unrolls ``ObjectMapping._write`` and the
read-back loop into one function per object mapping, for speed. These tests
run both on the same records, for every shipped mapping and system: records
with every mapped field filled, with every field blank, and with values a
transform refuses, so that payloads, read-backs and the errors raised
(which field, which record) are the same.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from prm_sync.errors import PrmSyncError
from prm_sync.mapping.apply import MappingSet, ObjectMapping, load_mappings
from prm_sync.mapping.canonical import field_type
from prm_sync.mapping.context import MappingContext, MappingValueError, TransformContext
from prm_sync.mapping.values import is_blank
from prm_sync.model import ENTITIES, DealRegistration, Opportunity, Partner
from prm_sync.sync.values import normalize

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS: MappingSet = load_mappings([ROOT / "mappings"])
_AT = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
MODELS = [
    Partner(id="ptn_c1", name="  Acme Ltd ", tier="gold", status="active", domain="Acme.COM", phone=" 555 "),
    Partner(id="ptn_c2", name="Initech", tier="registered", status="suspended"),
    DealRegistration(id="reg_c1", partner_id="ptn_c1", customer_name=" Globex ", customer_domain="Globex.com",
                     product_lines=["security", "platform"], amount="1234.5", submitted_at=_AT,
                     approved_at=_AT + timedelta(days=1), expires_at=None),
    Opportunity(id="opp_c1", name=" Big deal ", amount="99.999", close_date=date(2024, 6, 30)),
]


class Links:
    """Every PRM id has a remote id ``R-<id>`` in every system, and back."""

    def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
        return f"R-{prm_id}"

    def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
        return remote_id.removeprefix("R-")


def _sample(entity: str, name: str, n: int) -> Any:
    """A value of a canonical field's type (n varies it): an allowed one for a picklist, sample text otherwise."""
    info = ENTITIES[entity].model_fields.get(name)
    allowed = [a for a in typing.get_args(info.annotation) if a is not type(None)] if info else []
    literals = [v for a in allowed for v in typing.get_args(a)] if allowed and typing.get_origin(allowed[0]) else []
    if literals:
        return literals[n % len(literals)]
    enums = [list(a) for a in allowed if isinstance(a, type) and issubclass(a, Enum)]
    if enums:
        return enums[0][n % len(enums[0])]
    kind = field_type(entity, name)
    if kind is datetime:
        return datetime(2026, 3, 1 + n, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=n)))
    if kind is date:
        return date(2026, 4, 1 + n)
    if kind is Decimal:
        return Decimal(f"{1234 + n}.5675")
    if kind is bool:
        return n % 2 == 0
    if kind is int:
        return 10 + n
    if kind is list:
        return [f"v{n}", "b"]
    if name.endswith("_id") or name == "id":
        return f"id{n}"
    return f"  Value {n} of {name} "


def _records(mapping: ObjectMapping) -> list[Any]:
    """Records of three kinds: every field filled (a dict), every field blank (None, then ''), and model instances."""
    fields = {name for w in mapping.writers for name in [*(w.to_inputs or []), w.prm] if name}
    full = [{name: _sample(mapping.entity, name, n) for name in fields} for n in range(3)]
    for w in mapping.writers:  # a value-mapped field gets the values its map knows (and, in the last, one it does not)
        known = list(getattr(w.to_call[1], "values", None) or []) if w.to_call and w.prm else []
        for n, record in enumerate(full[:2] if known else []):
            record[w.prm] = known[n % len(known)]
    models = [r for r in MODELS if r.entity == mapping.entity]
    return [*full, dict.fromkeys(fields), dict.fromkeys(fields, ""), *models]


def _get(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except MappingValueError as err:
        return ("error", str(err), err.field)
    except (ValueError, TypeError, ArithmeticError) as err:
        return ("error", type(err).__name__, str(err))


def _read_back_loop(
    mapping: ObjectMapping, values: dict[str, Any], payload: dict[str, Any], ctx: MappingContext | None,
    normalize: Callable[[Any], Any],
) -> dict[str, Any]:
    """``ObjectMapping.read_back`` as a loop over the fields (the push's read-back before it was generated)."""
    tctx = TransformContext(mapping.system, ctx)
    for reader in mapping.transforming_readers:
        if reader.prm not in values:
            continue
        if reader.from_inputs is not None:
            if not all(name in payload for name in reader.from_inputs):
                continue
            raw = {n: payload[n] for n in reader.from_inputs}
        elif reader.remote in payload:
            raw = payload[reader.remote]
            if raw is None and not reader.has_default:
                values[reader.prm] = None  # a blank passes every transform untouched (see ``registry``)
                continue
        else:
            continue
        try:
            value = reader.from_fn(raw, tctx) if reader.from_fn is not None else raw
        except (PrmSyncError, ValueError, TypeError):
            continue
        if is_blank(value) and not isinstance(value, list) and reader.has_default:
            value = reader.default
        values[reader.prm] = normalize(value)
    return values


MAPPED = sorted(MAPPINGS.objects.items())


@pytest.mark.parametrize(("key", "mapping"), MAPPED, ids=[f"{s}:{e}" for (s, e), _ in MAPPED])
def test_generated_writer_gives_the_loops_payload_and_errors(key: tuple[str, str], mapping: ObjectMapping) -> None:
    compared = 0
    for record in _records(mapping):
        looped = _outcome(mapping._write, record, mapping.writers, Links())
        generated = _outcome(mapping.to_remote, record, Links())
        assert generated == looped, record
        compared += looped[0] == "ok"
    assert compared or not mapping.writers


@pytest.mark.parametrize(("key", "mapping"), MAPPED, ids=[f"{s}:{e}" for (s, e), _ in MAPPED])
def test_generated_read_back_gives_the_loops_values(key: tuple[str, str], mapping: ObjectMapping) -> None:
    for record in _records(mapping):
        try:
            payload = mapping._write(record, mapping.writers, Links())
        except (MappingValueError, ValueError, TypeError, ArithmeticError):
            continue  # a record that does not map is never written, so never read back
        values = {f.prm: normalize(_get(record, f.prm)) for f in mapping.readers}
        for variant in (payload, {k: None for k in payload}, {}):  # as written, every key blank, nothing written
            looped = _read_back_loop(mapping, dict(values), dict(variant), Links(), normalize)
            assert mapping.read_back(dict(values), dict(variant), Links(), normalize) == looped, (record, variant)


def test_generated_writer_follows_a_replaced_field_list() -> None:
    mapping = MAPPINGS.for_entity("salesforce", "partner")
    assert mapping is not None
    record = _records(mapping)[0]
    everything = mapping.to_remote(record, Links())
    writers = mapping.writers
    try:
        mapping.writers = writers[:1]
        assert mapping.to_remote(record, Links()) == mapping._write(record, writers[:1], Links())
    finally:
        mapping.writers = writers
    assert mapping.to_remote(record, Links()) == everything and len(everything) > 1
