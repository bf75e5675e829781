"""Transforms: each codec round-trips, each derivation does its one job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from prm_sync.mapping.context import DictMappingContext, MappingValueError, TransformContext
from prm_sync.mapping.transforms import TRANSFORMS

CTX = DictMappingContext()
CTX.add("partner", "salesforce", "ptn_1", "001A")
TCTX = TransformContext("salesforce", CTX)


def _to(name: str, value: Any, params: Any = None) -> Any:
    t = TRANSFORMS[name]
    return t.to_remote(value, t.parse_params(params), TCTX)  # type: ignore[misc]


def _from(name: str, value: Any, params: Any = None) -> Any:
    t = TRANSFORMS[name]
    return t.from_remote(value, t.parse_params(params), TCTX)  # type: ignore[misc]


ROUND_TRIPS = [
    pytest.param(
        "value_map", "gold", {"values": {"gold": "Gold", "silver": "Silver"}}, "Gold", id="value-map"
    ),
    pytest.param("date", date(2024, 1, 31), None, "2024-01-31", id="date"),
    pytest.param(
        "datetime",
        datetime(2024, 1, 31, 10, tzinfo=UTC),
        "salesforce",
        "2024-01-31T10:00:00.000+0000",
        id="datetime-salesforce",
    ),
    pytest.param(
        "datetime", datetime(2024, 1, 31, 10, tzinfo=UTC), "iso", "2024-01-31T10:00:00Z", id="datetime-iso"
    ),
    pytest.param(
        "datetime", datetime(2024, 1, 31, 10, tzinfo=UTC), "epoch_ms", 1706695200000, id="datetime-epoch-ms"
    ),
    pytest.param(
        "datetime", datetime(2024, 1, 31, 10, tzinfo=UTC), "odoo", "2024-01-31 10:00:00", id="datetime-odoo"
    ),
    pytest.param("number", Decimal("12.35"), 2, 12.35, id="number"),
    pytest.param("currency", Decimal("1234.5"), "USD", "1,234.50 USD", id="currency"),
    pytest.param("join", ["Platform", "Security"], None, "Platform;Security", id="join-multi-select"),
    pytest.param("split", "a;b", None, ["a", "b"], id="split"),
    pytest.param("bool", True, None, "true", id="bool-hubspot-text"),
    pytest.param("lookup", "ptn_1", {"entity": "partner"}, "001A", id="lookup"),
    pytest.param("trim", "Acme", None, "Acme", id="trim"),
    pytest.param(
        "timezone",
        datetime(2024, 1, 31, 10, tzinfo=UTC),
        "Europe/Berlin",
        datetime(2024, 1, 31, 11, tzinfo=timezone(timedelta(hours=1))),
        id="timezone",
    ),
]


@pytest.mark.parametrize(("name", "canonical", "params", "remote"), ROUND_TRIPS)
def test_codec_round_trips(name: str, canonical: Any, params: Any, remote: Any) -> None:
    assert TRANSFORMS[name].two_way
    assert _to(name, canonical, params) == remote
    assert _from(name, remote, params) == canonical
    assert _to(name, None, params) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-01-31T10:00:00.000+0000", datetime(2024, 1, 31, 10, tzinfo=UTC), id="salesforce"),
        pytest.param("2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC), id="hubspot-iso"),
        pytest.param("1706695200000", datetime(2024, 1, 31, 10, tzinfo=UTC), id="hubspot-epoch-ms"),
        pytest.param("2024-01-31 10:00:00", datetime(2024, 1, 31, 10, tzinfo=UTC), id="odoo-utc"),
    ],
)
def test_datetime_reads_every_system_as_aware_utc(text: str, expected: datetime) -> None:
    parsed = _from("datetime", text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("name", "value", "params", "expected"),
    [
        pytest.param(
            "domain_from_url", "https://www.Acme.com:443/about?x=1", None, "acme.com", id="domain-from-url"
        ),
        pytest.param("domain_from_email", "Jane@Acme.COM", None, "acme.com", id="domain-from-email"),
        pytest.param("split_name", "Jane van Doe", "first", "Jane van", id="split-name-first"),
        pytest.param("split_name", "Jane van Doe", "last", "Doe", id="split-name-last"),
        pytest.param("concat", {"a": "Jane", "b": "Doe"}, {"fields": ["a", "b"]}, "Jane Doe", id="concat"),
        pytest.param("sum", {"a": Decimal("0"), "b": Decimal("80.505")}, {"fields": ["a", "b"]}, 80.51, id="sum"),
        pytest.param("sum", {"a": "12.5", "b": None}, {"fields": ["a", "b"], "places": None}, 12.5, id="sum-blank-is-0"),
        pytest.param("constant", "anything", True, True, id="constant"),
        pytest.param("strip_prefix", "mailto:j@a.io", "mailto:", "j@a.io", id="strip-prefix"),
        pytest.param("truncate", "abcdef", 3, "abc", id="truncate"),
        pytest.param("many2one", [7, "EUR"], "name", "EUR", id="many2one-name"),
        pytest.param(
            "reference", "ptn_1", {"relationship": "Partner__r"}, {"PRM_Id__c": "ptn_1"}, id="reference"
        ),
    ],
)
def test_one_way_transforms(name: str, value: Any, params: Any, expected: Any) -> None:
    assert not TRANSFORMS[name].two_way
    assert _to(name, value, params) == expected


@pytest.mark.parametrize(
    ("name", "value", "params", "fragment"),
    [
        pytest.param(
            "value_map", "diamond", {"values": {"gold": "Gold"}}, "unmapped value 'diamond'", id="unmapped"
        ),
        pytest.param("datetime", "31/01/2024", None, "unparsable datetime", id="bad-datetime"),
        pytest.param("number", "n/a", None, "not a number", id="bad-number"),
        pytest.param("bool", "maybe", None, "not a boolean", id="bad-bool"),
        pytest.param(
            "lookup", "ptn_9", {"entity": "partner"}, "no salesforce remote id known", id="unknown-id"
        ),
    ],
)
def test_bad_values_raise_record_errors(name: str, value: Any, params: Any, fragment: str) -> None:
    with pytest.raises(MappingValueError) as info:
        _to(name, value, params) if name != "datetime" else _from(name, value, params)
    assert fragment in str(info.value)
    assert info.value.value == value


def test_value_map_default_and_many_to_one() -> None:
    params = {"values": {"true": ["passed", "completed"], "false": "failed"}, "default": "other"}
    assert _from("value_map", "completed", params) == "true"
    assert _to("value_map", "unknown", params) == "other"


def test_lookup_missing_null_keeps_going() -> None:
    assert _from("lookup", "001Z", {"entity": "partner", "missing": "null"}) is None
    assert _from("lookup", "001A", "partner") == "ptn_1"


NUMBER_TEXT = [  # how systems write numbers -> the Decimal read (`number: 2`)
    pytest.param("1.5E7", Decimal("15000000.00"), id="HubSpot exponent notation"),
    pytest.param("2.5e3", Decimal("2500.00"), id="lower-case exponent"),
    pytest.param("125E-2", Decimal("1.25"), id="negative exponent"),
    pytest.param("+42", Decimal("42.00"), id="explicit sign"),
    pytest.param(".5", Decimal("0.50"), id="no leading zero"),
    pytest.param("$1,234.50", Decimal("1234.50"), id="symbol and thousands separators"),
    pytest.param("1,234.50 USD", Decimal("1234.50"), id="ISO code after"),
    pytest.param("123456789012345678901234567890", Decimal("123456789012345678901234567890.00"),
                 id="30 digits read exactly (the store decides whether it fits)"),
    pytest.param(1e30, Decimal("1000000000000000000000000000000.00"), id="a JSON 1e30"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBER_TEXT)
def test_numbers_are_read_as_their_systems_write_them(value: Any, expected: Decimal) -> None:
    assert _from("number", value, 2) == expected


NOT_NUMBERS = [
    pytest.param("NaN", "not a number", id="NaN"),
    pytest.param("Infinity", "not a number", id="infinity"),
    pytest.param("1e400", "number out of range", id="past 10**100"),
    pytest.param("1.2.3", "not a number", id="two points"),
    pytest.param("12abc34", "not a number", id="letters inside (once dropped: 1234)"),
    pytest.param("99999999999999999999", "epoch milliseconds out of range", id="epoch ms past the calendar"),
]


@pytest.mark.parametrize(("value", "fragment"), NOT_NUMBERS)
def test_values_no_record_can_hold_are_mapping_errors(value: str, fragment: str) -> None:
    name = "datetime" if fragment.startswith("epoch") else "number"
    with pytest.raises(MappingValueError) as info:
        _from(name, value, 2 if name == "number" else None)
    assert fragment in str(info.value) and info.value.value == value


def test_year_one_is_written_with_four_digits() -> None:
    when = datetime(1, 1, 1, tzinfo=UTC)
    assert _to("datetime", when, "salesforce") == "0001-01-01T00:00:00.000+0000"
    assert _to("datetime", when, "odoo") == "0001-01-01 00:00:00"


def test_first_of_takes_the_first_field_with_a_value_and_looks_remote_ids_up() -> None:
    params = {"fields": ["partner_prm_id", "associations.companies"], "lookup": {"associations.companies": "partner"}}
    assert _from("first_of", {"partner_prm_id": "ptn_9", "associations.companies": "001A"}, params) == "ptn_9"
    assert _from("first_of", {"partner_prm_id": "", "associations.companies": "001A"}, params) == "ptn_1"
    assert _from("first_of", {"partner_prm_id": None, "associations.companies": "001Z"}, params) is None  # not ours
    assert _from("first_of", {"partner_prm_id": None, "associations.companies": None}, params) is None


def test_crm_ref_reads_a_crm_id_as_ours_and_keeps_our_own_id() -> None:
    assert _from("crm_ref", "001A", {"entity": "partner", "systems": ["hubspot", "salesforce"]}) == "ptn_1"
    assert _from("crm_ref", "opp_7", "opportunity") == "opp_7"  # already ours
    assert _from("crm_ref", "", "opportunity") is None
