"""Linking approved registrations to the open opportunity they protect.

Deal protection only helps while the deal is open: the rep working the
opportunity must see the registered partner, the registration status and
when protection ends. So an approved, unexpired registration without an
opportunity is linked to the earliest open opportunity (by close date) in
either CRM whose end customer is the registration's customer, judged by the
conflict check's normaliser: the same domain, the same normalised name (in
the same country when both know it), or a strong fuzzy name. One opportunity
per registration and one live registration per opportunity: an opportunity
already protected for another partner is never taken over; that is a
conflict, reported with its reason on the registration (so it reaches the
CRM) and in the audit log.

Work per run is bounded: registrations pulled, moved or checked this run,
those whose customer has an opportunity pulled this run, and at most
``SWEEP_LIMIT`` other unlinked ones, most recently changed first (an
approval made with ``prm-sync registrations approve`` is picked up there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from rapidfuzz import fuzz
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import ConflictDecision, DealRegistration, Opportunity, RegistrationStatus
from prm_sync.rules.attribution import write_back
from prm_sync.rules.candidates import Candidate, CandidateIndex, CandidateKind
from prm_sync.rules.conflict import partner_notice
from prm_sync.rules.evidence import generic_form
from prm_sync.rules.normalize import STOPWORDS, CustomerProfile, profile
from prm_sync.rules.recording import changed_fields, record_decision
from prm_sync.rules.sources import customer_profile, registration_profile
from prm_sync.store.orm import DealRegistrationRow, EndCustomerRow, OpportunityRow
from prm_sync.store.records import chunks, get_record, save_record

SWEEP_LIMIT = 500
STRONG_NAME = 90.0  # a fuzzy name this close, with nothing contradicting it, is the same customer
LIVE = (RegistrationStatus.approved.value, RegistrationStatus.won.value)


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    registration_id: str
    action: str  # linked | link_conflict | no_match
    opportunity_id: str | None = None
    reason: str = ""


@dataclass(slots=True)
class _Open:
    """An open opportunity as linking sees it: who protects it now, when it closes."""

    id: str
    close_date: date | None
    holder: str | None  # the live registration linked to it, if any
    holder_partner: str | None
    has_customer: bool


def deal_customer_name(opportunity_name: str) -> str:
    """The customer part of a deal name ("Acme Corp - Platform 12" -> "Acme Corp")."""
    for separator in (" - ", " \u2013 ", " | "):  # hyphen, en dash, pipe
        if separator in opportunity_name:
            return opportunity_name.split(separator, 1)[0]
    return opportunity_name


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


def customer_match(reg: CustomerProfile, opp: CustomerProfile, *, name_only: bool = False) -> str | None:
    """Why a registration's customer is the opportunity's customer, or None.

    ``name_only`` is for an opportunity without an end customer record (a
    HubSpot deal: its company association is not read), profiled from its
    name: only an exact normalised name counts then.
    """
    if reg.domain and reg.domain == opp.domain:
        return f"same domain {reg.domain}"
    other_country = bool(reg.country and opp.country and reg.country != opp.country)
    if reg.norm and reg.norm == opp.norm and not other_country:
        where = f" in {opp.country}" if opp.country and reg.country else ""
        return f"same name {opp.norm!r}{where}"
    if name_only or other_country or (reg.domain and opp.domain):
        return None  # two known, different domains are two companies unless the names are identical
    similarity, how = name_similarity(reg, opp)
    if how in {"core", "fuzzy"} and similarity >= STRONG_NAME:
        return f"similar name {opp.name!r} ({how} {similarity:.0f})"
    return None


def _unlinked(now: datetime) -> Select[tuple[DealRegistrationRow]]:
    """Approved registrations, still protected, with no opportunity yet."""
    return select(DealRegistrationRow).where(
        DealRegistrationRow.status == RegistrationStatus.approved.value,
        DealRegistrationRow.opportunity_id.is_(None),
        or_(DealRegistrationRow.expires_at.is_(None), DealRegistrationRow.expires_at > now),
    )


def _open_opportunities(session: Session, rules: RulesConfig, now: datetime, only: set[str] | None = None
                        ) -> tuple[CandidateIndex, dict[str, _Open]]:
    """Open opportunities indexed by their customer's profile, with who protects each now."""
    query = select(OpportunityRow).where(OpportunityRow.is_closed.is_(False))
    rows: list[OpportunityRow] = []
    if only is None:
        rows = list(session.scalars(query))
    else:
        for part in chunks(sorted(only)):
            rows.extend(session.scalars(query.where(OpportunityRow.id.in_(part))))
    customers: dict[str, EndCustomerRow] = {}
    for part in chunks(sorted({r.end_customer_id for r in rows if r.end_customer_id})):
        customers.update((c.id, c) for c in session.scalars(select(EndCustomerRow).where(EndCustomerRow.id.in_(part))))
    holders: dict[str, DealRegistrationRow] = {}
    for part in chunks(sorted({r.registration_id for r in rows if r.registration_id})):
        holders.update((h.id, h) for h in session.scalars(select(DealRegistrationRow).where(DealRegistrationRow.id.in_(part))))
    public = rules.conflict.public_mail_domains
    index = CandidateIndex()
    info: dict[str, _Open] = {}
    for row in rows:
        customer = customers.get(row.end_customer_id or "")
        prof = customer_profile(customer, rules.conflict) if customer else profile(deal_customer_name(row.name), public_domains=public)
        holder = holders.get(row.registration_id or "")
        live = holder is not None and holder.status in LIVE and (holder.expires_at is None or holder.expires_at > now
                                                                 or holder.status == RegistrationStatus.won.value)
        info[row.id] = _Open(row.id, row.close_date, holder.id if live and holder else None,
                             holder.partner_id if live and holder else None, customer is not None)
        index.add(Candidate(kind=CandidateKind.opportunity, record_id=row.id, profile=prof, label=prof.name))
    return index, info


def _matches(index: CandidateIndex, info: dict[str, _Open], prof: CustomerProfile) -> list[tuple[_Open, str]]:
    found = []
    for cand in index.lookup(prof):
        opp = info[cand.record_id]
        why = customer_match(prof, cand.profile, name_only=not opp.has_customer)
        if why:
            found.append((opp, why))
    return sorted(found, key=lambda m: (m[0].close_date or date.max, m[0].id))


def _work(session: Session, rules: RulesConfig, now: datetime, registration_ids: Iterable[str],
          opportunity_ids: Iterable[str]) -> list[DealRegistrationRow]:
    """Registrations to try this run (see the module docstring for the bound)."""
    wanted = sorted(set(registration_ids))
    work: dict[str, DealRegistrationRow] = {}
    for part in chunks(wanted):
        work.update((r.id, r) for r in session.scalars(_unlinked(now).where(DealRegistrationRow.id.in_(part))))
    sweep = _unlinked(now).order_by(DealRegistrationRow.updated_at.desc(), DealRegistrationRow.id).limit(SWEEP_LIMIT)
    work.update((r.id, r) for r in session.scalars(sweep))
    pulled = set(opportunity_ids)
    if pulled:
        index, info = _open_opportunities(session, rules, now, only=pulled)
        if len(index):
            for row in session.scalars(_unlinked(now).execution_options(yield_per=2000)):
                if row.id not in work and _matches(index, info, registration_profile(row, rules.conflict)):
                    work[row.id] = row
    return sorted(work.values(), key=lambda r: (r.submitted_at or r.created_at, r.id))


def _record_conflict(session: Session, reg: DealRegistration, reason: str, now: datetime, run_id: str | None) -> bool:
    """Put the conflict on the registration (it reaches the CRM) once; True when it was new.

    The registration gets the partner notice; ``reason`` names the other
    partner's registration and goes to the audit log only.
    """
    notice = partner_notice(ConflictDecision.conflict)
    if reg.conflict_reason == notice and reg.conflict_decision == ConflictDecision.conflict:
        return False
    updated = reg.model_copy(update={"conflict_decision": ConflictDecision.conflict, "conflict_reason": notice,
                                     "updated_at": now})
    save_record(session, updated)
    before, after = changed_fields(reg, updated, ["conflict_decision", "conflict_reason"])
    record_decision(session, action="registration.link_conflict", entity=DealRegistration.entity, record_id=reg.id,
                    rule="linking.conflict", reason=reason, now=now, run_id=run_id, before=before, after=after)
    return True


def _matching_customer(session: Session, prof: CustomerProfile, system_hint: str | None) -> str | None:
    """The end customer record a registration names, when its deal does not say (HubSpot search
    returns no associations): same normalised domain, else same normalised name and country.
    Preferring the deal's own CRM keeps the link inside the system that will show it."""
    rows: list[EndCustomerRow] = []
    if prof.domain:
        rows = list(session.scalars(select(EndCustomerRow).where(EndCustomerRow.domain == prof.domain).limit(20)))
    if not rows and prof.tokens:
        prefix = select(EndCustomerRow).where(EndCustomerRow.name.ilike(f"{prof.tokens[0][:3]}%")).limit(500)
        rows = []
        for row in session.scalars(prefix):
            other = profile(row.name, country=row.country)
            if other.norm == prof.norm and (not prof.country or not other.country or other.country == prof.country):
                rows.append(row)
    if not rows:
        return None
    rows.sort(key=lambda r: (system_hint not in (r.external_ids or {}), r.id))
    return rows[0].id


def _link(session: Session, reg: DealRegistration, opp_id: str, why: str, now: datetime, run_id: str | None,
          prof: CustomerProfile) -> None:
    opp = get_record(session, Opportunity.entity, opp_id)
    assert isinstance(opp, Opportunity)  # indexed from the store in this transaction
    # the deal names the customer: the registration now points at the same end customer record
    system = next(iter(opp.external_ids), None)
    customer = reg.end_customer_id or opp.end_customer_id or _matching_customer(session, prof, system)
    save_record(session, reg.model_copy(update={"opportunity_id": opp_id, "end_customer_id": customer, "updated_at": now}))
    save_record(session, opp.model_copy(update={"registration_id": reg.id, "updated_at": now}))
    reason = f"customer match ({why}): earliest open opportunity {opp_id} ({opp.name})"
    record_decision(session, action="registration.link", entity=DealRegistration.entity, record_id=reg.id,
                    rule="linking.customer_match", reason=reason, now=now, run_id=run_id,
                    before={"opportunity_id": None}, after={"opportunity_id": opp_id})
    write_back(session, opp_id, now, run_id=run_id)


def link_registrations(session: Session, rules: RulesConfig, now: datetime, *, registration_ids: Iterable[str] = (),
                       opportunity_ids: Iterable[str] = (), run_id: str | None = None) -> list[LinkOutcome]:
    """Link approved, unlinked registrations to their customer's earliest open opportunity.

    Registrations are served first come, first served (by submission): when
    two partners' approved registrations match one opportunity, the earlier
    one gets it and the later one is reported as a conflict.
    """
    work = _work(session, rules, now, registration_ids, opportunity_ids)
    if not work:
        return []
    index, info = _open_opportunities(session, rules, now)
    outcomes: list[LinkOutcome] = []
    for row in work:
        reg = get_record(session, DealRegistration.entity, row.id)
        if not isinstance(reg, DealRegistration):
            continue
        blocked: list[str] = []
        linked = False
        for opp, why in _matches(index, info, registration_profile(row, rules.conflict)):
            if opp.holder is not None and opp.holder != reg.id:
                if opp.holder_partner != reg.partner_id:
                    blocked.append(f"open opportunity {opp.id} is already protected by registration {opp.holder} "
                                   f"of partner {opp.holder_partner}; registration {reg.id} of partner {reg.partner_id} "
                                   f"was not linked to it ({why})")
                continue
            _link(session, reg, opp.id, why, now, run_id, registration_profile(row, rules.conflict))
            opp.holder, opp.holder_partner = reg.id, reg.partner_id
            outcomes.append(LinkOutcome(reg.id, "linked", opp.id, why))
            linked = True
            break
        if blocked and not linked:
            reason = "; ".join(blocked)
            if _record_conflict(session, reg, reason, now, run_id):
                outcomes.append(LinkOutcome(reg.id, "link_conflict", reason=reason))
        elif not linked:
            outcomes.append(LinkOutcome(reg.id, "no_match"))
    return outcomes
