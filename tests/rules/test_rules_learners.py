"""Learners resolved to partner contacts: case-insensitive, retroactive, following the contact."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW, partner
from sqlalchemy.orm import Session

from prm_sync.model import Certification, CourseCompletion, PartnerContact
from prm_sync.rules.learners import (
    count_unmatched_learners,
    learner_key,
    resolve_learners,
    unmatched_learners,
)
from prm_sync.store.audit import query_audit
from prm_sync.store.records import delete_record, get_record, save_record


def completion(session: Session, cid: str, email: str, *, days_ago: int = 1) -> None:
    """What the LMS pull stores: the learner's email, no contact, no partner."""
    save_record(session, CourseCompletion(id=cid, learner_email=email, course_id="c1", product_line="security",
                                          completed_at=NOW - timedelta(days=days_ago), score=0.9))


def contact(session: Session, cid: str, partner_id: str, email: str, *, at_minutes: int = 0) -> None:
    save_record(session, PartnerContact(id=cid, partner_id=partner_id, last_name="Doe", email=email,
                                        updated_at=NOW + timedelta(minutes=at_minutes)))


def owner(session: Session, entity: str, record_id: str) -> tuple[str | None, str | None]:
    record = get_record(session, entity, record_id)
    return record.contact_id, record.partner_id  # type: ignore[union-attr]


def test_learner_key_ignores_mailto_case_and_spaces() -> None:
    assert learner_key(" MAILTO:Jane.Doe@Acme.Example ") == "jane.doe@acme.example"
    assert learner_key(None) == ""


def test_a_completion_finds_its_contact_whatever_the_case(session: Session) -> None:
    partner(session, "ptn_1")
    contact(session, "pcn_1", "ptn_1", " Jane.Doe@Acme.example")
    completion(session, "cmp_1", "jane.doe@acme.example")
    assert resolve_learners(session, now=NOW) == {"learners_linked": 1}
    assert owner(session, "course_completion", "cmp_1") == ("pcn_1", "ptn_1")
    [entry] = query_audit(session, record_id="cmp_1")
    assert entry.action == "course_completion.learner_linked"
    assert "partner contact pcn_1 of partner ptn_1" in (entry.reason or "")
    assert resolve_learners(session, now=NOW) == {}  # nothing left to do


def test_an_unknown_learner_is_kept_listed_and_linked_retroactively(session: Session) -> None:
    partner(session, "ptn_1")
    completion(session, "cmp_old", "sam@bolt.example", days_ago=30)
    completion(session, "cmp_new", "sam@bolt.example", days_ago=2)
    save_record(session, Certification(id="crt_sam", learner_email="sam@bolt.example", product_line="security",
                                       name="Security Certified", issued_at=NOW - timedelta(days=2),
                                       expires_at=NOW + timedelta(days=300)))
    assert resolve_learners(session, now=NOW) == {}
    assert count_unmatched_learners(session) == 1
    [listed] = unmatched_learners(session)
    assert (listed.learner, listed.completions, listed.passed, listed.product_lines) == (
        "sam@bolt.example", 2, 2, ["security"])

    contact(session, "pcn_sam", "ptn_1", "Sam@Bolt.example")
    assert resolve_learners(session, now=NOW) == {"learners_linked": 2}
    assert owner(session, "course_completion", "cmp_old") == ("pcn_sam", "ptn_1")
    assert owner(session, "certification", "crt_sam") == ("pcn_sam", "ptn_1")
    assert count_unmatched_learners(session) == 0


def test_links_follow_the_contact_to_another_partner_and_away(session: Session) -> None:
    partner(session, "ptn_1")
    partner(session, "ptn_2")
    contact(session, "pcn_1", "ptn_1", "jane@acme.example")
    completion(session, "cmp_1", "jane@acme.example")
    resolve_learners(session, now=NOW)

    contact(session, "pcn_1", "ptn_2", "jane@acme.example")  # Jane's contact moved to another partner
    assert resolve_learners(session, now=NOW) == {"learners_moved": 1}
    assert owner(session, "course_completion", "cmp_1") == ("pcn_1", "ptn_2")

    delete_record(session, "partner_contact", "pcn_1")
    assert resolve_learners(session, now=NOW) == {"learners_unlinked": 1}
    assert owner(session, "course_completion", "cmp_1") == (None, None)
    assert count_unmatched_learners(session) == 1


def test_two_contacts_with_one_email_resolve_to_the_one_updated_last(session: Session) -> None:
    partner(session, "ptn_old")
    partner(session, "ptn_new")
    contact(session, "pcn_old", "ptn_old", "jane@example.com", at_minutes=0)
    contact(session, "pcn_new", "ptn_new", "JANE@example.com", at_minutes=5)
    completion(session, "cmp_1", "jane@example.com")
    resolve_learners(session, now=NOW)
    assert owner(session, "course_completion", "cmp_1") == ("pcn_new", "ptn_new")
