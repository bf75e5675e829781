"""The conflict check: is a new deal registration's customer already claimed?

Claimed means another partner's active registration (earlier, first come first
served, with an overlapping product line when configured), an open direct
opportunity, or an existing customer. Hard evidence (same domain; same
normalised name in the same country) is a ``conflict``; a similar name backed
by place, phone or street goes to ``review`` so a channel manager decides.
Each decision carries the matches and human-readable reasons, because a
partner told "conflict" will ask why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.model import ConflictDecision, DealRegistration, RegistrationStatus
from prm_sync.rules.candidates import (
    Candidate,
    CandidateIndex,
    CandidateKind,
    CandidateSource,
    RegistrationQuery,
)
from prm_sync.rules.evidence import HARD_SCORE, Evidence, PairScore, score_pair
from prm_sync.rules.recording import changed_fields, decision_entry
from prm_sync.store.audit import AuditEntry, append_audit
from prm_sync.store.conflicts import ConflictCheck, save_conflict_checks
from prm_sync.store.records import list_records, update_fields


class MatchedRecord(BaseModel):
    kind: CandidateKind
    record_id: str
    partner_id: str | None = None
    score: float
    matched_fields: list[str] = Field(default_factory=list)


class ConflictResult(BaseModel):
    decision: ConflictDecision
    score: float
    matches: list[MatchedRecord] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """The full reason, naming the records matched: for the store, the audit log and admins only."""
        return "; ".join(self.reasons) if self.reasons else NO_MATCH

    def partner_notice(self) -> str:
        """What the registering partner may read on its registration (``DealRegistration.conflict_reason``)."""
        return partner_notice(self.decision)


NO_MATCH = "no matching customer, registration or opportunity"
# Registrations are what partners see in a partner portal or community: the text written onto them says
# what happens next and never whose registration, which partner, when, or which direct deal matched.
PARTNER_NOTICES = {
    ConflictDecision.conflict: "conflict: customer already registered or in direct pipeline; under review",
    ConflictDecision.review: "possible conflict: customer may already be registered or in direct pipeline; under review",
    ConflictDecision.clear: NO_MATCH,
}


def partner_notice(decision: ConflictDecision) -> str:
    return PARTNER_NOTICES[decision]


def _describe(candidate: Candidate) -> str:
    if candidate.kind is CandidateKind.registration:
        when = f" submitted {candidate.submitted_at.date().isoformat()}" if candidate.submitted_at else ""
        return f"registration {candidate.record_id} by partner {candidate.partner_id}{when}"
    if candidate.kind is CandidateKind.opportunity:
        return f"open direct opportunity {candidate.record_id}" + (f" ({candidate.label})" if candidate.label else "")
    return f"existing customer {candidate.record_id}" + (f" ({candidate.label})" if candidate.label else "")


class ConflictChecker:
    """Scores a registration against the indexed candidates and decides conflict/review/clear.

    Candidates come from ``index`` (in memory; ``add`` files more, as the CSV
    check does with each row it checked) and from any ``sources`` (the stored
    account index), each record once.
    """

    def __init__(self, rules: ConflictRules, index: CandidateIndex | None = None,
                 sources: Sequence[CandidateSource] = ()) -> None:
        self.rules = rules
        self.index = index if index is not None else CandidateIndex()
        self.sources = list(sources)

    def add(self, candidate: Candidate) -> None:
        self.index.add(candidate)

    def _eligible(self, query: RegistrationQuery, cand: Candidate) -> bool:
        if cand.kind is CandidateKind.registration:
            if cand.record_id == query.record_id or (query.partner_id and cand.partner_id == query.partner_id):
                return False  # a partner re-registering its own customer is not a channel conflict
            if query.submitted_at and cand.submitted_at:
                # first come, first served: only an earlier registration (ties broken by id) blocks this one
                if (cand.submitted_at, cand.record_id) >= (query.submitted_at, query.record_id or ""):
                    return False
            elif query.submitted_at is not None and cand.submitted_at is None:
                return False
            if self.rules.require_product_overlap and query.product_lines and cand.product_lines:
                return bool(query.product_lines & cand.product_lines)
            return True
        if cand.kind is CandidateKind.opportunity:
            return self.rules.check_direct_opportunities and cand.record_id != query.opportunity_id
        return self.rules.check_existing_customers

    def check(self, query: RegistrationQuery) -> ConflictResult:
        return self.check_many([query])[0]

    def check_many(self, queries: Sequence[RegistrationQuery]) -> list[ConflictResult]:
        """Each query's result; the stored index is read once for the whole batch."""
        found = [self.index.lookup(q.profile) for q in queries]
        for source in self.sources:
            for mine, more in zip(found, source.lookup_many([q.profile for q in queries]), strict=True):
                known = {(c.kind, c.record_id) for c in mine}
                mine.extend(c for c in more if (c.kind, c.record_id) not in known)
        return [self._decide(q, candidates) for q, candidates in zip(queries, found, strict=True)]

    def _decide(self, query: RegistrationQuery, candidates: list[Candidate]) -> ConflictResult:
        matches: list[tuple[float, MatchedRecord, str]] = []
        for cand in candidates:
            if not self._eligible(query, cand):
                continue
            if cand.kind is CandidateKind.customer and cand.record_id == query.end_customer_id:
                same = Evidence("end_customer_id", "same", 0.0, "same end customer record")
                scored = PairScore(HARD_SCORE, 0.0, (same,), hard=True)
            else:
                scored = score_pair(query.profile, cand.profile)
            score = scored.score
            if scored.at_most_review and score >= self.rules.conflict_threshold:
                score = round(self.rules.conflict_threshold - 0.1, 1)
            if score < self.rules.review_threshold:
                continue
            match = MatchedRecord(
                kind=cand.kind, record_id=cand.record_id, partner_id=cand.partner_id,
                score=score, matched_fields=scored.fields if not scored.hard else [scored.evidence[0].field],
            )
            matches.append((score, match, f"{scored.explain()} as {_describe(cand)}"))
        matches.sort(key=lambda m: (-m[0], m[1].record_id))
        if not matches:
            return ConflictResult(decision=ConflictDecision.clear, score=0.0)
        best = matches[0][0]
        if best >= self.rules.conflict_threshold:
            decision = ConflictDecision.conflict
        else:
            decision = ConflictDecision.review
        return ConflictResult(
            decision=decision,
            score=best,
            matches=[m for _, m, _ in matches[:10]],
            reasons=[r for _, _, r in matches[:5]],
        )


def check_registrations(
    session: Session,
    registration_ids: Iterable[str],
    rules: ConflictRules,
    now: datetime,
    *,
    run_id: str | None = None,
) -> dict[str, ConflictResult]:
    """Check, store and audit the decision for each registration; returns results by id.

    The stored account index first catches up with what was saved since the
    last check (``refresh_index``). Each check appends a ``conflict_check`` row
    (history) with the full reason, copies the decision and the partner notice
    onto the registration (so it reaches the CRM), and moves a submitted
    registration with a conflict or review to ``under_review``: a person must
    look before it can be approved.
    """
    # imported here: the index builds candidates and must not depend on the scorer
    from prm_sync.rules.account_index import StoreIndex, refresh_index
    from prm_sync.rules.sources import registration_query

    regs = [r for r in list_records(session, DealRegistration.entity, ids=list(registration_ids)) if isinstance(r, DealRegistration)]
    if not regs:
        return {}
    refresh_index(session, rules)
    checker = ConflictChecker(rules, sources=[StoreIndex(session, now)])
    regs.sort(key=lambda r: (r.submitted_at or now, r.id))
    results: dict[str, ConflictResult] = {}
    checks: list[ConflictCheck] = []
    changed: dict[str, dict[str, object]] = {}
    entries: list[AuditEntry] = []
    for reg, result in zip(regs, checker.check_many([registration_query(reg, rules) for reg in regs]), strict=True):
        results[reg.id] = result
        checks.append(ConflictCheck(
            registration_id=reg.id, checked_at=now, decision=result.decision, score=result.score,
            matches=[m.model_dump(mode="json") for m in result.matches], reasons=result.reasons,
        ))
        updated = reg.model_copy()
        updated.conflict_decision = result.decision
        updated.conflict_score = result.score
        updated.conflict_reason = result.partner_notice()
        if reg.status == RegistrationStatus.submitted and result.decision != ConflictDecision.clear:
            updated.status = RegistrationStatus.under_review
        before, after = changed_fields(reg, updated, ["status", "conflict_decision", "conflict_score", "conflict_reason"])
        if after:
            changed[reg.id] = after
        entries.append(decision_entry(
            action="registration.conflict_check", entity=DealRegistration.entity, record_id=reg.id,
            rule=f"conflict.{result.decision}", reason=result.summary(), now=now, run_id=run_id,
            before=before, after=after,
        ))
    save_conflict_checks(session, checks)
    update_fields(session, DealRegistration.entity, changed, now=now)  # one statement for a large pull's decisions
    append_audit(session, entries)
    return results
