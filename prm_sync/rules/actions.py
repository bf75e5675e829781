"""A channel manager's decision on one registration, as the CLI (or any caller) makes it.

Wraps the lifecycle moves so every entry point behaves the same: the move is
checked against the transition table, saved and audited with the actor and
reason, and the linked opportunity is brought in line at once (so the next
sync shows the CRM the new status, or clears protection after a rejection),
all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.errors import UsageError
from prm_sync.model import DealRegistration, RegistrationStatus
from prm_sync.rules import lifecycle
from prm_sync.rules.attribution import write_back


class Action(StrEnum):
    approve = "approve"
    reject = "reject"
    extend = "extend"
    override = "override"
    dispute = "dispute"


@dataclass(frozen=True, slots=True)
class ActionResult:
    registration: DealRegistration
    previous_status: RegistrationStatus
    opportunity_updated: bool


def apply_action(session: Session, action: Action | str, registration_id: str, *, actor: str, reason: str,
                 now: datetime, rules: RulesConfig, to: RegistrationStatus | str | None = None,
                 run_id: str | None = None) -> ActionResult:
    """Apply one decision; raises ``RuleViolation`` for an illegal move, ``UsageError`` for bad input."""
    chosen = Action(action)
    before = lifecycle.load_registration(session, registration_id)
    protection = rules.protection
    common = {"actor": actor, "reason": reason, "now": now, "run_id": run_id}
    if chosen is Action.approve:
        reg = lifecycle.move(session, registration_id, RegistrationStatus.approved, protection=protection, **common)
    elif chosen is Action.reject:
        reg = lifecycle.move(session, registration_id, RegistrationStatus.rejected, protection=protection, **common)
    elif chosen is Action.extend:
        reg = lifecycle.extend(session, registration_id, protection=protection, **common)
    elif chosen is Action.dispute:
        reg = lifecycle.dispute(session, registration_id, **common)
    else:
        if to is None:
            msg = "an override needs the status to set (--to), e.g. --to approved"
            raise UsageError(msg)
        reg = lifecycle.override(session, registration_id, to, protection=protection, **common)
    touched = bool(reg.opportunity_id) and write_back(session, str(reg.opportunity_id), now, run_id=run_id)
    return ActionResult(registration=reg, previous_status=before.status, opportunity_updated=touched)
