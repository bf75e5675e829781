"""Normalising end-customer identity: names, acronyms, domains, phones, places.

Partners and reps type the same company many ways ("ACME, Inc.", "Acme
Incorporated", "acme.com", "+1 (212) 555-0100"). The conflict check compares
these normalised forms, so every rule that asks "is this the same customer?"
(conflict, attribution by customer match, the CSV check) shares one answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# legal forms, as tokens after dots are dropped ("S.A." -> "sa", "Co." -> "co")
LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "gmbh", "mbh", "corp", "corporation",
        "sa", "sas", "sarl", "sl", "spa", "srl", "ag", "kg", "kgaa", "plc", "co", "company", "bv", "nv",
        "kk", "oy", "oyj", "ab", "as", "asa", "aps", "pty", "pte", "pvt", "se", "ltda", "cv", "sae",
    }
)
# multi-token legal forms seen after tokenising ("Pty Ltd", "S. A.", "& Co")
LEGAL_SUFFIX_PAIRS = frozenset(
    {("pty", "ltd"), ("co", "ltd"), ("and", "co"), ("s", "a"), ("s", "l"), ("b", "v"), ("n", "v"),
     ("k", "k"), ("co", "kg"), ("gmbh", "co"), ("pvt", "ltd"), ("pte", "ltd"), ("sp", "zoo")}
)
# abbreviations expanded so "Intl Business Machines" meets "International Business Machines"
ABBREVIATIONS = {
    "intl": "international", "int'l": "international", "natl": "national", "mfg": "manufacturing",
    "svcs": "services", "svc": "services", "sys": "systems", "grp": "group", "hldgs": "holdings",
    "hldg": "holdings", "bros": "brothers", "univ": "university", "ctr": "center", "centre": "center",
    "assoc": "associates", "dept": "department", "tech": "technologies", "technology": "technologies",
    "labs": "laboratories", "lab": "laboratories", "mgmt": "management", "ind": "industries",
    "inds": "industries", "chem": "chemicals", "pharma": "pharmaceuticals", "telecom": "telecommunications",
    "fin": "financial", "ins": "insurance",
}
# words that say what a firm does, not which firm it is; compared apart from the distinctive ones
GENERIC_WORDS = frozenset(
    {
        "systems", "industries", "logistics", "health", "healthcare", "foods", "energy", "networks", "capital",
        "manufacturing", "retail", "media", "pharmaceuticals", "robotics", "analytics", "motors", "textiles",
        "airlines", "insurance", "software", "bank", "mining", "chemicals", "hotels", "shipping", "consulting",
        "holdings", "group", "technologies", "services", "partners", "international", "laboratories",
        "solutions", "global", "enterprises", "digital", "financial", "management", "telecommunications",
        "national", "associates", "brothers", "center", "university",
    }
)
STOPWORDS = frozenset({"the", "and", "of", "for", "de", "la", "le", "der", "die", "das", "et", "y"})
STREET_WORDS = {
    "st": "street", "str": "strasse", "straße": "strasse", "ave": "avenue", "av": "avenue", "rd": "road",
    "blvd": "boulevard", "dr": "drive", "ln": "lane", "hwy": "highway", "sq": "square", "pl": "place",
    "ct": "court", "pkwy": "parkway", "n": "north", "s": "south", "e": "east", "w": "west", "fl": "floor",
    "ste": "suite",
}
CITY_ALIASES = {
    "nyc": "new york", "new york city": "new york", "muenchen": "munich", "munchen": "munich",
    "koln": "cologne", "koeln": "cologne", "wien": "vienna", "milano": "milan", "roma": "rome",
    "praha": "prague", "lisboa": "lisbon", "den haag": "the hague", "sf": "san francisco",
    "la": "los angeles", "frankfurt am main": "frankfurt", "zurich": "zurich", "geneve": "geneva",
}
COUNTRIES = {
    "united states": "US", "united states of america": "US", "usa": "US", "us": "US", "america": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "gb": "GB", "gbr": "GB", "germany": "DE", "deutschland": "DE", "de": "DE", "deu": "DE",
    "france": "FR", "fr": "FR", "fra": "FR", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
    "nederland": "NL", "nl": "NL", "nld": "NL", "japan": "JP", "jp": "JP", "jpn": "JP", "nippon": "JP",
    "australia": "AU", "au": "AU", "aus": "AU", "canada": "CA", "ca": "CA", "can": "CA", "spain": "ES",
    "espana": "ES", "es": "ES", "esp": "ES", "italy": "IT", "italia": "IT", "it": "IT", "ita": "IT",
    "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "ch": "CH", "austria": "AT", "osterreich": "AT",
    "oesterreich": "AT", "at": "AT", "belgium": "BE", "belgique": "BE", "be": "BE", "sweden": "SE",
    "sverige": "SE", "se": "SE", "norway": "NO", "norge": "NO", "no": "NO", "denmark": "DK",
    "danmark": "DK", "dk": "DK", "finland": "FI", "suomi": "FI", "fi": "FI", "ireland": "IE", "ie": "IE",
    "portugal": "PT", "pt": "PT", "poland": "PL", "polska": "PL", "pl": "PL", "brazil": "BR",
    "brasil": "BR", "br": "BR", "mexico": "MX", "mx": "MX", "india": "IN", "in": "IN", "china": "CN",
    "cn": "CN", "singapore": "SG", "sg": "SG", "south korea": "KR", "korea": "KR", "kr": "KR",
    "new zealand": "NZ", "nz": "NZ", "south africa": "ZA", "za": "ZA", "israel": "IL", "il": "IL",
    "united arab emirates": "AE", "uae": "AE", "ae": "AE", "czech republic": "CZ", "czechia": "CZ",
    "cz": "CZ", "luxembourg": "LU", "lu": "LU", "argentina": "AR", "ar": "AR", "chile": "CL", "cl": "CL",
}
PHONE_KEY_DIGITS = 9  # national numbers differ in trunk prefix and country code, not in their last 9

_DROP = re.compile("[.'\u2019`\u00b4]")  # dots and apostrophes join: S.A. -> sa, O'Neil -> oneil
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_DIGITS = re.compile(r"\D+")


def fold(text: str) -> str:
    """Lowercase ASCII-ish text: accents removed (``Müller`` -> ``muller``), ``ß`` -> ``ss``."""
    text = text.replace("ß", "ss").replace("ẞ", "ss").replace("Æ", "AE").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _tokens(text: str) -> list[str]:
    text = fold(text).replace("&", " and ").replace("+", " and ")
    text = _DROP.sub("", text)
    return [t for t in _NON_ALNUM.split(text) if t]


def _strip_legal(tokens: list[str]) -> list[str]:
    """Drop trailing legal forms, repeatedly ("Acme Holdings Co. Ltd" -> acme holdings)."""
    out = list(tokens)
    while len(out) > 1:
        if len(out) > 2 and (out[-2], out[-1]) in LEGAL_SUFFIX_PAIRS:
            del out[-2:]
        elif out[-1] in LEGAL_SUFFIXES or out[-1] == "and":  # "GmbH & Co. KG" leaves a dangling "and"
            out.pop()
        else:
            break
    if len(out) > 1 and out[0] == "the":
        out.pop(0)
    return out


def name_tokens(name: str) -> list[str]:
    """Normalised tokens of a company name, legal forms stripped and abbreviations expanded."""
    return [ABBREVIATIONS.get(t, t) for t in _strip_legal(_tokens(name))]


def normalize_name(name: str) -> str:
    """``"ACME, Inc."``, ``"Acme Incorporated"`` and ``"acme"`` all become ``"acme"``."""
    return " ".join(name_tokens(name))


def acronym(tokens: Iterable[str]) -> str | None:
    """Initials of a multi-word name, stopwords skipped: International Business Machines -> ibm."""
    words = [t for t in tokens if t not in STOPWORDS]
    if len(words) < 2:
        return None
    return "".join(w[0] for w in words)


def looks_like_acronym(raw_name: str, tokens: list[str]) -> bool:
    """A one-word name of 2-6 letters, or one typed in capitals, may stand for a longer name."""
    if not tokens or len(tokens) > 2 or not tokens[0].isalpha():
        return False
    first = tokens[0]
    typed_upper = any(w.isupper() and len(w) >= 2 for w in raw_name.split()[:1])
    return 2 <= len(first) <= 6 and (typed_upper or len(tokens) == 1)


def normalize_domain(value: str | None, public_domains: Iterable[str] = ()) -> str | None:
    """Domain of a website URL, an email address or a bare domain; None for public mail providers.

    ``https://www.Acme.com:443/contact`` and ``jane@acme.com`` both give ``acme.com``; a
    gmail address says nothing about the company, so it never counts as a match.
    """
    if not value:
        return None
    text = fold(value.strip())
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1].split(":", 1)[0].strip(". ")
    if text.startswith("www."):
        text = text[4:]
    if "." not in text or " " in text:
        return None
    if text in {d.lower() for d in public_domains}:
        return None
    return text


def normalize_phone(value: str | None) -> str | None:
    """The last 9 digits: ``+1 (212) 555-0100`` and ``212.555.0100`` agree; short numbers are ignored."""
    if not value:
        return None
    digits = _DIGITS.sub("", value)
    if len(digits) < PHONE_KEY_DIGITS:
        return None
    return digits[-PHONE_KEY_DIGITS:]


def normalize_country(value: str | None) -> str | None:
    """ISO 3166 alpha-2 from a code or a common name (``Deutschland`` -> ``DE``); unknown -> None."""
    if not value:
        return None
    key = " ".join(_tokens(value))
    if key in COUNTRIES:
        return COUNTRIES[key]
    if len(key) == 2 and key.isalpha():
        return key.upper()
    return None


def normalize_city(value: str | None) -> str | None:
    if not value:
        return None
    key = " ".join(_tokens(value))
    key = CITY_ALIASES.get(key, key)
    return key or None


def normalize_street(value: str | None) -> str | None:
    """``123 Main St.`` and ``123 main street`` agree; ``Hauptstr. 5`` and ``Hauptstrasse 5`` too."""
    if not value:
        return None
    words: list[str] = []
    for token in _tokens(value):
        if token.endswith("str") and len(token) > 3:
            token = token[:-3] + "strasse"
        words.append(STREET_WORDS.get(token, token))
    return " ".join(words) or None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """One end customer as the conflict check sees it: every field already normalised."""

    name: str
    norm: str
    tokens: tuple[str, ...]
    acronym: str | None
    short_form: bool  # the name itself may be an acronym ("IBM", "AS Inc")
    domain: str | None
    country: str | None
    city: str | None
    phone: str | None
    street: str | None


def profile(
    name: str,
    *,
    domain: str | None = None,
    emails: Iterable[str | None] = (),
    website: str | None = None,
    country: str | None = None,
    city: str | None = None,
    phone: str | None = None,
    street: str | None = None,
    public_domains: Iterable[str] = (),
) -> CustomerProfile:
    """Normalise one customer; the domain comes from ``domain``, else ``website``, else an email."""
    public = frozenset(d.lower() for d in public_domains)
    found = normalize_domain(domain, public) or normalize_domain(website, public)
    for email in emails:
        found = found or normalize_domain(email, public)
    tokens = name_tokens(name)
    return CustomerProfile(
        name=name,
        norm=" ".join(tokens),
        tokens=tuple(tokens),
        acronym=acronym(tokens),
        short_form=looks_like_acronym(name, tokens),
        domain=found,
        country=normalize_country(country),
        city=normalize_city(city),
        phone=normalize_phone(phone),
        street=normalize_street(street),
    )
