"""Linking approved registrations to their customer's open opportunity (deal protection in the CRM)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import NOW, customer, opportunity, partner, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import DealRegistration, Opportunity
from prm_sync.rules import linking
from prm_sync.rules.linking import customer_match, deal_customer_name, link_registrations
from prm_sync.rules.normalize import profile
from prm_sync.store.audit import query_audit
from prm_sync.store.records import get_record

EXPIRES = NOW + timedelta(days=60)


def approved(session: Session, rid: str, partner_id: str, name: str, **kw: object) -> DealRegistration:
    kw.setdefault("approved_at", NOW - timedelta(days=30))
    return registration(session, rid, partner_id, name, status="approved", expires_at=EXPIRES, **kw)


def opp(session: Session, oid: str) -> Opportunity:
    found = get_record(session, Opportunity.entity, oid)
    assert isinstance(found, Opportunity)
    return found


def reg(session: Session, rid: str) -> DealRegistration:
    found = get_record(session, DealRegistration.entity, rid)
    assert isinstance(found, DealRegistration)
    return found


def test_links_the_earliest_open_opportunity_and_writes_protection_back(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a", name="Alpha", tier="gold")
    customer(session, "cus_1", "Acme Robotics Inc", domain="acme.com", country="US")
    opportunity(session, "opp_late", end_customer_id="cus_1", close_date=date(2027, 3, 1))
    opportunity(session, "opp_early", end_customer_id="cus_1", close_date=date(2027, 1, 15))
    opportunity(session, "opp_closed", end_customer_id="cus_1", close_date=date(2026, 10, 1), is_closed=True)
    approved(session, "reg_a", "ptn_a", "ACME Robotics LLC", customer_domain="acme.com")

    [outcome] = link_registrations(session, rules, NOW, registration_ids=["reg_a"], run_id="run_1")

    assert (outcome.action, outcome.opportunity_id, outcome.reason) == ("linked", "opp_early", "same domain acme.com")
    linked = opp(session, "opp_early")
    assert (linked.registration_id, linked.registered_partner_id, linked.registration_status) == ("reg_a", "ptn_a", "approved")
    assert (linked.protection_expires_at, linked.partner_tier) == (EXPIRES, "gold")
    assert reg(session, "reg_a").opportunity_id == "opp_early"
    assert opp(session, "opp_late").registration_id is None
    [entry] = [e for e in query_audit(session, record_id="reg_a") if e.action == "registration.link"]
    assert entry.run_id == "run_1" and "earliest open opportunity opp_early" in (entry.reason or "")
    # linked now: a second pass has nothing to do
    assert link_registrations(session, rules, NOW, registration_ids=["reg_a"]) == []


def test_another_partners_protected_opportunity_is_a_conflict_reported_once(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    partner(session, "ptn_b")
    customer(session, "cus_1", "Globex", domain="globex.com", country="US")
    opportunity(session, "opp_1", end_customer_id="cus_1", close_date=date(2027, 1, 1), registration_id="reg_a")
    approved(session, "reg_a", "ptn_a", "Globex", customer_domain="globex.com", submitted_at=NOW - timedelta(days=9),
             opportunity_id="opp_1")
    approved(session, "reg_b", "ptn_b", "Globex Corporation", customer_domain="globex.com")

    [outcome] = link_registrations(session, rules, NOW, registration_ids=["reg_b"], run_id="run_1")

    assert outcome.action == "link_conflict"
    late = reg(session, "reg_b")
    assert late.opportunity_id is None and late.conflict_decision == "conflict"
    assert late.conflict_reason == "conflict: customer already registered or in direct pipeline; under review"
    [audit] = [e for e in query_audit(session, record_id="reg_b") if e.action == "registration.link_conflict"]
    assert "opportunity opp_1 is already protected by registration reg_a of partner ptn_a" in (audit.reason or "")
    assert opp(session, "opp_1").registration_id == "reg_a"
    # the same finding is not reported (or audited) again on the next run
    assert link_registrations(session, rules, NOW, registration_ids=["reg_b"]) == []
    assert len([e for e in query_audit(session, record_id="reg_b") if e.action == "registration.link_conflict"]) == 1


def test_first_come_first_served_between_two_approved_registrations(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    partner(session, "ptn_b")
    customer(session, "cus_1", "Initech", domain="initech.com", country="US")
    opportunity(session, "opp_1", end_customer_id="cus_1", close_date=date(2027, 1, 1))
    approved(session, "reg_late", "ptn_b", "Initech", customer_domain="initech.com", submitted_at=NOW - timedelta(days=1))
    approved(session, "reg_early", "ptn_a", "Initech", customer_domain="initech.com", submitted_at=NOW - timedelta(days=5))

    outcomes = {o.registration_id: o for o in link_registrations(session, rules, NOW, registration_ids=["reg_late", "reg_early"])}

    assert outcomes["reg_early"].action == "linked" and outcomes["reg_late"].action == "link_conflict"


def test_an_opportunity_pulled_later_finds_the_approved_registration(session: Session, rules: RulesConfig,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    partner(session, "ptn_a")
    approved(session, "reg_a", "ptn_a", "Umbrella Corp", customer_country="GB")
    customer(session, "cus_1", "Umbrella Corporation Ltd", country="United Kingdom")
    opportunity(session, "opp_new", end_customer_id="cus_1")
    monkeypatch.setattr(linking, "SWEEP_LIMIT", 0)  # the pulled opportunity must find it without the sweep
    [outcome] = link_registrations(session, rules, NOW, opportunity_ids=["opp_new"])
    assert (outcome.action, outcome.opportunity_id) == ("linked", "opp_new")
    assert outcome.reason == "same name 'umbrella' in GB"


def test_expired_or_unapproved_registrations_are_not_linked(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    customer(session, "cus_1", "Stark", domain="stark.com")
    opportunity(session, "opp_1", end_customer_id="cus_1")
    registration(session, "reg_old", "ptn_a", "Stark", customer_domain="stark.com", status="approved",
                 expires_at=NOW - timedelta(days=1))
    registration(session, "reg_sub", "ptn_a", "Stark", customer_domain="stark.com")
    assert link_registrations(session, rules, NOW, registration_ids=["reg_old", "reg_sub"], opportunity_ids=["opp_1"]) == []


def test_the_sweep_is_bounded_and_takes_the_most_recently_changed(session: Session, rules: RulesConfig,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    partner(session, "ptn_a")
    customer(session, "cus_1", "Wayne", domain="wayne.com")
    customer(session, "cus_2", "Wonka", domain="wonka.com")
    opportunity(session, "opp_1", end_customer_id="cus_1")
    opportunity(session, "opp_2", end_customer_id="cus_2")
    approved(session, "reg_old", "ptn_a", "Wayne", customer_domain="wayne.com", updated_at=NOW - timedelta(days=3))
    approved(session, "reg_new", "ptn_a", "Wonka", customer_domain="wonka.com", updated_at=NOW - timedelta(hours=1))
    monkeypatch.setattr(linking, "SWEEP_LIMIT", 1)
    assert [o.registration_id for o in link_registrations(session, rules, NOW)] == ["reg_new"]
    assert [o.registration_id for o in link_registrations(session, rules, NOW)] == ["reg_old"]


@pytest.mark.parametrize(
    ("reg_kw", "cust_kw", "expected"),
    [
        pytest.param({"domain": "acme.com"}, {"website": "https://www.acme.com/about"}, "same domain acme.com", id="domain"),
        pytest.param({"country": "US"}, {"country": "USA"}, "same name 'acme robotics' in US", id="name-and-country"),
        pytest.param({"country": "US"}, {"country": "DE"}, None, id="name-other-country"),
        pytest.param({"name": "Acme Robotcs"}, {}, "similar name 'Acme Robotics Inc' (core 92)", id="typo-in-generic-word"),
        pytest.param({"name": "Acme Logistics"}, {}, None, id="weak-fuzzy"),
        pytest.param({"name": "Acme Robotcs", "domain": "acme.io"}, {"domain": "acme.com"}, None, id="fuzzy-other-domain"),
    ],
)
def test_customer_match(reg_kw: dict[str, str], cust_kw: dict[str, str], expected: str | None) -> None:
    mine = profile(reg_kw.get("name", "ACME Robotics LLC"), domain=reg_kw.get("domain"), country=reg_kw.get("country"))
    theirs = profile("Acme Robotics Inc", domain=cust_kw.get("domain"), website=cust_kw.get("website"),
                     country=cust_kw.get("country"))
    assert customer_match(mine, theirs) == expected


def test_strong_fuzzy_name_on_the_distinctive_words() -> None:
    found = customer_match(profile("Vandelay Importrs"), profile("Vandelay Importers Inc"))
    assert found == "similar name 'Vandelay Importers Inc' (fuzzy 97)"
    assert customer_match(profile("Vandeley Industries"), profile("Vandelay Industries")) is None  # typo in the core word


def test_a_deal_without_customer_record_matches_on_its_name_only() -> None:
    assert deal_customer_name("Hooli Tech PLC - Platform 12") == "Hooli Tech PLC"
    deal = profile(deal_customer_name("Hooli Tech PLC - Platform 12"))
    assert customer_match(profile("HOOLI TECH LTD"), deal, name_only=True) == "same name 'hooli technologies'"
    assert customer_match(profile("Hooli Tec"), deal, name_only=True) is None
