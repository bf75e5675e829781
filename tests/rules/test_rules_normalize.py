"""Normaliser cases: the forms partners type must meet the forms the CRM holds."""

from __future__ import annotations

import pytest

from prm_sync.rules.normalize import (
    acronym,
    e164_phone,
    name_tokens,
    normalize_city,
    normalize_country,
    normalize_domain,
    normalize_name,
    normalize_phone,
    normalize_street,
    street_parts,
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


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        pytest.param("404/237-2663", "US", "+14042372663", id="us-slash"),
        pytest.param("+44 (0)20 7946 0321", None, "+442079460321", id="uk-with-trunk-in-parentheses"),
        pytest.param("020 7946 0018", "GB", "+442079460018", id="uk-national"),
        pytest.param("(412) 555-0170 ext. 12", "US", "+14125550170", id="extension-dropped"),
        pytest.param("01.55.50.01.23", "FR", "+33155500123", id="fr-dotted"),
        pytest.param("404/237-2663", None, None, id="no-country-no-plus"),
        pytest.param("310/788-", "US", None, id="truncated"),
    ],
)
def test_e164_phone(raw: str, country: str | None, expected: str | None) -> None:
    assert e164_phone(raw, country) == expected


def test_phone_key_ignores_an_extension_without_a_country() -> None:
    assert normalize_phone("(412) 555-0170 ext. 12") == normalize_phone("+1 412 555 0170")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("3130 piedmont rd. ne", ("3130", ("piedmont", "road")), id="directional-dropped"),
        pytest.param("3000 W. Paradise Rd.", ("3000", ("paradise", "road")), id="leading-directional"),
        pytest.param("854 7th ave.  between 54th and 55th sts.", ("854", ("7th", "avenue")), id="description-cut"),
        pytest.param("1433 Third St. Promenade", ("1433", ("3rd", "street", "promenade")), id="ordinal-word"),
        pytest.param("2424 Main St. Suite 200", ("2424", ("main", "street")), id="suite-cut"),
        pytest.param("Hauptstr. 5", ("5", ("hauptstrasse",)), id="number-after-name"),
        pytest.param("200-250 Vesey St.", ("200", ("vesey", "street")), id="range"),
        pytest.param("North Ave.", (None, ("north", "avenue")), id="direction-as-the-name"),
    ],
)
def test_street_parts(raw: str, expected: tuple[str | None, tuple[str, ...]]) -> None:
    assert street_parts(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Palm, The", "palm", id="inverted-the"),
        pytest.param("palm  the (los angeles)", "palm", id="qualifier-in-parentheses"),
        pytest.param("(Acme)", "acme", id="parentheses-are-all-there-is"),
    ],
)
def test_directory_name_forms(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected
