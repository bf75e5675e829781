"""Deal-registration lifecycle: legal moves, protection windows, expiry, overrides, gates.

The transition table is the contract with channel managers: a registration
cannot jump from draft to won, and a won deal is never silently "approved"
again. Every move is audited with its actor and reason. Approval starts the
protection window (days per partner tier); expiry ends it and clears the
registered-partner fields on the linked opportunity so the next push clears
them in the CRM too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prm_sync.config.settings import CertificationRules, ProtectionRules
from prm_sync.errors import RuleViolation, UsageError
from prm_sync.model import DealRegistration, Opportunity, Partner, RegistrationStatus
from prm_sync.rules.recording import RULES_ACTOR, changed_fields, record_decision
from prm_sync.store.orm import AuditLogRow, CertificationRow, DealRegistrationRow
from prm_sync.store.records import get_record, save_record
from prm_sync.store.review import add_review

S = RegistrationStatus
ALLOWED: dict[RegistrationStatus, frozenset[RegistrationStatus]] = {
    S.draft: frozenset({S.submitted}),
    # a clear conflict check may be approved without passing through review
    S.submitted: frozenset({S.under_review, S.approved, S.rejected, S.returned}),
    S.under_review: frozenset({S.approved, S.rejected, S.returned}),
    S.returned: frozenset({S.submitted}),
    S.approved: frozenset({S.won, S.lost, S.expired}),
}
TRACKED = ["status", "approved_at", "expires_at"]
EXTEND_ACTION = "registration.extend"


def protection_days(rules: ProtectionRules, tier: str | None) -> int:
    return rules.per_tier.get(tier or "", rules.default_days)


def transition(
    reg: DealRegistration,
    to: RegistrationStatus | str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    protection: ProtectionRules | None = None,
    partner_tier: str | None = None,
) -> DealRegistration:
    """The registration after a legal move; raises ``RuleViolation`` naming the allowed moves.

    Approval sets ``approved_at`` and ``expires_at = approved_at + days`` (per tier,
    else the default), which is why ``protection`` is needed for it.
    """
    target = RegistrationStatus(to)
    current = RegistrationStatus(reg.status)
    allowed = ALLOWED.get(current, frozenset())
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none (final state)"
        msg = f"registration {reg.id} cannot move from {current} to {target}; allowed: {options}"
        raise RuleViolation(msg)
    if not reason.strip():
        msg = f"moving registration {reg.id} to {target} needs a reason (actor {actor})"
        raise RuleViolation(msg)
    updated = reg.model_copy()
    updated.status = target
    updated.updated_at = now
    if target is S.submitted:
        updated.submitted_at = now
    if target is S.approved:
        days = protection_days(protection or ProtectionRules(), partner_tier)
        updated.approved_at = now
        updated.expires_at = now + timedelta(days=days)
    return updated


def _partner_tier(session: Session, partner_id: str) -> str | None:
    partner = get_record(session, Partner.entity, partner_id)
    return partner.tier if isinstance(partner, Partner) else None


def load_registration(session: Session, registration_id: str) -> DealRegistration:
    reg = get_record(session, DealRegistration.entity, registration_id)
    if not isinstance(reg, DealRegistration):
        msg = f"no deal registration with id {registration_id}"
        raise UsageError(msg)
    return reg


def move(
    session: Session,
    registration_id: str,
    to: RegistrationStatus | str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    protection: ProtectionRules,
    run_id: str | None = None,
) -> DealRegistration:
    """``transition`` on a stored registration: saved and audited in the caller's transaction."""
    reg = load_registration(session, registration_id)
    updated = transition(
        reg, to, actor=actor, reason=reason, now=now, protection=protection,
        partner_tier=_partner_tier(session, reg.partner_id),
    )
    _save(session, reg, updated, action="registration.transition", rule=f"lifecycle.{to}", actor=actor,
          reason=reason, now=now, run_id=run_id)
    return updated


def _save(session: Session, reg: DealRegistration, updated: DealRegistration, *, action: str, rule: str,
          actor: str, reason: str, now: datetime, run_id: str | None) -> None:
    save_record(session, updated)
    before, after = changed_fields(reg, updated, TRACKED)
    record_decision(session, action=action, entity=DealRegistration.entity, record_id=reg.id, rule=rule,
                    reason=reason, now=now, actor=actor, run_id=run_id, before=before, after=after)


def extensions_used(session: Session, registration_id: str) -> int:
    query = select(func.count()).select_from(AuditLogRow).where(
        AuditLogRow.entity == DealRegistration.entity, AuditLogRow.record_id == registration_id,
        AuditLogRow.action == EXTEND_ACTION,
    )
    return session.scalar(query) or 0


def extend(
    session: Session, registration_id: str, *, actor: str, reason: str, now: datetime,
    protection: ProtectionRules, run_id: str | None = None,
) -> DealRegistration:
    """Push an approved registration's expiry out by ``extension_days``, at most ``max_extensions`` times.

    The count comes from the audit log, the one place every extension is recorded.
    """
    reg = load_registration(session, registration_id)
    if reg.status != S.approved or reg.expires_at is None:
        msg = f"registration {reg.id} is {reg.status}; only an approved registration can be extended"
        raise RuleViolation(msg)
    if reg.expires_at <= now:
        msg = f"registration {reg.id} expired on {reg.expires_at.date()}; it can no longer be extended"
        raise RuleViolation(msg)
    used = extensions_used(session, reg.id)
    if used >= protection.max_extensions:
        msg = f"registration {reg.id} was already extended {used} time(s); the limit is {protection.max_extensions}"
        raise RuleViolation(msg)
    updated = reg.model_copy()
    updated.expires_at = reg.expires_at + timedelta(days=protection.extension_days)
    updated.updated_at = now
    _save(session, reg, updated, action=EXTEND_ACTION, rule="lifecycle.extend", actor=actor,
          reason=f"extended by {protection.extension_days} days: {reason}", now=now, run_id=run_id)
    return updated


def clear_opportunity_protection(session: Session, opportunity_id: str | None, *, reason: str, now: datetime,
                                 run_id: str | None = None) -> bool:
    """Blank the registered-partner fields of an opportunity so the push clears them in the CRM."""
    opp = get_record(session, Opportunity.entity, opportunity_id) if opportunity_id else None
    if not isinstance(opp, Opportunity):
        return False
    updated = opp.model_copy()
    for name in ("registered_partner_id", "registration_status", "protection_expires_at", "partner_tier"):
        setattr(updated, name, None)
    names = ["registered_partner_id", "registration_status", "protection_expires_at", "partner_tier"]
    before, after = changed_fields(opp, updated, names)
    if not before:
        return False
    updated.updated_at = now
    save_record(session, updated)
    record_decision(session, action="opportunity.clear_protection", entity=Opportunity.entity, record_id=opp.id,
                    rule="lifecycle.expire", reason=reason, now=now, run_id=run_id, before=before, after=after)
    return True


def expire_due(session: Session, now: datetime, *, run_id: str | None = None) -> list[str]:
    """Approved registrations past ``expires_at`` become expired; returns their ids."""
    query = select(DealRegistrationRow.id).where(
        DealRegistrationRow.status == S.approved.value, DealRegistrationRow.expires_at <= now
    )
    expired: list[str] = []
    for reg_id in session.scalars(query).all():
        reg = load_registration(session, reg_id)
        assert reg.expires_at is not None  # selected on it
        reason = f"protection window ended {reg.expires_at.isoformat()}"
        updated = transition(reg, S.expired, actor=RULES_ACTOR, reason=reason, now=now)
        _save(session, reg, updated, action="registration.transition", rule="lifecycle.expire", actor=RULES_ACTOR,
              reason=reason, now=now, run_id=run_id)
        clear_opportunity_protection(session, reg.opportunity_id, reason=f"registration {reg.id} expired", now=now,
                                     run_id=run_id)
        expired.append(reg.id)
    return expired


def override(
    session: Session, registration_id: str, to: RegistrationStatus | str, *, actor: str, reason: str,
    now: datetime, protection: ProtectionRules, run_id: str | None = None,
) -> DealRegistration:
    """A channel manager sets any status, outside the transition table; the reason is mandatory."""
    if not reason.strip():
        msg = f"an override of registration {registration_id} needs a reason"
        raise RuleViolation(msg)
    reg = load_registration(session, registration_id)
    updated = reg.model_copy()
    updated.status = RegistrationStatus(to)
    updated.updated_at = now
    if updated.status == S.approved:
        updated.approved_at = now
        updated.expires_at = now + timedelta(days=protection_days(protection, _partner_tier(session, reg.partner_id)))
    _save(session, reg, updated, action="registration.override", rule="lifecycle.override", actor=actor,
          reason=reason, now=now, run_id=run_id)
    return updated


def dispute(session: Session, registration_id: str, *, actor: str, reason: str, now: datetime,
            run_id: str | None = None) -> DealRegistration:
    """A partner contests a conflict decision: back to review, queued for a person, audited."""
    reg = load_registration(session, registration_id)
    if reg.status not in (S.rejected, S.returned, S.under_review) or not reason.strip():
        msg = f"registration {reg.id} is {reg.status}; only a rejected, returned or under-review one can be disputed, with a reason"
        raise RuleViolation(msg)
    updated = reg.model_copy()
    updated.status = S.under_review
    updated.updated_at = now
    _save(session, reg, updated, action="registration.dispute", rule="lifecycle.dispute", actor=actor,
          reason=reason, now=now, run_id=run_id)
    add_review(session, entity=DealRegistration.entity, record_id=reg.id, system="prm", field="conflict_decision",
               prm_value=reg.conflict_decision, remote_value={"disputed_by": actor, "reason": reason}, now=now)
    return updated


def certification_gap(session: Session, reg: DealRegistration, rules: CertificationRules) -> str | None:
    """Why the registration fails the certification gate, or None when it passes.

    A gated product line needs someone at the partner holding a certification for
    it that was issued on or before, and still valid on, the submission date.
    """
    on = reg.submitted_at or reg.created_at
    missing = []
    for line in sorted(set(reg.product_lines) & set(rules.required_for_product_lines)):
        query = select(func.count()).select_from(CertificationRow).where(
            CertificationRow.partner_id == reg.partner_id, CertificationRow.product_line == line,
            CertificationRow.issued_at <= on, CertificationRow.expires_at > on,
        )
        if not session.scalar(query):
            missing.append(line)
    if not missing:
        return None
    return f"partner {reg.partner_id} had no active certification for {', '.join(missing)} on {on.date().isoformat()}"


def apply_certification_gate(session: Session, reg: DealRegistration, rules: CertificationRules, now: datetime,
                             *, run_id: str | None = None) -> bool:
    """Return a submitted registration that fails the gate; True when it was returned."""
    if reg.status != S.submitted:
        return False
    gap = certification_gap(session, reg, rules)
    if gap is None:
        return False
    updated = transition(reg, S.returned, actor=RULES_ACTOR, reason=gap, now=now)
    updated.conflict_reason = gap
    _save(session, reg, updated, action="registration.transition", rule="lifecycle.certification_gate",
          actor=RULES_ACTOR, reason=gap, now=now, run_id=run_id)
    return True
