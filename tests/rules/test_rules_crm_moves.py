"""Status changes pulled from a CRM go through the lifecycle; manual decisions update the opportunity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, customer, opportunity, partner, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.errors import RuleViolation, UsageError
from prm_sync.model import DealRegistration, Opportunity
from prm_sync.rules.actions import apply_action
from prm_sync.rules.crm_moves import PULL_ACTION, apply_crm_moves
from prm_sync.rules.hooks import apply_rules_in_session
from prm_sync.store.audit import AuditEntry, append_audit, query_audit
from prm_sync.store.records import get_record, save_record

RUN = "run_pull"


def pulled_status(session: Session, reg_id: str, before: str, after: str, system: str = "salesforce", **extra: object) -> None:
    """What a pull leaves behind: the new status on the record and the old one in the audit log."""
    reg = get_record(session, DealRegistration.entity, reg_id)
    assert isinstance(reg, DealRegistration)
    save_record(session, reg.model_copy(update={"status": after, **extra}))
    append_audit(session, [AuditEntry(run_id=RUN, action=PULL_ACTION, system=system, entity=DealRegistration.entity,
                                      record_id=reg_id, fields_before={"status": before},
                                      fields_after={"status": after})])


def stored(session: Session, reg_id: str) -> DealRegistration:
    reg = get_record(session, DealRegistration.entity, reg_id)
    assert isinstance(reg, DealRegistration)
    return reg


def test_an_approval_in_the_crm_starts_the_protection_window(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_g", tier="gold")
    registration(session, "reg_1", "ptn_g", "Acme", status="under_review")
    pulled_status(session, "reg_1", "under_review", "approved")

    [move] = apply_crm_moves(session, ["reg_1"], rules.protection, NOW, run_id=RUN)

    assert move.accepted and (move.system, move.before, move.after) == ("salesforce", "under_review", "approved")
    reg = stored(session, "reg_1")
    assert (reg.status, reg.approved_at, reg.expires_at) == ("approved", NOW, NOW + timedelta(days=120))  # gold: 120
    [entry] = [e for e in query_audit(session, record_id="reg_1") if e.action == "registration.transition"]
    assert entry.actor == "salesforce user" and entry.rule == "lifecycle.approved"


def test_an_approval_date_given_by_the_crm_is_kept(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    registration(session, "reg_1", "ptn_a", "Acme", status="submitted")
    stated = NOW - timedelta(days=2)
    pulled_status(session, "reg_1", "submitted", "approved", system="hubspot", approved_at=stated)
    append_audit(session, [AuditEntry(run_id=RUN, action=PULL_ACTION, system="hubspot", entity=DealRegistration.entity,
                                      record_id="reg_1", fields_before={"approved_at": None}, fields_after={})])
    apply_crm_moves(session, ["reg_1"], rules.protection, NOW, run_id=RUN)
    reg = stored(session, "reg_1")
    assert (reg.approved_at, reg.expires_at) == (stated, stated + timedelta(days=90))


def test_an_illegal_move_in_the_crm_is_undone_with_a_reason(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    registration(session, "reg_1", "ptn_a", "Acme", status="rejected")
    pulled_status(session, "reg_1", "rejected", "approved", system="hubspot")

    counts = apply_rules_in_session(session, rules, {"deal_registration": {"reg_1"}}, now=NOW, run_id=RUN)

    assert counts["transition_rejected"] == 1
    reg = stored(session, "reg_1")
    assert (reg.status, reg.approved_at, reg.expires_at) == ("rejected", None, None)
    [entry] = [e for e in query_audit(session, record_id="reg_1") if e.action == "registration.transition_rejected"]
    assert entry.reason == ("registration reg_1 cannot move from rejected to approved; allowed: none (final state); "
                            "the change made in hubspot was undone and the PRM status is pushed back")


def test_the_hook_counts_crm_approvals_and_links_them(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    customer(session, "cus_1", "Acme", domain="acme.com")
    opportunity(session, "opp_1", end_customer_id="cus_1")
    registration(session, "reg_1", "ptn_a", "Acme", customer_domain="acme.com", status="under_review")
    pulled_status(session, "reg_1", "under_review", "approved")

    counts = apply_rules_in_session(session, rules, {"deal_registration": {"reg_1"}}, now=NOW, run_id=RUN)

    assert counts["crm_approved"] == 1 and counts["linked"] == 1
    opp = get_record(session, Opportunity.entity, "opp_1")
    assert isinstance(opp, Opportunity) and opp.protection_expires_at == NOW + timedelta(days=90)


def test_a_manual_decision_updates_the_linked_opportunity(session: Session, rules: RulesConfig) -> None:
    partner(session, "ptn_a")
    registration(session, "reg_1", "ptn_a", "Acme", status="approved", expires_at=NOW + timedelta(days=5),
                 opportunity_id="opp_1")
    opportunity(session, "opp_1", registration_id="reg_1", registered_partner_id="ptn_a", registration_status="approved",
                protection_expires_at=NOW + timedelta(days=5))

    result = apply_action(session, "extend", "reg_1", actor="cm", reason="customer asked for time", now=NOW, rules=rules)

    assert result.opportunity_updated and result.previous_status == "approved"
    opp = get_record(session, Opportunity.entity, "opp_1")
    assert isinstance(opp, Opportunity) and opp.protection_expires_at == NOW + timedelta(days=35)


@pytest.mark.parametrize(
    ("action", "status", "to", "error", "message"),
    [
        pytest.param("approve", "rejected", None, RuleViolation, "cannot move from rejected to approved", id="illegal-approve"),
        pytest.param("override", "submitted", None, UsageError, "an override needs the status to set", id="override-without-to"),
        pytest.param("dispute", "approved", None, RuleViolation, "only a rejected, returned or under-review", id="dispute-approved"),
    ],
)
def test_refused_decisions(session: Session, rules: RulesConfig, action: str, status: str, to: str | None,
                           error: type[Exception], message: str) -> None:
    partner(session, "ptn_a")
    registration(session, "reg_1", "ptn_a", "Acme", status=status)
    with pytest.raises(error, match=message):
        apply_action(session, action, "reg_1", actor="cm", reason="because", now=NOW, rules=rules, to=to)
    assert stored(session, "reg_1").status == status
