"""Canonical records survive a trip through the store unchanged, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from sqlalchemy.exc import StatementError

from prm_sync.errors import UsageError
from prm_sync.model import ENTITIES, CanonicalRecord, DealRegistration, Partner, RegistrationStatus
from prm_sync.store import (
    Store,
    count_records,
    delete_record,
    find_by_external_id,
    get_record,
    list_records,
    records,
    save_record,
    save_records,
)
from prm_sync.store.conflict_index import clear_dirty, dirty_records
from prm_sync.store.orm import ENTITY_ROWS

T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
# a non-UTC offset proves the store converts instead of dropping the zone
CET = timezone(timedelta(hours=1))

COMMON: dict[str, Any] = {
    "external_ids": {"salesforce": "001000000000001AAA", "hubspot": "9876543210"},
    "created_at": T0,
    "updated_at": T0 + timedelta(hours=1),
}

# every field set, including the optional ones
FULL: dict[str, dict[str, Any]] = {
    "partner": dict(
        id="ptn_full",
        name="Acme Channel GmbH",
        partner_type="msp",
        tier="gold",
        status="suspended",
        program="emea",
        territory="DACH",
        domain="acme-channel.de",
        website="https://acme-channel.de",
        phone="+49 30 1234",
        city="Berlin",
        country="DE",
        tier_grace_until=date(2024, 12, 31),
    ),
    "partner_contact": dict(
        id="pcn_full",
        partner_id="ptn_full",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@acme-channel.de",
        title="Partner Manager",
        phone="+49 30 5678",
    ),
    "end_customer": dict(
        id="cus_full",
        name="Globex Corporation",
        domain="globex.com",
        website="https://www.globex.com",
        street="1 Globex Way",
        city="Springfield",
        country="US",
        phone="+1 555 0100",
        industry="Manufacturing",
        is_customer=True,
    ),
    "deal_registration": dict(
        id="reg_full",
        partner_id="ptn_full",
        end_customer_id="cus_full",
        customer_name="Globex",
        customer_domain="globex.com",
        customer_country="US",
        customer_city="Springfield",
        customer_phone="+1 555 0100",
        contact_email="buyer@globex.com",
        product_lines=["firewall", "edr"],
        amount=Decimal("125000.50"),
        currency="EUR",
        status="approved",
        submitted_at=T0,
        approved_at=datetime(2024, 3, 2, 10, 0, tzinfo=CET),
        expires_at=T0 + timedelta(days=90),
        opportunity_id="opp_full",
        conflict_decision="review",
        conflict_score=0.8125,
        conflict_reason="fuzzy name match with reg_other",
    ),
    "opportunity": dict(
        id="opp_full",
        name="Globex firewall refresh",
        end_customer_id="cus_full",
        stage="Negotiation",
        amount=Decimal("99999999999.99"),
        currency="GBP",
        close_date=date(2024, 6, 30),
        is_closed=True,
        is_won=True,
        is_direct=False,
        registration_id="reg_full",
        registered_partner_id="ptn_full",
        registration_status="won",
        protection_expires_at=T0 + timedelta(days=90),
        partner_tier="platinum",
        attribution_summary="sourced: Acme (70%), influenced: Initech (30%)",
        conflict_status="conflict",
    ),
    "closure": dict(
        id="clo_full",
        opportunity_id="opp_full",
        outcome="won",
        amount=Decimal("125000.50"),
        currency="EUR",
        close_date=date(2024, 6, 30),
    ),
    "attribution": dict(
        id="att_full",
        closure_id="clo_full",
        opportunity_id="opp_full",
        partner_id="ptn_full",
        registration_id="reg_full",
        role="influenced",
        split_pct=Decimal("33.3333"),
        amount=Decimal("41666.83"),
        currency="EUR",
        reversed=True,
    ),
    "course_completion": dict(
        id="cmp_full",
        contact_id="pcn_full",
        learner_email="ada@acme-channel.de",
        partner_id="ptn_full",
        course_id="FW-201",
        product_line="firewall",
        completed_at=T0,
        score=92.5,
        passed=False,
    ),
    "certification": dict(
        id="crt_full",
        contact_id="pcn_full",
        learner_email="ada@acme-channel.de",
        partner_id="ptn_full",
        product_line="firewall",
        name="Certified Firewall Engineer",
        issued_at=T0,
        expires_at=T0 + timedelta(days=365),
        status="expiring",
    ),
    "invoice": dict(
        id="inv_full",
        number="INV-2024-0001",
        kind="credit_note",
        opportunity_id="opp_full",
        end_customer_id="cus_full",
        amount=Decimal("125000.50"),
        amount_paid=Decimal("62500.25"),
        currency="EUR",
        status="partially_paid",
        issued_at=date(2024, 7, 1),
    ),
    "payment": dict(
        id="pay_full",
        invoice_id="inv_full",
        kind="refund",
        amount=Decimal("-100.01"),
        currency="EUR",
        paid_at=datetime(2024, 7, 15, 23, 59, 59, 999999, tzinfo=CET),
    ),
    "payout": dict(
        id="pout_full",
        partner_id="ptn_full",
        kind="credit_note",
        amount=Decimal("4375.02"),
        currency="EUR",
        period="2024-Q3",
        status="paid",
        attribution_ids=["att_full", "att_other"],
        clawback=Decimal("12.34"),
    ),
}

# only what the model requires; every optional left at its default (mostly None)
MINIMAL: dict[str, dict[str, Any]] = {
    "partner": dict(id="ptn_min", name="P"),
    "partner_contact": dict(id="pcn_min", partner_id="ptn_min", last_name="L"),
    "end_customer": dict(id="cus_min", name="C"),
    "deal_registration": dict(id="reg_min", partner_id="ptn_min", customer_name="C"),
    "opportunity": dict(id="opp_min", name="O"),
    "closure": dict(id="clo_min", opportunity_id="opp_min", outcome="lost", close_date=date(2024, 1, 1)),
    "attribution": dict(
        id="att_min",
        closure_id="clo_min",
        opportunity_id="opp_min",
        partner_id="ptn_min",
        role="sourced",
        split_pct=Decimal("100.0000"),
        amount=Decimal("0.00"),
    ),
    "course_completion": dict(id="cmp_min", learner_email="x@y.z", course_id="C1", completed_at=T0),
    "certification": dict(
        id="crt_min",
        learner_email="x@y.z",
        product_line="edr",
        name="N",
        issued_at=T0,
        expires_at=T0 + timedelta(days=1),
    ),
    "invoice": dict(id="inv_min", number="1", amount=Decimal("1.00"), issued_at=date(2024, 1, 1)),
    "payment": dict(id="pay_min", invoice_id="inv_min", amount=Decimal("1.00"), paid_at=T0),
    "payout": dict(id="pout_min", partner_id="ptn_min", amount=Decimal("0.00"), period="2024-01"),
}


def build(entity: str, values: dict[str, Any]) -> CanonicalRecord:
    return ENTITIES[entity].model_validate({**COMMON, **values})


def test_samples_cover_every_entity_and_every_field() -> None:
    assert set(FULL) == set(MINIMAL) == set(ENTITIES)
    for entity, model in ENTITIES.items():
        unset = set(model.model_fields) - set(COMMON) - set(FULL[entity])
        assert unset == set(), f"{entity} sample leaves {unset} unset"


def test_orm_columns_match_model_fields() -> None:
    assert set(ENTITY_ROWS) == set(ENTITIES)
    for entity, row in ENTITY_ROWS.items():
        columns = {c.key for c in row.__table__.columns}
        assert columns == set(ENTITIES[entity].model_fields) | {"row_version", "field_changed_at"}, entity  # store's


def test_a_save_that_changes_a_record_counts_a_version(store: Store) -> None:
    partner = Partner(id="ptn_versions", name="Versioned Ltd", tier="gold", partner_type="reseller", status="active")
    with store.session() as session:
        records.save_record(session, partner)
    with store.session() as session:
        records.save_record(session, partner)  # the same values: not a new version
    with store.session(readonly=True) as session:
        assert records.row_versions(session, "partner") == {"ptn_versions": 1}
    with store.session() as session:
        records.save_record(session, partner.model_copy(update={"phone": "+1 555 0100"}))  # updated_at untouched
        records.save_records(session, [partner.model_copy(update={"tier": "platinum"})])
    with store.session(readonly=True) as session:
        assert records.row_versions(session, "partner", ["ptn_versions", "ptn_absent"]) == {"ptn_versions": 3}


def test_each_field_remembers_when_its_value_last_changed(store: Store) -> None:
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    partner = Partner(id="ptn_stamps", name="Stamped Ltd", phone="+1 555 0100", created_at=t0, updated_at=t0)
    with store.session() as session:
        records.save_record(session, partner)
        assert records.field_changed_at(session, partner, "phone") == t0  # never changed: its creation
    phone_edit = partner.model_copy(update={"phone": "+1 555 0101", "updated_at": t0 + timedelta(hours=1)})
    name_edit = phone_edit.model_copy(update={"name": "Stamped Group", "updated_at": t0 + timedelta(hours=2)})
    pulled = name_edit.model_copy(update={"city": "Lyon", "updated_at": t0 + timedelta(hours=4)})
    with store.session() as session:
        records.save_record(session, phone_edit)
        records.save_record(session, name_edit)  # the phone keeps its own time
        records.save_record(session, pulled, changed_at=t0 + timedelta(hours=3))  # a CRM edit, at its modstamp
        records.save_record(session, pulled.model_copy(update={"updated_at": t0 + timedelta(hours=5)}))  # no change
    with store.session(readonly=True) as session:
        times = {name: records.field_changed_at(session, pulled, name) for name in ("phone", "name", "city", "country")}
    assert times == {"phone": t0 + timedelta(hours=1), "name": t0 + timedelta(hours=2),
                     "city": t0 + timedelta(hours=3), "country": t0}


def test_update_fields_is_a_save_of_known_changes(store: Store) -> None:
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    regs = [DealRegistration(id=f"reg_{i}", partner_id="ptn_a", customer_name=f"Customer {i}", created_at=t0,
                             updated_at=t0) for i in range(3)]
    with store.session() as session:
        records.save_records(session, regs)
        clear_dirty(session, dirty_records(session)[0])
    later = t0 + timedelta(hours=1)
    with store.session() as session:
        held = records.get_record(session, "deal_registration", "reg_0")  # a row this session holds
        assert held is not None and held.status == "submitted"
        records.update_fields(session, "deal_registration", {
            "reg_0": {"status": RegistrationStatus.under_review, "conflict_score": 75.0},
            "reg_1": {"conflict_score": 10.0},
            "reg_absent": {"conflict_score": 1.0},
        }, now=later)
        reread = records.get_record(session, "deal_registration", "reg_0")
        assert reread is not None and (reread.status, reread.conflict_score, reread.updated_at) == ("under_review", 75.0, later)
        assert dirty_records(session)[1] == {"deal_registration": {"reg_0", "reg_1"}}  # the conflict index will catch up
    with store.session(readonly=True) as session:
        assert records.row_versions(session, "deal_registration") == {"reg_0": 2, "reg_1": 2, "reg_2": 1}
        assert records.field_changed_at(session, regs[0], "status") == later
        assert records.field_changed_at(session, regs[1], "status") == t0  # not changed: its creation
        assert records.get_record(session, "deal_registration", "reg_2") == regs[2]


@pytest.mark.parametrize("entity", sorted(FULL))
@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_record_round_trips_exactly(store: Store, entity: str, variant: str) -> None:
    record = build(entity, (FULL if variant == "full" else MINIMAL)[entity])
    with store.session() as session:
        save_record(session, record)
    with store.session() as session:
        loaded = get_record(session, entity, record.id)
    assert loaded == record
    for name in type(record).model_fields:
        before, after = getattr(record, name), getattr(loaded, name)
        assert after == before, name
        if isinstance(before, Enum):  # model defaults keep the member; stored values come back plain
            assert type(after) is str, name
        else:
            assert type(after) is type(before), name
        if isinstance(after, datetime):
            assert after.utcoffset() == timedelta(0), f"{name} should come back in UTC"
        if isinstance(after, Decimal):
            # money comes back at its column's scale: 2 places (4 for split_pct)
            assert after.as_tuple().exponent == (-4 if name == "split_pct" else -2), name


def test_save_updates_an_existing_record(store: Store) -> None:
    record = build("partner", FULL["partner"])
    with store.session() as session:
        save_record(session, record)
    changed = record.model_copy(
        update={"tier": "platinum", "territory": None, "updated_at": T0 + timedelta(days=1)}
    )
    with store.session() as session:
        save_record(session, changed)
    with store.session() as session:
        assert get_record(session, "partner", record.id) == changed
        assert count_records(session, "partner") == 1


def test_find_by_external_id_follows_changes(store: Store) -> None:
    record = build("partner", FULL["partner"])
    with store.session() as session:
        save_record(session, record)
        assert find_by_external_id(session, "partner", "salesforce", "001000000000001AAA") == record
    moved = record.model_copy(update={"external_ids": {"salesforce": "001000000000002AAA"}})
    with store.session() as session:
        save_record(session, moved)
    with store.session() as session:
        assert find_by_external_id(session, "partner", "salesforce", "001000000000001AAA") is None
        assert find_by_external_id(session, "partner", "hubspot", "9876543210") is None
        assert find_by_external_id(session, "partner", "salesforce", "001000000000002AAA") == moved
        assert find_by_external_id(session, "end_customer", "salesforce", "001000000000002AAA") is None


def test_add_external_ids_changes_one_system_and_keeps_the_others(store: Store) -> None:
    first = Partner(id="ptn_ids_1", name="One", external_ids={"salesforce": "001A"})
    second = Partner(id="ptn_ids_2", name="Two")
    with store.session() as session:
        save_records(session, [first, second])
    with store.session() as session:
        records.add_external_ids(session, "partner", "hubspot", {"ptn_ids_1": "11", "ptn_ids_2": "22"})
    with store.session() as session:
        records.add_external_ids(session, "partner", "salesforce", {"ptn_ids_1": "001B", "ptn_ids_2": "002A"})
        records.add_external_ids(session, "partner", "hubspot", {"ptn_ids_2": "22"})  # unchanged: nothing to do
    with store.session() as session:
        assert get_record(session, "partner", "ptn_ids_1").external_ids == {"salesforce": "001B", "hubspot": "11"}
        assert get_record(session, "partner", "ptn_ids_2").external_ids == {"hubspot": "22", "salesforce": "002A"}
        assert find_by_external_id(session, "partner", "salesforce", "001A") is None  # the replaced id is gone
        assert find_by_external_id(session, "partner", "salesforce", "001B").id == "ptn_ids_1"
        assert find_by_external_id(session, "partner", "hubspot", "11").id == "ptn_ids_1"
        assert find_by_external_id(session, "partner", "hubspot", "22").id == "ptn_ids_2"
        assert find_by_external_id(session, "partner", "salesforce", "002A").id == "ptn_ids_2"


def test_list_records_filters_and_orders(store: Store) -> None:
    partners = [
        Partner(id=f"ptn_{i}", name=f"P{i}", created_at=T0, updated_at=T0 + timedelta(minutes=10 - i))
        for i in range(5)
    ]
    with store.session() as session:
        save_records(session, partners)
    with store.session() as session:
        assert [p.id for p in list_records(session, "partner")] == [
            "ptn_4",
            "ptn_3",
            "ptn_2",
            "ptn_1",
            "ptn_0",
        ]
        since = list_records(session, "partner", updated_since=T0 + timedelta(minutes=8))
        assert [p.id for p in since] == ["ptn_2", "ptn_1", "ptn_0"]
        assert [p.id for p in list_records(session, "partner", limit=2)] == ["ptn_4", "ptn_3"]
        chosen = list_records(session, "partner", ids=["ptn_0", "ptn_3", "ptn_missing"])
        assert [p.id for p in chosen] == ["ptn_3", "ptn_0"]
        assert count_records(session, "partner") == 5


def test_delete_record_removes_row_and_external_ids(store: Store) -> None:
    record = build("partner", FULL["partner"])
    with store.session() as session:
        save_record(session, record)
    with store.session() as session:
        assert delete_record(session, "partner", record.id) is True
        assert delete_record(session, "partner", record.id) is False
    with store.session() as session:
        assert get_record(session, "partner", record.id) is None
        assert find_by_external_id(session, "partner", "salesforce", "001000000000001AAA") is None


def test_money_is_rounded_half_even_on_both_backends(store: Store) -> None:
    record = build(
        "invoice", {**MINIMAL["invoice"], "amount": Decimal("10.005"), "amount_paid": Decimal("10.015")}
    )
    with store.session() as session:
        save_record(session, record)
    with store.session() as session:
        loaded = get_record(session, "invoice", record.id)
    assert loaded is not None
    assert (loaded.amount, loaded.amount_paid) == (Decimal("10.00"), Decimal("10.02"))


def test_naive_datetime_is_refused(store: Store) -> None:
    record = build("partner", MINIMAL["partner"])
    record.updated_at = datetime(2024, 1, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"), store.session() as session:
        save_record(session, record)


def test_unknown_entity_is_a_usage_error(store: Store) -> None:
    with pytest.raises(UsageError, match="unknown entity 'widget'"), store.session() as session:
        get_record(session, "widget", "w_1")


def test_ids_made_in_one_millisecond_never_repeat_and_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two records given one id are one record to save_records: a fast pull draws many ids per millisecond."""
    import time

    from prm_sync.model import new_id

    frozen = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: frozen)
    ids = [new_id("reg") for _ in range(300_000)]  # 32 random bits alone: ~10 repeats expected
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert {len(i) for i in ids} == {len("reg_") + 20}
