"""Status changes made in a CRM, put through the registration lifecycle.

A channel manager may approve (or reject, or return) a registration in
Salesforce (``Status__c``) or HubSpot (``status``). The pull stores the new
status as it comes; this rule then treats it as a lifecycle move by that
CRM's user: a legal move gets what the lifecycle gives it (approval starts
the protection window, ``expires_at = approved_at + days``), an illegal one
is undone, so the PRM status is pushed back to the CRM, and recorded as a
failed rule decision with the reason. A bad edit in a CRM never stops a run.

Which registrations moved, and from what, comes from this run's pull audit
entries: the one place that holds the value before the pull.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.config.settings import ProtectionRules
from prm_sync.errors import RuleViolation
from prm_sync.model import DealRegistration, Partner, RegistrationStatus
from prm_sync.rules.lifecycle import TRACKED, protection_days, transition
from prm_sync.rules.recording import changed_fields, record_decision
from prm_sync.store.orm import AuditLogRow
from prm_sync.store.records import chunks, get_record, save_record

PULL_ACTION = "pull.pull"


@dataclass(frozen=True, slots=True)
class CrmMove:
    registration_id: str
    system: str
    before: str
    after: str
    accepted: bool
    reason: str


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def pulled_status_changes(session: Session, registration_ids: Iterable[str], run_id: str | None
                          ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Registration id -> (system that changed the status, each field's value before this run's pulls).

    A registration pulled from both CRMs in one run has an entry per system;
    the earliest value of each field is the one the PRM held before the run.
    """
    ids = sorted(set(registration_ids))
    if not ids or run_id is None:
        return {}
    systems: dict[str, str] = {}
    before: dict[str, dict[str, Any]] = {}
    for part in chunks(ids):
        query = select(AuditLogRow).where(
            AuditLogRow.run_id == run_id, AuditLogRow.action == PULL_ACTION,
            AuditLogRow.entity == DealRegistration.entity, AuditLogRow.record_id.in_(part),
        ).order_by(AuditLogRow.id)
        for row in session.scalars(query):
            if not row.record_id:
                continue
            fields = before.setdefault(row.record_id, {})
            for name, value in (row.fields_before or {}).items():
                fields.setdefault(name, value)
            if "status" in (row.fields_before or {}):
                systems.setdefault(row.record_id, row.system or "crm")
    return {rid: (system, before[rid]) for rid, system in systems.items()}


def _tier(session: Session, partner_id: str) -> str | None:
    partner = get_record(session, Partner.entity, partner_id)
    return partner.tier if isinstance(partner, Partner) else None


def apply_crm_moves(session: Session, registration_ids: Iterable[str], protection: ProtectionRules, now: datetime,
                    *, run_id: str | None) -> list[CrmMove]:
    """Check each status pulled this run against the lifecycle; keep legal moves, undo the rest."""
    moves: list[CrmMove] = []
    for reg_id, (system, before) in sorted(pulled_status_changes(session, registration_ids, run_id).items()):
        reg = get_record(session, DealRegistration.entity, reg_id)
        if not isinstance(reg, DealRegistration) or before.get("status") in (None, str(reg.status)):
            continue
        new = RegistrationStatus(reg.status)
        old = RegistrationStatus(before["status"])
        previous = reg.model_copy(update={"status": old})
        for name in ("approved_at", "expires_at"):
            if name in before:
                setattr(previous, name, _parse_time(before[name]))
        actor = f"{system} user"
        try:
            moved = transition(previous, new, actor=actor, reason=f"status set to {new} in {system}",
                               now=now, protection=protection, partner_tier=_tier(session, reg.partner_id))
        except RuleViolation as exc:
            reason = f"{exc}; the change made in {system} was undone and the PRM status is pushed back"
            updated = reg.model_copy(update={"status": old, "approved_at": previous.approved_at,
                                             "expires_at": previous.expires_at, "updated_at": now})
            save_record(session, updated)
            record_decision(session, action="registration.transition_rejected", entity=DealRegistration.entity,
                            record_id=reg.id, rule="lifecycle.crm_status", reason=reason, now=now, actor=actor,
                            run_id=run_id, before={"status": new.value}, after={"status": old.value})
            moves.append(CrmMove(reg.id, system, old.value, new.value, False, reason))
            continue
        update: dict[str, Any] = {"status": moved.status, "updated_at": now}
        if new is RegistrationStatus.submitted:
            update["submitted_at"] = reg.submitted_at or moved.submitted_at
        if new is RegistrationStatus.approved:
            # the CRM may say when it was approved; the window runs from then, else from now
            stated = reg.approved_at if "approved_at" in before and reg.approved_at and reg.approved_at <= now else None
            approved_at = stated or moved.approved_at
            assert approved_at is not None  # transition sets it on approval
            update["approved_at"] = approved_at
            update["expires_at"] = approved_at + timedelta(days=protection_days(protection, _tier(session, reg.partner_id)))
        updated = reg.model_copy(update=update)
        save_record(session, updated)
        reason = f"status set to {new} in {system}"
        if new is RegistrationStatus.approved:
            reason += f"; protected until {update['expires_at'].isoformat()}"
        changes_before, changes_after = changed_fields(previous, updated, TRACKED)
        record_decision(session, action="registration.transition", entity=DealRegistration.entity, record_id=reg.id,
                        rule=f"lifecycle.{new}", reason=reason, now=now, actor=actor, run_id=run_id,
                        before=changes_before, after=changes_after)
        moves.append(CrmMove(reg.id, system, old.value, new.value, True, reason))
    return moves
