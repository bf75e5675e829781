"""Closures and attribution: one sourced partner, influencers, fulfilment, splits never over 100 %."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import NOW, customer, opportunity, partner, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import Attribution, DealRegistration, Opportunity
from prm_sync.rules.attribution import attribute_opportunity
from prm_sync.store.records import get_record, list_records, save_record


def attributions(session: Session) -> list[Attribution]:
    return [a for a in list_records(session, "attribution") if isinstance(a, Attribution)]


def won_deal(session: Session, **kw: object) -> None:
    customer(session, "cus_1", "Acme Robotics Inc", domain="acme.com", country="US")
    opportunity(session, "opp_1", end_customer_id="cus_1", is_closed=True, is_won=True, stage="Closed Won",
                close_date=date(2026, 11, 1), amount=Decimal("200000"), **kw)


def approved(session: Session, rid: str, pid: str, name: str = "Acme Robotics", days_left: int = 30,
             submitted_days_ago: int = 61, **kw: object) -> None:
    registration(session, rid, pid, name, status="approved", approved_at=NOW - timedelta(days=60),
                 expires_at=NOW + timedelta(days=days_left), submitted_at=NOW - timedelta(days=submitted_days_ago), **kw)


def test_sourced_by_linked_registration_with_write_back(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1", name="Acme Partners", tier="gold")
    approved(session, "reg_1", "ptn_1")
    won_deal(session, registration_id="reg_1")
    outcome = attribute_opportunity(session, "opp_1", rules, NOW)
    assert outcome.action == "attributed"
    [att] = attributions(session)
    assert (att.role, att.split_pct, att.amount, att.registration_id) == ("sourced", Decimal("15"), Decimal("30000.00"), "reg_1")
    opp = get_record(session, "opportunity", "opp_1")
    assert isinstance(opp, Opportunity)
    assert opp.attribution_summary == "Sourced: Acme Partners (15%)"
    assert (opp.registered_partner_id, opp.registration_status, opp.partner_tier) == ("ptn_1", "won", "gold")
    reg = get_record(session, "deal_registration", "reg_1")
    assert isinstance(reg, DealRegistration) and (reg.status, reg.opportunity_id) == ("won", "opp_1")


def test_rerun_never_attributes_twice(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1")
    approved(session, "reg_1", "ptn_1")
    won_deal(session, registration_id="reg_1")
    for _ in range(3):
        attribute_opportunity(session, "opp_1", rules, NOW)
    assert len(attributions(session)) == 1
    assert len(list_records(session, "closure")) == 1


def test_customer_match_influencer_and_fulfilling_reseller(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_si", name="SI Co", partner_type="system_integrator")
    partner(session, "ptn_res", name="Resell Co", partner_type="reseller")
    partner(session, "ptn_ref", name="Referral Co", partner_type="referral")
    approved(session, "reg_si", "ptn_si", "ACME Robotics LLC", submitted_days_ago=70)  # first: sourced
    approved(session, "reg_res", "ptn_res", "Acme Robotics", customer_domain="acme.com", submitted_days_ago=65)
    approved(session, "reg_ref", "ptn_ref", "Acme Robotics Inc.", end_customer_id="cus_1", submitted_days_ago=62)
    approved(session, "reg_gone", "ptn_ref", "Acme Robotics", days_left=-5)
    won_deal(session)
    attribute_opportunity(session, "opp_1", rules, NOW)
    roles = {a.partner_id: (a.role, a.split_pct) for a in attributions(session)}
    assert roles == {"ptn_si": ("sourced", Decimal("10")), "ptn_res": ("fulfilled", Decimal("5")),
                     "ptn_ref": ("influenced", Decimal("2"))}


def test_expired_linked_registration_is_not_sourced(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1")
    approved(session, "reg_1", "ptn_1", "Someone Else", days_left=-30)
    won_deal(session, registration_id="reg_1")
    assert attribute_opportunity(session, "opp_1", rules, NOW).action == "none"
    assert attributions(session) == []


@pytest.mark.parametrize(
    ("sourced", "influenced", "n_influencers", "expected_total"),
    [
        pytest.param(10, 2, 3, Decimal("16"), id="under-100-unchanged"),
        pytest.param(60, 30, 2, Decimal("100"), id="over-100-scaled"),
        pytest.param(100, 100, 4, Decimal("100"), id="far-over-100-scaled"),
    ],
)
def test_splits_never_exceed_100_percent(session: Session, sourced: float, influenced: float, n_influencers: int,
                                         expected_total: Decimal) -> None:
    rules = RulesConfig.model_validate({"attribution": {"default": {"sourced": sourced, "influenced": influenced, "fulfilled": 0}}})
    partner(session, "ptn_0", partner_type="referral")
    approved(session, "reg_0", "ptn_0")
    for i in range(1, n_influencers + 1):
        partner(session, f"ptn_{i}", partner_type="referral")
        approved(session, f"reg_{i}", f"ptn_{i}", end_customer_id="cus_1")
    won_deal(session, registration_id="reg_0")
    outcome = attribute_opportunity(session, "opp_1", rules, NOW)
    total = sum((a.split_pct for a in attributions(session)), Decimal("0"))
    assert abs(total - expected_total) < Decimal("0.001")
    assert sum((a.amount for a in attributions(session)), Decimal("0")) <= Decimal("200000")
    assert bool(outcome.reasons) is (expected_total == 100)


def test_reopened_deal_reverses_then_rewin_attributes_once(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1")
    approved(session, "reg_1", "ptn_1")
    won_deal(session, registration_id="reg_1")
    attribute_opportunity(session, "opp_1", rules, NOW)
    opp = get_record(session, "opportunity", "opp_1")
    assert isinstance(opp, Opportunity)
    save_record(session, opp.model_copy(update={"is_closed": False, "is_won": False, "stage": "Negotiation"}))
    assert attribute_opportunity(session, "opp_1", rules, NOW).action == "reversed"
    assert [a.reversed for a in attributions(session)] == [True]
    save_record(session, opp)
    assert attribute_opportunity(session, "opp_1", rules, NOW).action == "attributed"
    assert attribute_opportunity(session, "opp_1", rules, NOW).action == "unchanged"
    assert sorted(a.reversed for a in attributions(session)) == [False, True]


def test_closed_lost_marks_registration_lost(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1")
    approved(session, "reg_1", "ptn_1")
    customer(session, "cus_1", "Acme")
    opportunity(session, "opp_1", end_customer_id="cus_1", is_closed=True, is_won=False, registration_id="reg_1",
                close_date=date(2026, 11, 1))
    assert attribute_opportunity(session, "opp_1", rules, NOW).action == "lost"
    reg = get_record(session, "deal_registration", "reg_1")
    assert isinstance(reg, DealRegistration) and reg.status == "lost"
    assert attributions(session) == []
