"""The failure classes of issue #19, with invented businesses: what a directory pair gets wrong.

Two independent listings of one business differ in a venue, a city or a word
added to the name, and in how street and phone are written; two businesses
share a short name in different cities, or a building and its switchboard.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import NOW

from prm_sync.config.settings import ConflictRules
from prm_sync.rules.candidates import Candidate, CandidateKind, RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker, ConflictResult
from prm_sync.rules.normalize import profile

RULES = ConflictRules()


def check(registration: dict[str, Any], account: dict[str, Any]) -> ConflictResult:
    checker = ConflictChecker(RULES)
    checker.add(Candidate(kind=CandidateKind.customer, record_id="cus_1", label=account["name"],
                          profile=profile(public_domains=RULES.public_mail_domains, **account)))
    query = RegistrationQuery(profile=profile(public_domains=RULES.public_mail_domains, **registration),
                              record_id="reg_1", partner_id="ptn_1", submitted_at=NOW)
    return checker.check(query)


def place(name: str, street: str, city: str, phone: str, country: str = "US") -> dict[str, Any]:
    return {"name": name, "street": street, "city": city, "phone": phone, "country": country}


@pytest.mark.parametrize(
    ("registration", "account"),
    [
        pytest.param(place("Northwind at Harbor Point", "1200 Harbor Point Blvd.", "Baltimore", "410/555-0142"),
                     place("Northwind", "1200 Harbor Point Boulevard", "Baltimore", "410-555-0142"), id="venue-added"),
        pytest.param(place("Tailspin (Seattle)", "1400 Fifth Ave.", "Seattle", "206-555-0199"),
                     place("Tailspin", "1400 5th Avenue", "Seattle", "(206) 555-0199"), id="city-added"),
        pytest.param(place("Fabrikam Restaurant", "88 Pine St.", "Portland", "503-555-0121"),
                     place("Fabrikam", "88 Pine Street", "Portland", "503/555-0121"), id="word-added"),
        pytest.param(place("Restaurant Contoso", "12 Rue de la Paix", "Paris", "01 42 68 53 00", "FR"),
                     place("Contoso", "12 rue de la Paix", "Paris", "+33 1 42 68 53 00", "FR"), id="word-in-front"),
        pytest.param(place("Tailspin Toys at Union Station", "50 Massachusetts Ave. NE", "Washington", "202.555.0187"),
                     place("Tailspin Toys", "50 Massachusetts Avenue", "Washington", "+1 202 555 0187"), id="venue-and-directional"),
    ],
)
def test_a_second_listing_that_adds_to_the_name_is_a_conflict(registration: dict[str, Any], account: dict[str, Any]) -> None:
    result = check(registration, account)
    assert result.decision == "conflict", result.reasons
    assert "same phone" in result.reasons[0] and "same street address" in result.reasons[0]


@pytest.mark.parametrize(
    ("registration", "account"),
    [
        pytest.param(place("The Contoso", "9560 Dayton Way", "Los Angeles", "310-555-0188"),
                     place("Contoso", "71 Newbury St.", "Boston", "617-555-0129"), id="the-contoso-la-vs-boston"),
        pytest.param(place("Fabrikam", "2709 Main St.", "Santa Monica", "310/555-0190"),
                     place("Fabrikam", "44 W. 63rd St.", "New York", "212/555-0174"), id="same-short-name"),
    ],
)
def test_a_short_shared_name_in_another_city_is_not_a_conflict(registration: dict[str, Any], account: dict[str, Any]) -> None:
    assert check(registration, account).decision == "clear"


def test_a_short_shared_name_in_another_city_with_the_same_phone_is_one_business() -> None:
    result = check(place("The Contoso", "", "Los Angeles", "617-555-0129"),
                   place("Contoso", "71 Newbury St.", "Boston", "617-555-0129"))
    assert result.decision == "conflict", result.reasons


def test_a_shared_name_in_another_city_without_an_address_is_for_a_person() -> None:
    result = check({"name": "Contoso", "city": "Los Angeles", "country": "US"},
                   {"name": "Contoso", "city": "Boston", "country": "US"})
    assert result.decision == "review", result.reasons


@pytest.mark.parametrize(
    ("registration", "account"),
    [
        pytest.param(place("Fabrikam Hotel Cafe", "3434 Peachtree Rd.", "Atlanta", "404/555-0100"),
                     place("Fabrikam Hotel Dining Room", "3434 Peachtree Road", "Atlanta", "404-555-0100"), id="cafe-vs-dining-room"),
        pytest.param(place("Contoso Center Bistro", "1 Mission St.", "San Francisco", "415-555-0102"),
                     place("Contoso Center Sushi Bar", "1 Mission Street", "San Francisco", "415-555-0102"), id="bistro-vs-sushi-bar"),
    ],
)
def test_two_businesses_in_one_building_are_at_most_a_review(registration: dict[str, Any], account: dict[str, Any]) -> None:
    result = check(registration, account)
    assert result.decision == "review", result.reasons
    assert result.score < RULES.conflict_threshold
    assert "at most review" in result.reasons[0]


def test_another_name_at_the_same_address_and_switchboard_is_not_flagged() -> None:
    result = check(place("Wingtip Steakhouse", "2880 Las Vegas Blvd. S", "Las Vegas", "702/555-0110"),
                   place("Northwind Casino", "2880 Las Vegas Boulevard South", "Las Vegas", "702-555-0110"))
    assert result.decision == "clear", result.reasons


@pytest.mark.parametrize(
    ("registration", "account"),
    [
        pytest.param(place("Bones", "3130 Piedmont Road", "Atlanta", "404/555-0186"),
                     place("Bones", "3130 piedmont rd. ne", "Atlanta", "404-555-0186"), id="road-vs-rd-ne"),
        pytest.param(place("Le Contoso", "3000 W. Paradise Rd.", "Las Vegas", "702-555-0107"),
                     place("Le Contoso", "3000 Paradise Rd.", "Las Vegas", "702/555-0107"), id="west-paradise-vs-paradise"),
        pytest.param(place("Contoso Deli", "854 7th Ave. between 54th and 55th Sts.", "New York", "212-555-0137"),
                     place("Contoso Deli", "854 Seventh Ave.", "New York City", "212/555-0137"), id="description-and-ordinal"),
        pytest.param(place("Trey Research", "1 Canada Sq.", "London", "+44 (0)20 7946 0321", "GB"),
                     place("Trey Research Ltd", "1 Canada Square", "London", "020 7946 0321", "GB"), id="e164-trunk-zero"),
    ],
)
def test_street_and_phone_formats_agree(registration: dict[str, Any], account: dict[str, Any]) -> None:
    result = check(registration, account)
    assert result.decision == "conflict", result.reasons
    assert {"phone", "street"} <= set(result.matches[0].matched_fields)


def test_phones_that_differ_in_the_last_digits_still_find_the_business() -> None:
    result = check(place("Contoso Rainbow Room", "30 Rockefeller Plaza", "New York", "212/555-5000"),
                   place("Contoso Rainbow Room", "30 Rockefeller Plz.", "New York", "212/555-5100"))
    assert result.decision == "conflict", result.reasons
    assert "differs in the last digits" in result.reasons[0]


def test_the_reason_spells_out_each_field_with_its_weight() -> None:
    result = check(place("Northwind at Harbor Point", "1200 Harbor Point Blvd.", "Baltimore", "410/555-0142"),
                   place("Northwind", "1200 Harbor Point Boulevard", "Baltimore", "410-555-0142"))
    assert result.reasons == [
        "name 'Northwind' within 'Northwind at Harbor Point' +5, same phone +14105550142 +8, "
        "same street address '1200 harbor point boulevard' +6, same city baltimore +1 = 20 bits as existing customer cus_1 (Northwind)"
    ]
