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
from functools import lru_cache

import phonenumbers

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
# words that say what kind of place a business is ("Fabrikam Restaurant" is Fabrikam): compared apart,
# like GENERIC_WORDS, so that a directory adding or dropping one does not hide the match
VENUE_WORDS = frozenset(
    {
        "restaurant", "ristorante", "trattoria", "osteria", "cafe", "caffe", "coffee", "bar", "grill", "grille",
        "bistro", "brasserie", "deli", "delicatessen", "diner", "kitchen", "tavern", "pub", "inn", "hotel", "lounge",
        "room", "dining", "steakhouse", "pizzeria", "cuisine", "gourmet", "shop", "store", "eatery", "cantina",
        "agency", "company", "office", "offices", "stores", "lodge", "terrace", "plaza", "tower", "mall",
    }
)
STOPWORDS = frozenset({"the", "and", "of", "for", "de", "la", "le", "der", "die", "das", "et", "y", "at", "in", "on"})
STREET_WORDS = {
    "st": "street", "str": "strasse", "straße": "strasse", "ave": "avenue", "av": "avenue", "rd": "road",
    "blvd": "boulevard", "dr": "drive", "ln": "lane", "hwy": "highway", "sq": "square", "pl": "place",
    "ct": "court", "pkwy": "parkway", "n": "north", "s": "south", "e": "east", "w": "west", "fl": "floor",
    "ste": "suite", "ne": "northeast", "nw": "northwest", "se": "southeast", "sw": "southwest", "plz": "plaza",
    "sts": "street", "ter": "terrace", "cir": "circle", "bldg": "building", "ctr": "center", "centre": "center",
    "mt": "mount", "ft": "fort", "hts": "heights", "bl": "boulevard", "blv": "boulevard",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
    "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}
DIRECTIONS = frozenset({"north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"})
STREET_TYPES = frozenset({"street", "road", "avenue", "boulevard", "drive", "lane", "highway", "square", "place", "court",
                          "parkway", "plaza", "terrace", "circle", "way", "strasse"})
# where the street address ends and a description begins ("854 7th Ave. between 54th and 55th Sts.")
_STREET_TAIL = re.compile(r"\s(?:between|btwn|near|off|at|across from|corner of)\s.*$|\(.*?\)|\s(?:suite|ste|unit|apt|fl|floor|#)\b.*$|#.*$")
CITY_ALIASES = {
    "nyc": "new york", "new york city": "new york", "muenchen": "munich", "munchen": "munich",
    "koln": "cologne", "koeln": "cologne", "wien": "vienna", "milano": "milan", "roma": "rome",
    "praha": "prague", "lisboa": "lisbon", "den haag": "the hague", "sf": "san francisco",
    "la": "los angeles", "frankfurt am main": "frankfurt", "zurich": "zurich", "geneve": "geneva",
    "w hollywood": "west hollywood", "e hollywood": "east hollywood", "n hollywood": "north hollywood",
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
# North American numbers are by far the most common in CRMs: written without letters, they need no parser
_NANP = frozenset({"US", "CA"})
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#)\s*\d+\s*$", re.IGNORECASE)

_DROP = re.compile("[.'\u2019`\u00b4]")  # dots and apostrophes join: S.A. -> sa, O'Neil -> oneil
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_DIGITS = re.compile(r"\D+")


def fold(text: str) -> str:
    """Lowercase ASCII-ish text: accents removed (``Müller`` -> ``muller``), ``ß`` -> ``ss``."""
    if text.isascii():  # most names and addresses: nothing to decompose
        return text.lower()
    text = text.replace("ß", "ss").replace("ẞ", "ss").replace("Æ", "AE").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _tokens(text: str) -> list[str]:
    text = fold(text).replace("&", " and ").replace("+", " and ")
    text = _DROP.sub("", text)
    return [t for t in _NON_ALNUM.split(text) if t]


_PARENTHESES = re.compile(r"\([^)]*\)?")


def _strip_legal(tokens: list[str]) -> list[str]:
    """Drop trailing legal forms, repeatedly ("Acme Holdings Co. Ltd" -> acme holdings), and a "the"
    at either end ("The Palm", and directories' inverted "Palm, The")."""
    out = list(tokens)
    if len(out) > 1 and out[-1] == "the":
        out.pop()
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
    """Normalised tokens of a company name, legal forms stripped and abbreviations expanded.

    A parenthesised part is a qualifier that directories add ("Palm (Los
    Angeles)", "Acme (formerly Widgets)"): it is left out unless it is all there is.
    """
    bare = _PARENTHESES.sub(" ", name)
    tokens = _tokens(bare) or _tokens(name)
    return [ABBREVIATIONS.get(t, t) for t in _strip_legal(tokens)]


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


def normalize_phone(value: str | None, country: str | None = None) -> str | None:
    """The comparison key: the last 9 digits of the national number, extension left out.

    ``+1 (212) 555-0100`` and ``212.555.0100`` agree, and so do ``+44 20 7946
    0018`` and ``020 7946 0018`` whether or not the country is known; short
    numbers are ignored. ``e164_phone`` gives the full number where it can.
    """
    full = e164_phone(value, country)
    if full is not None:
        digits = full[1:]
    else:
        if not value:
            return None
        digits = _DIGITS.sub("", _EXTENSION.sub("", value))
    if len(digits) < PHONE_KEY_DIGITS:
        return None
    return digits[-PHONE_KEY_DIGITS:]


@lru_cache(maxsize=65536)
def e164_phone(value: str | None, country: str | None = None) -> str | None:
    """``+14042372663`` for ``404/237-2663`` in the US; None when the country is unknown and the
    number has no ``+``, or when it is not a possible number there.

    ``country`` is an ISO 3166 alpha-2 code (``normalize_country``).
    """
    if not value:
        return None
    text = value.strip()
    if not text.startswith(("+", "00")) and country is None:
        return None
    if country in _NANP and not any(ch.isalpha() for ch in text):
        digits = _DIGITS.sub("", text)
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        if len(digits) == 10 and digits[0] not in "01":
            return "+1" + digits
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


def street_parts(value: str | None) -> tuple[str | None, tuple[str, ...]]:
    """(house number, street name words) of an address line, without its description and unit.

    ``3130 Piedmont Rd. NE``, ``3130 piedmont road`` and ``3130 Piedmont Road
    (near Peachtree)`` all give ``("3130", ("piedmont", "road"))``: directions
    are dropped from the name (one directory writes them, the other does not),
    unless the name is nothing else. ``Hauptstr. 5`` gives ``("5", ("hauptstrasse",))``.
    """
    if not value:
        return None, ()
    text = _STREET_TAIL.sub("", " " + fold(value).replace("-", " ")).strip() or fold(value)
    words = []
    for token in _tokens(text):
        if token.endswith("str") and len(token) > 3:
            token = token[:-3] + "strasse"
        words.append(STREET_WORDS.get(token, token))
    number = None
    if words and words[0][:1].isdigit() and not words[0].endswith(("st", "nd", "rd", "th")):
        number = words.pop(0)
        while words and words[0].isdigit():  # "200-250 Vesey St": the first number of a range
            words.pop(0)
    elif words and words[-1][:1].isdigit():
        number = words.pop()
    named = [w for w in words if w not in DIRECTIONS]
    if not set(named) - STREET_TYPES:  # "North Ave.": the direction is the name
        named = words
    return number, tuple(named)


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
    phone: str | None  # comparison key (``normalize_phone``)
    street: str | None
    phone_e164: str | None = None
    street_number: str | None = None
    street_name: tuple[str, ...] = ()


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
    iso = normalize_country(country)
    number, street_name = street_parts(street)
    return CustomerProfile(
        name=name,
        norm=" ".join(tokens),
        tokens=tuple(tokens),
        acronym=acronym(tokens),
        short_form=looks_like_acronym(name, tokens),
        domain=found,
        country=iso,
        city=normalize_city(city),
        phone=normalize_phone(phone, iso),
        street=normalize_street(street),
        phone_e164=e164_phone(phone, iso),
        street_number=number,
        street_name=street_name,
    )
