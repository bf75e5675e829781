"""Conflict decisions on realistic variants, first come first served, product overlap, storage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import NOW, customer, opportunity, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.model import DealRegistration
from prm_sync.rules.candidates import Candidate, CandidateKind, RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker, check_registrations
from prm_sync.rules.normalize import profile
from prm_sync.store.audit import query_audit
from prm_sync.store.conflicts import latest_conflict_check
from prm_sync.store.records import get_record

RULES = ConflictRules()
ACCOUNT: dict[str, Any] = {
    "name": "Acme Robotics Inc.", "domain": "acme-robotics.com", "country": "US", "city": "Austin",
    "phone": "+1 512 555 0100", "street": "12 Market Street",
}
BIG_BLUE: dict[str, Any] = {"name": "International Business Machines Corp", "country": "US", "city": "Armonk",
                            "phone": "+1 914 499 1900"}


def checker(*accounts: dict[str, Any]) -> ConflictChecker:
    c = ConflictChecker(RULES)
    for i, acc in enumerate(accounts):
        c.add(Candidate(kind=CandidateKind.customer, record_id=f"cus_{i}", label=acc["name"],
                        profile=profile(public_domains=RULES.public_mail_domains, **acc)))
    return c


def query(**kw: Any) -> RegistrationQuery:
    emails = [kw.pop("email")] if "email" in kw else []
    return RegistrationQuery(profile=profile(emails=emails, public_domains=RULES.public_mail_domains, **kw),
                             record_id="reg_new", partner_id="ptn_new", submitted_at=NOW)


@pytest.mark.parametrize(
    ("fields", "decision"),
    [
        pytest.param({"name": "Totally Different", "domain": "https://www.acme-robotics.com/about"}, "conflict", id="same-domain-from-url"),
        pytest.param({"name": "Acme", "email": "cto@acme-robotics.com"}, "conflict", id="same-domain-from-email"),
        pytest.param({"name": "ACME ROBOTICS, LLC", "country": "United States"}, "conflict", id="legal-suffix-and-case"),
        pytest.param({"name": "Acme Robotics GmbH", "country": "DE"}, "review", id="same-name-other-country"),
        pytest.param({"name": "Acme Robotcs", "country": "US", "city": "Austin", "phone": "(512) 555-0100"}, "conflict", id="typo-with-phone"),
        pytest.param({"name": "Acme Robtoics", "country": "US", "city": "Austin"}, "review", id="typo-with-city"),
        pytest.param({"name": "Acme Robotics", "email": "buyer@gmail.com", "country": "US"}, "conflict", id="public-mail-not-a-domain"),
        pytest.param({"name": "Acme Robotix", "email": "buyer@gmail.com", "city": "Austin", "country": "US"}, "review", id="gmail-contact-fuzzy-name"),
        pytest.param({"name": "Acme Robotic", "street": "12 Market St.", "city": "Austin", "country": "USA"}, "conflict", id="address-format"),
        pytest.param({"name": "Zenith Foods", "city": "Austin", "country": "US"}, "clear", id="unrelated"),
        pytest.param({"name": "Acme Foods", "city": "Boston", "country": "US"}, "clear", id="same-first-word-other-business"),
    ],
)
def test_variants_against_an_account(fields: dict[str, Any], decision: str) -> None:
    result = checker(ACCOUNT).check(query(**fields))
    assert result.decision == decision, result.reasons
    if decision != "clear":
        assert result.matches[0].record_id == "cus_0"
        assert result.reasons and "existing customer cus_0" in result.reasons[0]


@pytest.mark.parametrize(
    ("fields", "decision"),
    [
        pytest.param({"name": "IBM", "country": "US", "city": "Armonk"}, "review", id="acronym-with-city"),
        pytest.param({"name": "IBM Inc", "country": "US", "phone": "914-499-1900"}, "conflict", id="acronym-with-phone"),
        pytest.param({"name": "Intl Business Machines", "country": "US"}, "conflict", id="abbreviation"),
        pytest.param({"name": "IBM", "country": "FR"}, "clear", id="acronym-other-country"),
    ],
)
def test_acronyms_and_abbreviations(fields: dict[str, Any], decision: str) -> None:
    assert checker(BIG_BLUE).check(query(**fields)).decision == decision


def test_reason_names_domain_record_partner_and_date() -> None:
    c = ConflictChecker(RULES)
    c.add(Candidate(kind=CandidateKind.registration, record_id="reg_12", partner_id="ptn_3",
                    profile=profile("Acme", domain="acme.com"), submitted_at=NOW - timedelta(days=32)))
    result = c.check(query(name="Acme Corp", domain="acme.com"))
    assert result.reasons == ["same domain acme.com as registration reg_12 by partner ptn_3 submitted 2026-10-01"]
    assert result.matches[0].matched_fields == ["domain"]


@pytest.mark.parametrize(
    ("other_submitted", "other_partner", "other_products", "require_overlap", "decision"),
    [
        pytest.param(NOW - timedelta(days=1), "ptn_a", {"platform"}, True, "conflict", id="earlier-other-partner"),
        pytest.param(NOW + timedelta(days=1), "ptn_a", {"platform"}, True, "clear", id="later-registration-never-blocks"),
        pytest.param(NOW - timedelta(days=1), "ptn_new", {"platform"}, True, "clear", id="own-partner-not-a-conflict"),
        pytest.param(NOW - timedelta(days=1), "ptn_a", {"security"}, True, "clear", id="no-product-overlap"),
        pytest.param(NOW - timedelta(days=1), "ptn_a", {"security"}, False, "conflict", id="overlap-not-required"),
    ],
)
def test_first_come_first_served_and_product_overlap(
    other_submitted: Any, other_partner: str, other_products: set[str], require_overlap: bool, decision: str
) -> None:
    c = ConflictChecker(ConflictRules(require_product_overlap=require_overlap))
    c.add(Candidate(kind=CandidateKind.registration, record_id="reg_old", partner_id=other_partner,
                    profile=profile("Acme", domain="acme.com"), product_lines=frozenset(other_products),
                    submitted_at=other_submitted))
    q = RegistrationQuery(profile=profile("Acme", domain="acme.com"), record_id="reg_new", partner_id="ptn_new",
                          product_lines=frozenset({"platform"}), submitted_at=NOW)
    assert c.check(q).decision == decision


def test_blocking_touches_few_candidates() -> None:
    c = checker(*({"name": f"Filler{i} Systems", "country": "US"} for i in range(3000)), ACCOUNT)
    assert len(c.index.lookup(query(name="Acme Robotics").profile)) < 5


def test_check_registrations_stores_decision_history_and_audit(session: Session) -> None:
    customer(session, "cus_1", "Acme Robotics Inc", domain="acme-robotics.com", is_customer=True)
    opportunity(session, "opp_direct", end_customer_id="cus_2")
    customer(session, "cus_2", "Globex Logistics", country="US")
    registration(session, "reg_first", "ptn_a", "Initech Software", customer_domain="initech.com",
                 submitted_at=NOW - timedelta(days=3))
    registration(session, "reg_second", "ptn_b", "Initech Software LLC", contact_email="a@initech.com")
    registration(session, "reg_customer", "ptn_b", "ACME Robotics", contact_email="x@acme-robotics.com")
    registration(session, "reg_direct", "ptn_c", "Globex Logistics Inc", customer_country="USA")
    registration(session, "reg_new", "ptn_c", "Umbrella Health", customer_country="US")
    registration(session, "reg_expired", "ptn_d", "Umbrella Health", status="approved",
                 submitted_at=NOW - timedelta(days=200), expires_at=NOW - timedelta(days=1))

    results = check_registrations(session, ["reg_first", "reg_second", "reg_customer", "reg_direct", "reg_new"], RULES, NOW)

    assert {k: v.decision for k, v in results.items()} == {
        "reg_first": "clear", "reg_second": "conflict", "reg_customer": "conflict", "reg_direct": "conflict", "reg_new": "clear",
    }
    second = get_record(session, "deal_registration", "reg_second")
    assert isinstance(second, DealRegistration)
    assert (second.status, second.conflict_decision, second.conflict_score) == ("under_review", "conflict", 100.0)
    # the registration (partner-visible in both CRMs) says what happens, not whose registration matched
    assert second.conflict_reason == "conflict: customer already registered or in direct pipeline; under review"
    check = latest_conflict_check(session, "reg_second")
    assert check is not None and check.matches[0]["record_id"] == "reg_first"
    assert "registration reg_first by partner ptn_a" in check.reasons[0]
    [audit] = query_audit(session, record_id="reg_second")
    assert audit.rule == "conflict.conflict" and "registration reg_first by partner ptn_a" in (audit.reason or "")
    direct = get_record(session, "deal_registration", "reg_direct")
    assert isinstance(direct, DealRegistration) and "opp_direct" not in (direct.conflict_reason or "")
    first = get_record(session, "deal_registration", "reg_first")
    assert isinstance(first, DealRegistration) and first.status == "submitted"
