"""Registration lifecycle: legal and illegal moves, protection windows, extension, expiry, gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, opportunity, partner, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import ProtectionRules, RulesConfig
from prm_sync.errors import RuleViolation
from prm_sync.model import Certification, DealRegistration, Opportunity, RegistrationStatus
from prm_sync.rules import lifecycle
from prm_sync.store.audit import query_audit
from prm_sync.store.records import get_record, save_record
from prm_sync.store.review import list_open_reviews

S = RegistrationStatus


def reg_in(status: S) -> DealRegistration:
    return DealRegistration(id="reg_1", partner_id="ptn_1", customer_name="Acme", status=status, submitted_at=NOW)


@pytest.mark.parametrize(
    ("start", "to"),
    [
        pytest.param(S.draft, S.submitted, id="draft-submitted"),
        pytest.param(S.submitted, S.under_review, id="submitted-review"),
        pytest.param(S.submitted, S.approved, id="submitted-approved-when-clear"),
        pytest.param(S.under_review, S.approved, id="review-approved"),
        pytest.param(S.under_review, S.rejected, id="review-rejected"),
        pytest.param(S.under_review, S.returned, id="review-returned"),
        pytest.param(S.returned, S.submitted, id="returned-resubmitted"),
        pytest.param(S.approved, S.won, id="approved-won"),
        pytest.param(S.approved, S.lost, id="approved-lost"),
        pytest.param(S.approved, S.expired, id="approved-expired"),
    ],
)
def test_legal_transitions(start: S, to: S) -> None:
    assert lifecycle.transition(reg_in(start), to, actor="cm", reason="ok", now=NOW).status == to


@pytest.mark.parametrize(
    ("start", "to"),
    [
        pytest.param(S.draft, S.approved, id="draft-approved"),
        pytest.param(S.submitted, S.won, id="submitted-won"),
        pytest.param(S.rejected, S.approved, id="rejected-is-final"),
        pytest.param(S.won, S.approved, id="won-is-final"),
        pytest.param(S.expired, S.approved, id="expired-is-final"),
        pytest.param(S.returned, S.approved, id="returned-must-resubmit"),
    ],
)
def test_illegal_transitions_name_the_allowed_moves(start: S, to: S) -> None:
    with pytest.raises(RuleViolation, match=f"cannot move from {start} to {to}; allowed"):
        lifecycle.transition(reg_in(start), to, actor="cm", reason="x", now=NOW)


def test_a_move_needs_a_reason() -> None:
    with pytest.raises(RuleViolation, match="needs a reason"):
        lifecycle.transition(reg_in(S.under_review), S.rejected, actor="cm", reason=" ", now=NOW)


@pytest.mark.parametrize(
    ("tier", "days"),
    [pytest.param("gold", 120, id="gold-per-tier"), pytest.param("silver", 90, id="silver-default"), pytest.param(None, 90, id="no-tier")],
)
def test_protection_window_per_tier(tier: str | None, days: int) -> None:
    rules = ProtectionRules(default_days=90, per_tier={"gold": 120})
    approved = lifecycle.transition(reg_in(S.under_review), S.approved, actor="cm", reason="ok", now=NOW,
                                    protection=rules, partner_tier=tier)
    assert (approved.approved_at, approved.expires_at) == (NOW, NOW + timedelta(days=days))


def test_extend_is_bounded_and_audited(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1")
    registration(session, "reg_1", "ptn_1", "Acme", status="approved", expires_at=NOW + timedelta(days=5))
    extended = lifecycle.extend(session, "reg_1", actor="cm", reason="customer board meeting", now=NOW, protection=rules.protection)
    assert extended.expires_at == NOW + timedelta(days=35)
    with pytest.raises(RuleViolation, match="already extended 1 time"):
        lifecycle.extend(session, "reg_1", actor="cm", reason="again", now=NOW, protection=rules.protection)
    assert query_audit(session, record_id="reg_1")[0].reason == "extended by 30 days: customer board meeting"


@pytest.mark.parametrize(
    ("expires_in", "expired"),
    [pytest.param(timedelta(seconds=-1), True, id="past-expiry"), pytest.param(timedelta(0), True, id="at-expiry"),
     pytest.param(timedelta(seconds=1), False, id="inside-window")],
)
def test_expire_due_clears_opportunity_fields(session: Session, expires_in: timedelta, expired: bool) -> None:
    registration(session, "reg_1", "ptn_1", "Acme", status="approved", expires_at=NOW + expires_in, opportunity_id="opp_1")
    opportunity(session, "opp_1", registration_id="reg_1", registered_partner_id="ptn_1", registration_status="approved",
                protection_expires_at=NOW + expires_in, partner_tier="gold")
    assert lifecycle.expire_due(session, NOW) == (["reg_1"] if expired else [])
    opp = get_record(session, "opportunity", "opp_1")
    assert isinstance(opp, Opportunity)
    assert (opp.registered_partner_id is None) == expired
    if expired:
        assert (opp.registration_status, opp.protection_expires_at, opp.partner_tier) == (None, None, None)
        assert query_audit(session, record_id="opp_1")[0].action == "opportunity.clear_protection"


def test_override_and_dispute_are_audited(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_1", tier="gold")
    registration(session, "reg_1", "ptn_1", "Acme", status="rejected", conflict_decision="conflict")
    disputed = lifecycle.dispute(session, "reg_1", actor="ptn_1 user", reason="we met them first", now=NOW)
    assert disputed.status == "under_review"
    assert [r.record_id for r in list_open_reviews(session, entity="deal_registration")] == ["reg_1"]
    approved = lifecycle.override(session, "reg_1", "approved", actor="cm", reason="confirmed first contact", now=NOW,
                                  protection=rules.protection)
    assert approved.expires_at == NOW + timedelta(days=120)
    assert [e.action for e in query_audit(session, record_id="reg_1")] == ["registration.override", "registration.dispute"]
    with pytest.raises(RuleViolation, match="needs a reason"):
        lifecycle.override(session, "reg_1", "rejected", actor="cm", reason="", now=NOW, protection=rules.protection)


def _cert(session: Session, issued_days_ago: int, valid_days: int, line: str = "security") -> None:
    save_record(session, Certification(id=f"crt_{issued_days_ago}", learner_email="a@p.com", partner_id="ptn_1",
                                       product_line=line, name="Security", issued_at=NOW - timedelta(days=issued_days_ago),
                                       expires_at=NOW - timedelta(days=issued_days_ago) + timedelta(days=valid_days)))


@pytest.mark.parametrize(
    ("cert", "products", "returned"),
    [
        pytest.param((30, 365), ["security"], False, id="active-cert-passes"),
        pytest.param((400, 365), ["security"], True, id="expired-cert-returned"),
        pytest.param(None, ["security", "platform"], True, id="no-cert-returned"),
        pytest.param(None, ["platform"], False, id="ungated-line"),
        pytest.param((30, 365, "analytics"), ["security"], True, id="cert-for-other-line"),
    ],
)
def test_certification_gate(session: Session, rules: RulesConfig, cert: tuple | None, products: list[str], returned: bool) -> None:
    if cert:
        _cert(session, *cert)
    reg = registration(session, "reg_1", "ptn_1", "Acme", product_lines=products)
    assert lifecycle.apply_certification_gate(session, reg, rules.certification, NOW) is returned
    stored = get_record(session, "deal_registration", "reg_1")
    assert isinstance(stored, DealRegistration)
    assert stored.status == ("returned" if returned else "submitted")
    if returned:
        assert "no active certification for security on 2026-11-02" in (stored.conflict_reason or "")
