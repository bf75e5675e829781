"""Normaliser cases: the forms partners type must meet the forms the CRM holds."""

from __future__ import annotations

import pytest

from prm_sync.rules.normalize import (
    acronym,
    name_tokens,
    normalize_city,
    normalize_country,
    normalize_domain,
    normalize_name,
    normalize_phone,
    normalize_street,
)

PUBLIC = ["gmail.com", "outlook.com"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("ACME, Inc.", "acme", id="inc-with-comma"),
        pytest.param("Acme Incorporated", "acme", id="incorporated"),
        pytest.param("Acme LLC", "acme", id="llc"),
        pytest.param("Acme Corp.", "acme", id="corp"),
        pytest.param("Acme Corporation", "acme", id="corporation"),
        pytest.param("Acme S.A.", "acme", id="sa-dotted"),
        pytest.param("Acme GmbH & Co. KG", "acme", id="gmbh-co-kg"),
        pytest.param("Acme Pty Ltd", "acme", id="pty-ltd"),
        pytest.param("Acme Holdings PLC", "acme holdings", id="plc"),
        pytest.param("Acme B.V.", "acme", id="bv"),
        pytest.param("Acme KK", "acme", id="kk"),
        pytest.param("The Acme Co.", "acme", id="leading-the"),
        pytest.param("Müller & Söhne AG", "muller and sohne", id="accents-and-ampersand"),
        pytest.param("Straße Bau GmbH", "strasse bau", id="eszett"),
        pytest.param("  Johnson   &  Johnson ", "johnson and johnson", id="whitespace"),
        pytest.param("Intl Business Machines", "international business machines", id="abbreviation"),
        pytest.param("Inc", "inc", id="only-a-suffix-is-kept"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("International Business Machines Corp", "ibm", id="ibm"),
        pytest.param("Bank of America", "ba", id="stopword-skipped"),
        pytest.param("Acme", None, id="one-word-has-none"),
    ],
)
def test_acronym(raw: str, expected: str | None) -> None:
    assert acronym(name_tokens(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("https://www.Acme.com:443/contact?x=1", "acme.com", id="url-with-port-path"),
        pytest.param("http://acme.co.uk", "acme.co.uk", id="url-two-level-tld"),
        pytest.param("jane.doe@Acme.com", "acme.com", id="email"),
        pytest.param("www.acme.com", "acme.com", id="bare-www"),
        pytest.param("bob@gmail.com", None, id="public-mail-ignored"),
        pytest.param("outlook.com", None, id="public-domain-ignored"),
        pytest.param("not a domain", None, id="garbage"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_normalize_domain(raw: str | None, expected: str | None) -> None:
    assert normalize_domain(raw, PUBLIC) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("+1 (212) 555-0100", "212.555.0100", id="us-country-code"),
        pytest.param("+44 20 7946 0018", "020 7946 0018", id="uk-trunk-zero"),
        pytest.param("+33 1 23 45 67 89", "01 23 45 67 89", id="fr-nine-digits"),
    ],
)
def test_phones_agree_across_formats(a: str, b: str) -> None:
    assert normalize_phone(a) == normalize_phone(b) is not None


def test_short_phone_is_ignored() -> None:
    assert normalize_phone("ext 1234") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Deutschland", "DE", id="native-name"),
        pytest.param("United States of America", "US", id="long-name"),
        pytest.param("USA", "US", id="alpha3-ish"),
        pytest.param("gb", "GB", id="code-lowercase"),
        pytest.param("Atlantis", None, id="unknown"),
    ],
)
def test_normalize_country(raw: str, expected: str | None) -> None:
    assert normalize_country(raw) == expected


def test_city_and_street_forms() -> None:
    assert normalize_city("München") == normalize_city("Munich") == "munich"
    assert normalize_street("123 Main St.") == normalize_street("123 main street")
    assert normalize_street("Hauptstr. 5") == normalize_street("Hauptstrasse 5")
