"""Every ``round_trips`` claim holds: written, then read back, a value normalises unchanged.

The push skips the read-back of fields whose transform makes that claim
(``ObjectMapping.transforming_readers``), so a false claim would record a
snapshot the next read disagrees with, and our own write would look like a
remote edit. The claims are checked here on awkward values, and the skipped
read-back is compared with the full one on the shipped mappings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from prm_sync.mapping.apply import load_mappings
from prm_sync.mapping.context import TransformContext
from prm_sync.mapping.registry import TRANSFORMS
from prm_sync.mapping.values import is_blank
from prm_sync.model import DealRegistration, Opportunity, Partner
from prm_sync.sync.values import normalize

ROOT = Path(__file__).resolve().parents[2]
CTX = TransformContext("salesforce", None)
PARAM_VARIANTS: dict[str, list[Any]] = {"datetime": [None, "salesforce", "iso", "epoch_ms", "odoo"]}
SAMPLES: dict[type, list[Any]] = {
    str: ["Acme", "  padded  ", "tab\tinside", "\u00a0nbsp\u2003", "", "   ", "Ünïcödé GmbH", "x" * 300],
    date: [date(2024, 2, 29), date(1970, 1, 1), date(2099, 12, 31), date(1, 1, 1)],
    datetime: [
        datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
        datetime(2024, 3, 1, 9, 30, 15, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 12, 31, 23, 59, 59, 999500, tzinfo=timezone(timedelta(hours=-8))),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 1000, tzinfo=UTC),
        datetime(2026, 11, 23, 6, 0, tzinfo=UTC),
    ],
}


def _claims() -> list[tuple[str, Any, type]]:
    found = []
    for name, transform in sorted(TRANSFORMS.items()):
        if transform.round_trips is None:
            continue
        for raw in PARAM_VARIANTS.get(name, [None]):
            params = transform.parse_params(raw)
            found.extend((name, raw, kind) for kind in transform.round_trips(params))
    return found


def test_the_claims_cover_what_the_engine_relies_on() -> None:
    claimed = {(name, raw, kind) for name, raw, kind in _claims()}
    assert {("trim", None, str), ("date", None, date), ("datetime", "salesforce", datetime)} <= claimed
    assert not any(name == "datetime" and raw in ("epoch_ms", "odoo") for name, raw, _ in claimed)
    assert not any(name in ("lower", "value_map", "number", "join") for name, _, _ in claimed)


@pytest.mark.parametrize(("name", "raw", "kind"), _claims(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_claimed_value_reads_back_as_it_normalises(name: str, raw: Any, kind: type) -> None:
    transform = TRANSFORMS[name]
    params = transform.parse_params(raw)
    for value in SAMPLES[kind]:
        written = transform.to_remote(value, params, CTX)  # type: ignore[misc]
        read = None if is_blank(written) else transform.from_remote(written, params, CTX)  # type: ignore[misc]
        assert normalize(read) == normalize(value), f"{name}({raw}) on {value!r}: wrote {written!r}"


def test_epoch_milliseconds_really_can_drift_which_is_why_it_makes_no_claim() -> None:
    transform = TRANSFORMS["datetime"]
    params = transform.parse_params("epoch_ms")
    # a float product one ulp short of the millisecond, and truncation toward zero before 1970
    for value in (datetime(2004, 4, 24, 7, 6, 41, 439000, tzinfo=UTC), datetime(1960, 1, 1, 0, 0, 0, 500, tzinfo=UTC)):
        read = transform.from_remote(transform.to_remote(value, params, CTX), params, CTX)  # type: ignore[misc]
        assert normalize(read) != normalize(value)


def _records() -> list[Any]:
    at = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    partner = Partner(id="ptn_rt", name="  Acme Ltd ", tier="gold", status="active", domain="Acme.COM", phone=" 555 ")
    registration = DealRegistration(
        id="reg_rt", partner_id="ptn_rt", customer_name=" Globex ", customer_domain="Globex.com",
        product_lines=["security", "platform"], amount="1234.5", submitted_at=at, approved_at=at + timedelta(days=1),
        expires_at=None,
    )
    opportunity = Opportunity(id="opp_rt", name=" Big deal ", amount="99.999", close_date=date(2024, 6, 30))
    return [partner, registration, opportunity]


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
def test_the_short_read_back_equals_the_full_one_on_the_shipped_mappings(system: str) -> None:
    from prm_sync.sync.context import PushRecord
    from prm_sync.sync.push import PlannedWrite, _read_back
    from prm_sync.sync.slice import Slice

    class Links:
        def remote_id_for(self, entity: str, system: str, prm_id: str) -> str | None:
            return f"R-{prm_id}"

        def prm_id_for(self, entity: str, system: str, remote_id: str) -> str | None:
            return remote_id.removeprefix("R-")

    class Ctx:
        links = Links()

    mappings = load_mappings([ROOT / "mappings"])
    compared = 0
    for record in _records():
        mapping = mappings.for_entity(system, record.entity)
        if mapping is None:
            continue
        sl = Slice.of(mapping)
        values = PushRecord(record).values(sl.push_fields)
        write = PlannedWrite(record=record, key=record.id, action="create",
                             payload=mapping.to_remote(record, Links()), values=values, changed=list(values))
        short = _read_back(Ctx(), sl, write)  # type: ignore[arg-type]
        skipped = [f for f in mapping.readers if f not in mapping.transforming_readers]
        mapping.transforming_readers = mapping.readers  # every field through from_remote
        try:
            full = _read_back(Ctx(), sl, write)  # type: ignore[arg-type]
        finally:
            mapping.transforming_readers = [f for f in mapping.readers if f not in skipped]
        assert short == full, record.entity
        compared += sum(1 for f in skipped if f.round_trips and f.prm in values)
    assert compared >= 3  # trimmed names and datetimes really took the short way
