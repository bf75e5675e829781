"""Compiled mappings: to/from remote, keys, hashing, merge rules and speed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time

from prm_sync.mapping.apply import MappingSet, ObjectMapping, load_mappings
from prm_sync.mapping.context import DictMappingContext, MappingValueError
from prm_sync.model import Partner, utcnow

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

RULES_YAML = """\
version: 1
system: salesforce
objects:
  - entity: partner
    remote_object: Account
    match: {external_id: PRM_Id__c}
    fields:
      - {prm: name, remote: Name, rule: prefer_prm}
      - {prm: territory, remote: Territory__c, rule: prefer_remote}
      - {prm: website, remote: Website, rule: prefer_remote_unless_blank}
      - {prm: phone, remote: Phone, rule: newest}
      - {prm: city, remote: BillingCity, rule: manual_review}
      - {prm: country, remote: BillingCountry, direction: from_remote}
      - {prm: domain, remote: Domain__c, direction: to_remote}
"""


@pytest.fixture(scope="module")
def shipped() -> MappingSet:
    return load_mappings(MAPPINGS)


@pytest.fixture
def rules(tmp_path: Path) -> ObjectMapping:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    mapping = load_mappings([path]).for_entity("salesforce", "partner")
    assert mapping is not None
    return mapping


def _times() -> tuple[datetime, datetime]:
    with freeze_time("2024-01-31 10:00:00"):
        prm_at = utcnow()
    with freeze_time("2024-01-31 11:00:00"):
        remote_at = utcnow()
    return prm_at, remote_at


PRM = {
    "name": "Acme",
    "territory": "EMEA",
    "website": "acme.com",
    "phone": "1",
    "city": "Berlin",
    "country": "DE",
    "domain": "acme.com",
}
REMOTE = {
    "name": "ACME Corp",
    "territory": "APAC",
    "website": None,
    "phone": "2",
    "city": "Munich",
    "country": "FR",
    "domain": "other.com",
}


@pytest.mark.parametrize(
    ("field", "winner", "value"),
    [
        pytest.param("name", "prm", "Acme", id="prefer-prm"),
        pytest.param("territory", "remote", "APAC", id="prefer-remote"),
        pytest.param("website", "prm", "acme.com", id="prefer-remote-unless-blank-blank-remote"),
        pytest.param("phone", "remote", "2", id="newest-remote-later"),
        pytest.param("city", "review", "Berlin", id="manual-review-keeps-prm"),
        pytest.param("country", "remote", "FR", id="from-remote-only"),
        pytest.param("domain", "prm", "acme.com", id="to-remote-only"),
    ],
)
def test_merge_by_rule(rules: ObjectMapping, field: str, winner: str, value: str) -> None:
    prm_at, remote_at = _times()
    result = rules.merge(PRM, REMOTE, None, prm_at, remote_at)
    assert result.decisions[field].winner == winner
    assert result.values[field] == value


def test_merge_newest_prefers_prm_when_prm_is_later(rules: ObjectMapping) -> None:
    prm_at, remote_at = _times()
    result = rules.merge(PRM, REMOTE, None, remote_at, prm_at)
    assert result.decisions["phone"].winner == "prm"


def test_merge_review_lists_both_values_and_never_writes_them(rules: ObjectMapping) -> None:
    result = rules.merge(PRM, REMOTE, None, *_times())
    assert [(r.field, r.prm_value, r.remote_value) for r in result.review] == [("city", "Berlin", "Munich")]
    assert "BillingCity" not in result.to_remote_fields
    assert result.to_remote_fields == {"Name": "Acme", "Website": "acme.com", "Domain__c": "acme.com"}


def test_merge_with_base_takes_the_side_that_changed(rules: ObjectMapping) -> None:
    base = {**PRM, "name": "ACME Corp"}  # only the PRM changed the name; only the remote changed territory
    remote = {**PRM, "territory": "APAC", "name": "ACME Corp"}
    result = rules.merge(PRM, remote, base, *_times())
    assert result.decisions["name"].rule == "one_side_changed"
    assert result.values["name"] == "Acme"
    assert result.values["territory"] == "APAC"
    assert result.to_remote_fields == {"Name": "Acme"}


def test_to_remote_accepts_a_canonical_record(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("salesforce", "partner")
    assert mapping is not None
    record = Partner(id="ptn_1", name=" Acme ", tier="gold", website="https://acme.com")
    out = mapping.to_remote(record)
    assert out["Name"] == "Acme" and out["Partner_Tier__c"] == "Gold" and out["IsPartner"] is True
    assert out["Territory__c"] is None
    assert mapping.key_field == "PRM_Id__c"


def test_opportunity_write_back_is_keyed_by_remote_id(shipped: MappingSet) -> None:
    opp = shipped.for_entity("salesforce", "opportunity")
    assert opp is not None
    assert opp.key_field == "Id" and opp.writes_by_remote_id
    assert "Registered_Partner__c" not in opp.remote_fields_to_read()
    assert {"Name", "StageName", "CloseDate", "IsWon", "AccountId", "Id"} <= set(opp.remote_fields_to_read())


def test_from_remote_record_error_names_the_field(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("salesforce", "opportunity")
    assert mapping is not None
    with pytest.raises(MappingValueError) as info:
        mapping.from_remote({"Name": "x", "CloseDate": "31/03/2024"})
    assert info.value.field == "close_date"
    assert str(info.value).startswith("salesforce.opportunity.close_date: unparsable")


def test_required_blank_is_a_record_error(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("salesforce", "partner")
    assert mapping is not None
    with pytest.raises(MappingValueError, match="required value is blank"):
        mapping.to_remote({"id": "ptn_1", "name": "  "})


def test_content_hash_ignores_representation(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("salesforce", "deal_registration")
    assert mapping is not None
    a = {
        "amount": Decimal("10.00"),
        "submitted_at": datetime(2024, 1, 31, 10, tzinfo=UTC),
        "customer_name": "G",
    }
    b = {
        "amount": 10,
        "submitted_at": datetime(2024, 1, 31, 10),
        "customer_name": "G",
        "created_at": date.today(),
    }
    assert mapping.content_hash(a) == mapping.content_hash(b)
    assert mapping.content_hash(a) != mapping.content_hash({**a, "customer_name": "H"})


def test_associations_resolve_through_the_id_map(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("hubspot", "partner_contact")
    assert mapping is not None
    ctx = DictMappingContext()
    ctx.add("partner", "hubspot", "ptn_1", "901")
    assert mapping.associations_for({"partner_id": "ptn_1"}, ctx) == [("companies", "901")]


def test_natural_key_of_lms_completion(shipped: MappingSet) -> None:
    mapping = shipped.for_entity("lms", "course_completion")
    assert mapping is not None
    assert mapping.natural_key_of({"learner_email": "j@a.io", "course_id": "c1"}) == ("j@a.io", "c1")


def test_version_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(RULES_YAML)
    first = load_mappings([path]).version
    path.write_text(RULES_YAML.replace("rule: newest", "rule: prefer_prm"))
    assert load_mappings([path]).version != first
