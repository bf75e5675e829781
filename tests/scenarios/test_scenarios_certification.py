"""Learners pass courses; their partners' tiers change in Salesforce and HubSpot.

The LMS only knows a learner's email. These stories check that the product
works out, by itself, whose learner it is (the partner contact with that
email, whatever its case), and that the consequence is what a channel team
sees in its CRMs: ``Partner_Tier__c`` on the Salesforce account and
``partner_tier`` on the HubSpot company.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prm_sync.model import DealRegistration, Partner, PartnerContact

SYSTEMS = ("salesforce", "hubspot", "lms")
ACCOUNT = "Id, Name, Partner_Tier__c"
COMPANY = ["name", "partner_tier"]


def tiers_in_crms(world: Any, partner_id: str) -> tuple[str, str]:
    return (world.salesforce_by_prm_id("Account", partner_id, ACCOUNT)["Partner_Tier__c"],
            world.hubspot_by_prm_id("companies", partner_id, COMPANY)["partner_tier"])


def _jane_certified_almost_a_year_ago(world: Any) -> datetime:
    """Jane, Acme's contact, passed the platform course 360 days ago: valid 12 months, it lapses in five days."""
    t0 = world.clock.set(datetime.now(UTC).replace(microsecond=0))
    world.prm.save(Partner(id="ptn_acme", name="Acme Integrators"),
                   PartnerContact(id="pcn_jane", partner_id="ptn_acme", last_name="Doe", email="jane@acme.example"))
    world.lrs.completion("jane@acme.example", "platform-certified", product_line="platform",
                         when=t0 - timedelta(days=360))
    world.sync()
    assert tiers_in_crms(world, "ptn_acme") == ("Silver", "silver")
    return t0


def test_a_passed_course_promotes_the_learners_partner_in_both_crms(make_world: Any, store: Any) -> None:
    world = make_world(systems=SYSTEMS, store=store)
    world.prm.save(
        Partner(id="ptn_acme", name="Acme Integrators"),
        Partner(id="ptn_bolt", name="Bolt Systems"),
        PartnerContact(id="pcn_jane", partner_id="ptn_acme", first_name="Jane", last_name="Doe",
                       email="Jane.Doe@Acme.example"),
    )
    world.sync()
    assert tiers_in_crms(world, "ptn_acme") == ("Registered", "registered")

    # Jane passes the security course; so does Sam, whom no partner has listed as a contact (yet)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    world.lrs.completion("JANE.DOE@acme.example", "security-certified", product_line="security", when=yesterday)
    world.lrs.completion({"objectType": "Agent", "account": {"homePage": "https://lms.example.com",
                                                               "name": "sam@bolt.example"}},
                         "security-certified", product_line="security", when=yesterday)
    report = world.sync()

    assert report.rule_decisions["learners_linked"] == 1 and report.rule_decisions["certified"] == 2
    assert report.unmatched == {"lms_learners": 1}
    assert tiers_in_crms(world, "ptn_acme") == ("Silver", "silver")
    assert tiers_in_crms(world, "ptn_bolt") == ("Registered", "registered")
    listed = world.cli("learners", "unmatched", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(u["learner"], u["passed"]) for u in listed.json()["learners"]] == [("sam@bolt.example", 1)]

    # Bolt lists Sam as a contact: the completion he already has now counts for Bolt
    world.prm.save(PartnerContact(id="pcn_sam", partner_id="ptn_bolt", last_name="Sample", email="Sam@Bolt.example"))
    report = world.sync()
    assert report.rule_decisions["learners_linked"] == 1 and not report.unmatched
    assert tiers_in_crms(world, "ptn_bolt") == ("Silver", "silver")
    assert world.cli("learners", "unmatched", "--json").json()["total"] == 0
    world.assert_settled()


def test_an_expired_certification_demotes_only_after_the_grace_period(make_world: Any, store: Any) -> None:
    world = make_world(systems=SYSTEMS, store=store)
    t0 = _jane_certified_almost_a_year_ago(world)

    world.clock.set(t0 + timedelta(days=10))  # expired; grace (60 days in this config) starts
    world.sync()
    assert tiers_in_crms(world, "ptn_acme") == ("Silver", "silver")
    grace = world.prm.get("partner", "ptn_acme").tier_grace_until
    assert grace == (t0 + timedelta(days=70)).date()

    world.clock.set(t0 + timedelta(days=69))
    world.sync()
    assert tiers_in_crms(world, "ptn_acme") == ("Silver", "silver")

    world.clock.set(t0 + timedelta(days=70))
    report = world.sync()
    assert report.rule_decisions.get("tier_changes") == 1
    assert tiers_in_crms(world, "ptn_acme") == ("Registered", "registered")
    world.assert_settled()


def test_the_certification_gate_credits_the_partners_learners(make_world: Any, store: Any) -> None:
    world = make_world(systems=SYSTEMS, store=store)
    world.env.runtime.config.rules.certification.required_for_product_lines = ["security"]
    world.prm.save(
        Partner(id="ptn_acme", name="Acme Integrators"), Partner(id="ptn_bolt", name="Bolt Systems"),
        PartnerContact(id="pcn_jane", partner_id="ptn_acme", last_name="Doe", email="jane@acme.example"),
    )
    world.lrs.completion("Jane@Acme.example", "security-certified", product_line="security",
                         when=datetime.now(UTC) - timedelta(days=3))
    submitted = datetime.now(UTC) - timedelta(hours=1)
    world.prm.save(
        DealRegistration(id="reg_acme", partner_id="ptn_acme", customer_name="Initech", product_lines=["security"],
                         submitted_at=submitted),
        DealRegistration(id="reg_bolt", partner_id="ptn_bolt", customer_name="Globex", product_lines=["security"],
                         submitted_at=submitted),
    )
    world.sync()

    fields = "Id, Status__c, Conflict_Reason__c"
    acme = world.salesforce_by_prm_id("Deal_Registration__c", "reg_acme", fields)
    bolt = world.salesforce_by_prm_id("Deal_Registration__c", "reg_bolt", fields)
    assert acme["Status__c"] == "Submitted"  # Jane's certification counts for Acme
    assert bolt["Status__c"] == "Returned"
    assert "no active certification for security" in bolt["Conflict_Reason__c"]
    assert world.hubspot_by_prm_id("p_deal_registrations", "reg_acme", ["status"])["status"] == "submitted"
    world.assert_settled()


def test_a_learner_added_as_a_contact_in_salesforce_credits_the_partner_with_what_they_already_passed(
    make_world: Any,
) -> None:
    """The contact appears where reps work: on the partner's account in Salesforce, with the learner's email."""
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_bolt", name="Bolt Systems"))
    world.lrs.completion("sam.sample@bolt.example", "security-certified", product_line="security",
                         when=datetime.now(UTC) - timedelta(days=2))
    report = world.sync()
    assert report.unmatched == {"lms_learners": 1}
    assert tiers_in_crms(world, "ptn_bolt") == ("Registered", "registered")

    bolt = world.salesforce_by_prm_id("Account", "ptn_bolt", "Id")["Id"]
    world.salesforce.Contact.create({"AccountId": bolt, "FirstName": "Sam", "LastName": "Sample",
                                     "Email": "Sam.Sample@Bolt.example"})  # a rep lists Sam on Bolt's account
    report = world.sync()

    [sam] = world.prm.all("partner_contact")
    assert (sam.partner_id, sam.email) == ("ptn_bolt", "sam.sample@bolt.example")  # adopted from Salesforce
    assert report.rule_decisions["learners_linked"] == 1 and not report.unmatched
    assert tiers_in_crms(world, "ptn_bolt") == ("Silver", "silver")
    assert world.hubspot_by_prm_id("contacts", sam.id, ["email"])["email"] == "sam.sample@bolt.example"
    assert world.cli("learners", "unmatched", "--json").json()["total"] == 0
    world.assert_settled()


def test_a_learner_who_recertifies_keeps_the_partners_tier_and_the_retake_stands(make_world: Any, store: Any) -> None:
    """Certifications lapse after 12 months; Jane retakes the course before hers does. Both results stay in the LRS
    under the same learner and course: the retake is the completion, and syncs that re-read both change nothing."""
    world = make_world(systems=SYSTEMS, store=store)
    t0 = _jane_certified_almost_a_year_ago(world)

    retake = t0 - timedelta(days=1)
    world.lrs.completion("jane@acme.example", "platform-certified", product_line="platform", when=retake)
    world.sync()
    [completion] = world.prm.all("course_completion")
    assert completion.completed_at == retake
    [certification] = world.prm.all("certification")
    assert certification.expires_at.date() == (retake + timedelta(days=365)).date()
    world.assert_settled()  # both statements are read again (the overlap): the retake still stands
    assert world.prm.all("course_completion")[0].completed_at == retake

    world.clock.set(t0 + timedelta(days=10))  # the first certification's year is over: no grace, no demotion
    world.sync()
    assert world.prm.get("partner", "ptn_acme").tier_grace_until is None
    assert tiers_in_crms(world, "ptn_acme") == ("Silver", "silver")
    world.assert_settled()
