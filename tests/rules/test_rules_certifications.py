"""Completions to certifications (idempotent, renewals, statuses) and tier eligibility with grace."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import NOW, partner
from sqlalchemy.orm import Session

from prm_sync.config.settings import CertificationRules, RulesConfig
from prm_sync.model import Attribution, Certification, Closure, CourseCompletion, Partner
from prm_sync.rules.certifications import add_months, apply_tier, certification_status, issue_certifications
from prm_sync.store.records import get_record, list_records, save_record


def completion(session: Session, cid: str, days_ago: int, *, score: float = 0.9, passed: bool = True,
               email: str = "a@p.com", line: str = "security") -> None:
    save_record(session, CourseCompletion(id=cid, learner_email=email, partner_id="ptn_1", course_id="c1",
                                          product_line=line, completed_at=NOW - timedelta(days=days_ago),
                                          score=score, passed=passed))


@pytest.mark.parametrize(
    ("expires_in", "status"),
    [pytest.param(timedelta(days=31), "active", id="outside-renewal-window"),
     pytest.param(timedelta(days=30), "expiring", id="renewal-window-edge"),
     pytest.param(timedelta(days=1), "expiring", id="inside-renewal-window"),
     pytest.param(timedelta(0), "expired", id="at-expiry")],
)
def test_certification_status(expires_in: timedelta, status: str) -> None:
    assert certification_status(NOW + expires_in, NOW, CertificationRules(renewal_window_days=30)) == status


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(NOW.replace(month=1, day=31), 1).day == 28


@pytest.mark.parametrize(
    ("score", "passed", "issued"),
    [pytest.param(0.7, True, True, id="at-passing-score"), pytest.param(0.69, True, False, id="below-passing-score"),
     pytest.param(0.95, False, False, id="not-passed")],
)
def test_passing_rules(session: Session, score: float, passed: bool, issued: bool) -> None:
    completion(session, "cmp_1", 10, score=score, passed=passed)
    assert bool(issue_certifications(session, None, CertificationRules(), NOW)) is issued


def test_issue_is_idempotent_and_later_completion_renews(session: Session) -> None:
    rules = CertificationRules(validity_months=12, renewal_window_days=30)
    completion(session, "cmp_old", 350)
    assert len(issue_certifications(session, None, rules, NOW)) == 1
    assert issue_certifications(session, None, rules, NOW) == []
    [cert] = list_records(session, "certification")
    assert isinstance(cert, Certification) and cert.status == "expiring"
    completion(session, "cmp_new", 5)
    issue_certifications(session, ["cmp_new"], rules, NOW)
    [renewed] = list_records(session, "certification")
    assert isinstance(renewed, Certification)
    assert (renewed.id, renewed.status) == (cert.id, "active")
    assert renewed.expires_at == add_months(NOW - timedelta(days=5), 12)


def _won_revenue(session: Session, amount: str) -> None:
    save_record(session, Closure(id="clo_1", opportunity_id="opp_1", outcome="won", amount=Decimal(amount), close_date=NOW.date()))
    save_record(session, Attribution(id="att_1", closure_id="clo_1", opportunity_id="opp_1", partner_id="ptn_1",
                                     role="sourced", split_pct=Decimal("10"), amount=Decimal("1")))


@pytest.mark.parametrize(
    ("tier", "grace", "people", "revenue", "expected_tier", "expected_grace"),
    [
        pytest.param("registered", None, 2, "150000", "gold", None, id="promote-immediately"),
        pytest.param("gold", None, 1, "150000", "gold", date(2027, 1, 1), id="demotion-starts-grace"),
        pytest.param("gold", date(2026, 12, 1), 1, "0", "gold", date(2026, 12, 1), id="inside-grace-keeps-tier"),
        pytest.param("gold", date(2026, 11, 2), 1, "0", "silver", None, id="grace-over-demote"),
        pytest.param("gold", date(2026, 12, 1), 2, "150000", "gold", None, id="requalified-clears-grace"),
    ],
)
def test_tier_eligibility_with_grace(session: Session, rules: RulesConfig, tier: str, grace: date | None, people: int,
                                     revenue: str, expected_tier: str, expected_grace: date | None) -> None:
    partner(session, "ptn_1", tier=tier, tier_grace_until=grace)
    for i in range(people):
        completion(session, f"cmp_{i}", 10, email=f"p{i}@p.com")
    issue_certifications(session, None, rules.certification, NOW)
    _won_revenue(session, revenue)
    decision = apply_tier(session, "ptn_1", NOW, rules.tiers)
    stored = get_record(session, "partner", "ptn_1")
    assert isinstance(stored, Partner)
    assert (stored.tier, stored.tier_grace_until) == (expected_tier, expected_grace)
    assert decision.certified_people == people
