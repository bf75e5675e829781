"""Whose completion is this? LMS learners resolved to partner contacts, and through them to partners.

An xAPI statement names its learner, never the partner: an ``mbox``
(``mailto:jane@partner.example``) or an LMS ``account``. Certified
headcounts, tiers and the certification gate all need the partner, so every
run resolves completions and certifications that have none:

* the learner key is the email, lowercased and trimmed (``mailto:`` already
  stripped by the connector; an account agent whose name is an email counts
  as that email);
* it matches a partner contact's email the same way (an expression index on
  ``lower(trim(email))`` keeps that one lookup per run cheap); two contacts
  with the same email (a person who moved partners) resolve to the one
  updated last;
* a learner who matches no contact is **kept**, with no partner: counted in
  the run report (``unmatched["lms_learners"]``) and listed by
  ``prm-sync learners unmatched``. When the contact appears later (created
  in the PRM, pulled from a CRM), the next run links every completion and
  certification already stored for that learner, and the tier rule that runs
  after it counts them;
* links follow the contact: a completion whose contact now belongs to
  another partner moves with it, and one whose contact is gone is unlinked
  (and listed as unmatched again) rather than credited to a stale partner.

Every link, move and unlink is audited on the record it changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from prm_sync.model import Certification, CourseCompletion
from prm_sync.rules.recording import record_decision
from prm_sync.store.orm import CertificationRow, CourseCompletionRow, PartnerContactRow
from prm_sync.store.records import chunks, list_records, save_records

LEARNER_ROWS: tuple[type[CourseCompletionRow] | type[CertificationRow], ...] = (CourseCompletionRow, CertificationRow)


def learner_key(value: str | None) -> str:
    """How learners and contacts are compared: ``mailto:`` dropped, trimmed, lowercased."""
    text = (value or "").strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.strip().lower()


def contact_email_key(column: Any) -> Any:
    """The SQL twin of ``learner_key`` for a stored contact email (what the expression index covers)."""
    return func.lower(func.trim(column))


@dataclass(frozen=True)
class Contact:
    id: str
    partner_id: str


def contacts_by_email(session: Session, keys: set[str]) -> dict[str, Contact]:
    """Learner key -> the partner contact with that email (the one updated last when several share it)."""
    found: dict[str, tuple[Any, Contact]] = {}
    email = contact_email_key(PartnerContactRow.email)
    for part in chunks(sorted(k for k in keys if k)):
        query = select(email, PartnerContactRow.id, PartnerContactRow.partner_id, PartnerContactRow.updated_at).where(
            email.in_(part))
        for key, contact_id, partner_id, updated_at in session.execute(query):
            seen = found.get(key)
            if seen is None or (updated_at, contact_id) > seen[0]:
                found[key] = ((updated_at, contact_id), Contact(contact_id, partner_id))
    return {key: contact for key, (_, contact) in found.items()}


def _candidates(session: Session, row: Any) -> tuple[dict[str, str], set[str]]:
    """(id -> learner of the records with no partner yet, ids whose contact moved or is gone)."""
    unlinked = dict(session.execute(select(row.id, row.learner_email).where(row.partner_id.is_(None))).tuples().all())
    stale = (
        select(row.id)
        .outerjoin(PartnerContactRow, PartnerContactRow.id == row.contact_id)
        .where(row.contact_id.is_not(None),
               or_(PartnerContactRow.id.is_(None), PartnerContactRow.partner_id != row.partner_id))
    )
    return unlinked, set(session.scalars(stale))


def resolve_learners(session: Session, *, now: datetime, run_id: str | None = None) -> Counter[str]:
    """Link completions and certifications to their learner's contact and partner; returns counts.

    Only records that can change are loaded: those with no partner whose
    learner now matches a contact, and those whose contact moved or is gone.
    ``learners_linked`` counts completions that gained a partner,
    ``learners_moved`` those whose partner changed with their contact,
    ``learners_unlinked`` those whose contact disappeared (certifications
    follow the same way and are audited, not counted).
    """
    counts: Counter[str] = Counter()
    for row in LEARNER_ROWS:
        unlinked, stale = _candidates(session, row)
        if not unlinked and not stale:
            continue
        keys = {learner_key(email) for email in unlinked.values()}
        contacts = contacts_by_email(session, keys) if keys else {}
        ids = stale | {i for i, email in unlinked.items() if learner_key(email) in contacts}
        items = [r for r in list_records(session, row.entity, ids=sorted(ids))
                 if isinstance(r, CourseCompletion | Certification)]
        if stale:  # a stale record's learner may match another contact now
            contacts.update(contacts_by_email(session, {learner_key(r.learner_email) for r in items} - set(contacts)))
        changed = []
        for item in items:
            contact = contacts.get(learner_key(item.learner_email))
            new = (contact.id, contact.partner_id) if contact else (None, None)
            old = (item.contact_id, item.partner_id)
            if new == old:
                continue
            action = "linked" if old[1] is None else "unlinked" if new[1] is None else "moved"
            changed.append(item.model_copy(update={"contact_id": new[0], "partner_id": new[1], "updated_at": now}))
            reason = (f"learner {item.learner_email} is partner contact {new[0]} of partner {new[1]}" if contact
                      else f"learner {item.learner_email} matches no partner contact any more")
            record_decision(session, action=f"{row.entity}.learner_{action}", entity=row.entity, record_id=item.id,
                            rule="certification.learner", reason=reason, now=now, run_id=run_id,
                            before={"contact_id": old[0], "partner_id": old[1]},
                            after={"contact_id": new[0], "partner_id": new[1]})
            if row is CourseCompletionRow:
                counts[f"learners_{action}"] += 1
        save_records(session, changed)
    return +counts


class UnmatchedLearner(BaseModel):
    """A learner with results in the LMS who is no partner contact (yet)."""

    learner: str
    completions: int
    passed: int
    product_lines: list[str]
    first_completed_at: datetime
    last_completed_at: datetime


def unmatched_learners(session: Session, *, limit: int | None = None) -> list[UnmatchedLearner]:
    """Learners whose completions have no partner, most recent first."""
    row = CourseCompletionRow
    query = (
        select(row.learner_email, row.passed, row.product_line, row.completed_at)
        .where(row.partner_id.is_(None))
        .order_by(row.learner_email)
    )
    grouped: dict[str, list[Any]] = {}
    for email, passed, line, completed_at in session.execute(query):
        grouped.setdefault(email, []).append((passed, line, completed_at))
    found = [
        UnmatchedLearner(
            learner=email, completions=len(rows), passed=sum(1 for p, _, _ in rows if p),
            product_lines=sorted({line for _, line, _ in rows if line}),
            first_completed_at=min(c for _, _, c in rows), last_completed_at=max(c for _, _, c in rows),
        )
        for email, rows in grouped.items()
    ]
    found.sort(key=lambda u: (u.last_completed_at, u.learner), reverse=True)
    return found[:limit] if limit is not None else found


def count_unmatched_learners(session: Session) -> int:
    """Distinct learners whose completions have no partner: the run report's ``unmatched`` count."""
    query = select(func.count(func.distinct(CourseCompletionRow.learner_email))).where(
        CourseCompletionRow.partner_id.is_(None))
    return session.scalar(query) or 0
