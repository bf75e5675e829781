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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.model import ConflictDecision, DealRegistration, RegistrationStatus
from prm_sync.rules.candidates import Candidate, CandidateIndex, CandidateKind, RegistrationQuery
from prm_sync.rules.normalize import GENERIC_WORDS, STOPWORDS, CustomerProfile
from prm_sync.rules.recording import changed_fields, record_decision
from prm_sync.store.conflicts import ConflictCheck, save_conflict_check
from prm_sync.store.records import list_records, save_record

HARD = 100.0
WEAK = 60.0  # below any sensible review threshold: similar words, no corroboration


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
        """One line for ``DealRegistration.conflict_reason`` and the CRM."""
        return "; ".join(self.reasons) if self.reasons else "no matching customer, registration or opportunity"


@dataclass(frozen=True, slots=True)
class _Score:
    score: float
    fields: list[str]
    evidence: str


@lru_cache(maxsize=65536)
def generic_form(token: str) -> str | None:
    """The generic word a token is, allowing one typo in longer words ("robotcs" -> robotics)."""
    if token in GENERIC_WORDS:
        return token
    if len(token) < 6:
        return None
    found = process.extractOne(token, GENERIC_WORDS, scorer=fuzz.ratio, score_cutoff=85)
    return found[0] if found else None


def _split_generic(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    generic = {t: g for t in tokens if (g := generic_form(t))}
    core = tuple(t for t in tokens if t not in generic and t not in STOPWORDS)
    return (core or tokens), frozenset(generic.values())


def name_similarity(a: CustomerProfile, b: CustomerProfile) -> tuple[float, str]:
    """0-100 and how: exact, acronym, core (same distinctive words) or fuzzy.

    Generic words ("Systems", "Group") are compared apart from the distinctive
    ones: "Klofurlot Networks" and "Cimkeax Networks" share a long suffix that a
    whole-string ratio would reward, yet they are different firms.
    """
    if not a.norm or not b.norm:
        return 0.0, ""
    if a.norm == b.norm:
        return 100.0, "exact"
    if (a.short_form and a.tokens[0] == b.acronym) or (b.short_form and b.tokens[0] == a.acronym):
        return 86.0, "acronym"
    core_a, generic_a = _split_generic(a.tokens)
    core_b, generic_b = _split_generic(b.tokens)
    penalty = 20.0 if generic_a and generic_b and not generic_a & generic_b else 0.0
    if core_a == core_b:
        return 92.0 - penalty, "core"
    left, right = " ".join(core_a), " ".join(core_b)
    fuzzy = max(fuzz.ratio(left, right), fuzz.token_sort_ratio(left, right))
    # a typo inside a generic word ("Robotix") hides it from the split; the whole name still shows it
    whole = fuzz.ratio(a.norm, b.norm) - 10.0 if bool(generic_a) != bool(generic_b) else 0.0
    return max(float(fuzzy) - penalty, whole), "fuzzy"


def score_pair(query: CustomerProfile, cand: CustomerProfile) -> _Score:
    """Evidence that two profiles are one customer, on the 0-100 scale of the thresholds."""
    if query.domain and query.domain == cand.domain:
        return _Score(HARD, ["domain"], f"same domain {query.domain}")
    sim, how = name_similarity(query, cand)
    fields: list[str] = []
    same_country = bool(query.country and query.country == cand.country)
    other_country = bool(query.country and cand.country and query.country != cand.country)
    if how == "exact" and same_country:
        return _Score(HARD, ["name", "country"], f"same name {query.norm!r} in {query.country}")
    if sim < 60:
        return _Score(0.0, [], "")
    if how:
        fields.append("name" if how != "acronym" else "acronym")
    score = sim
    phone = bool(query.phone and query.phone == cand.phone)
    street = bool(query.street and cand.street and fuzz.ratio(query.street, cand.street) >= 90)
    city = bool(query.city and query.city == cand.city)
    other_city = bool(query.city and cand.city and query.city != cand.city)
    for flag, name, boost in ((phone, "phone", 12.0), (street, "street", 8.0), (city, "city", 4.0)):
        if flag:
            score += boost
            fields.append(name)
    if same_country:
        fields.append("country")
    if other_country:
        score -= 30.0
    elif other_city and not (phone or street):
        score -= 8.0
    if how != "exact" and not (phone or street):
        # a near name needs place evidence: none caps it below review unless the name is very close,
        # and the city alone (tens of thousands of firms share one) backs only a close name
        if not city:
            score = min(score, 79.0 if sim >= 88 else WEAK)
        elif sim < 75:
            score = min(score, WEAK)
    if how == "exact" and not query.country:
        score = max(score, 85.0)
    if how != "exact" and not (phone or (street and sim >= 90)):
        # a conflict on a near name needs the phone, or the street behind a very close name
        score = min(score, 89.0)
    score = max(0.0, min(score, 99.0))
    evidence = f"similar name {cand.name!r} ({how} {sim:.0f})"
    extra = [f for f in fields if f not in {"name", "acronym"}]
    if extra:
        evidence += " with same " + "/".join(extra)
    return _Score(round(score, 1), fields, evidence)


def _describe(candidate: Candidate) -> str:
    if candidate.kind is CandidateKind.registration:
        when = f" submitted {candidate.submitted_at.date().isoformat()}" if candidate.submitted_at else ""
        return f"registration {candidate.record_id} by partner {candidate.partner_id}{when}"
    if candidate.kind is CandidateKind.opportunity:
        return f"open direct opportunity {candidate.record_id}" + (f" ({candidate.label})" if candidate.label else "")
    return f"existing customer {candidate.record_id}" + (f" ({candidate.label})" if candidate.label else "")


class ConflictChecker:
    """Scores a registration against the indexed candidates and decides conflict/review/clear."""

    def __init__(self, rules: ConflictRules, index: CandidateIndex | None = None) -> None:
        self.rules = rules
        self.index = index if index is not None else CandidateIndex()

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
        matches: list[tuple[float, MatchedRecord, str]] = []
        for cand in self.index.lookup(query.profile):
            if not self._eligible(query, cand):
                continue
            if cand.kind is CandidateKind.customer and cand.record_id == query.end_customer_id:
                scored = _Score(HARD, ["end_customer_id"], "same end customer record")
            else:
                scored = score_pair(query.profile, cand.profile)
            if scored.score < self.rules.review_threshold:
                continue
            match = MatchedRecord(
                kind=cand.kind, record_id=cand.record_id, partner_id=cand.partner_id,
                score=scored.score, matched_fields=scored.fields,
            )
            matches.append((scored.score, match, f"{scored.evidence} as {_describe(cand)}"))
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
    index: CandidateIndex | None = None,
) -> dict[str, ConflictResult]:
    """Check, store and audit the decision for each registration; returns results by id.

    Each check appends a ``conflict_check`` row (history), copies the decision
    onto the registration (so it reaches the CRM), and moves a submitted
    registration with a conflict or review to ``under_review``: a person must
    look before it can be approved.
    """
    # imported here: sources builds candidates and must not depend on the scorer
    from prm_sync.rules.sources import build_index, registration_query

    regs = [r for r in list_records(session, DealRegistration.entity, ids=list(registration_ids)) if isinstance(r, DealRegistration)]
    if not regs:
        return {}
    checker = ConflictChecker(rules, index if index is not None else build_index(session, rules, now))
    results: dict[str, ConflictResult] = {}
    for reg in sorted(regs, key=lambda r: (r.submitted_at or now, r.id)):
        result = checker.check(registration_query(reg, rules))
        results[reg.id] = result
        save_conflict_check(
            session,
            ConflictCheck(
                registration_id=reg.id, checked_at=now, decision=result.decision, score=result.score,
                matches=[m.model_dump(mode="json") for m in result.matches], reasons=result.reasons,
            ),
        )
        updated = reg.model_copy()
        updated.conflict_decision = result.decision
        updated.conflict_score = result.score
        updated.conflict_reason = result.summary()[:2000]
        if reg.status == RegistrationStatus.submitted and result.decision != ConflictDecision.clear:
            updated.status = RegistrationStatus.under_review
        before, after = changed_fields(reg, updated, ["status", "conflict_decision", "conflict_score", "conflict_reason"])
        if before or after:
            updated.updated_at = now
            save_record(session, updated)
        record_decision(
            session, action="registration.conflict_check", entity=DealRegistration.entity, record_id=reg.id,
            rule=f"conflict.{result.decision}", reason=result.summary(), now=now, run_id=run_id,
            before=before, after=after,
        )
    return results
