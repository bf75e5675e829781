"""Evidence that two customer profiles are one business, field by field, as match weights.

Each comparison (name, phone, street, city, country, domain) gives a level
and a weight in bits (log2 of how much likelier the level is for one business
than for two: the Fellegi-Sunter match weights a record-linkage library such as
Splink estimates), and a phrase a channel manager can read. The weights add
up; ``score`` maps the sum onto the 0-100 scale of the configured thresholds:
8 bits is 90 (``conflict`` by default), 4 bits is 70 (``review``).

The weights were set by hand and tuned on the training half of
``benchmarks/conflict_quality.py`` (real restaurant listings described by two
directories, plus invented cases in each failure class); its validation half
is never tuned on. What they encode:

- A name is compared as word sets with the generic words apart (legal forms,
  "Systems", "Restaurant", "Cafe", the record's own city): "Fabrikam
  Restaurant" is Fabrikam, "Northwind at Harbor Point" contains Northwind. Two
  names that share their distinctive words but each add a word of their own
  ("Fabrikam Hotel Cafe", "Fabrikam Hotel Dining Room") are two businesses in
  one place as often as one: such a pair is at most a ``review``.
- A shared phone number and street address are strong evidence; a different
  phone or street counts against, so a short shared name in another city with
  another phone and street is not a conflict.
- A name that is different, or only an acronym, never makes a ``conflict`` on
  place evidence alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from prm_sync.rules.normalize import GENERIC_WORDS, STOPWORDS, VENUE_WORDS, CustomerProfile

HARD_SCORE = 100.0
# bits -> score: 50 + 5 per bit, so the default thresholds (90 conflict, 70 review) sit at 8 and 4 bits
SCORE_AT_ZERO = 50.0
SCORE_PER_BIT = 5.0

# name levels
EXACT, EXACT_GENERIC, GENERIC_ADDED, CONTAINED, TYPO, KIND_DIFFERS, ACRONYM, NEAR, SHARED, DIFFERENT = (
    8.0, 3.0, 7.0, 5.0, 6.0, 3.0, 4.0, 1.0, 0.0, -12.0,
)
# place levels
PHONE_SAME, PHONE_NEAR, PHONE_EXCHANGE, PHONE_OTHER = 8.0, 2.0, -1.0, -2.0
STREET_SAME, STREET_NAME_ONLY, STREET_OTHER_NUMBER, STREET_OTHER = 6.0, 2.0, -2.0, -2.0
CITY_SAME, CITY_OTHER = 1.0, -1.5
COUNTRY_OTHER = -4.0
DOMAIN_OTHER = -2.0


@dataclass(frozen=True, slots=True)
class Evidence:
    """One field's comparison: its level, its weight in bits and how to say it."""

    field: str
    level: str
    weight: float
    text: str


@dataclass(frozen=True, slots=True)
class PairScore:
    score: float  # 0-100 on the thresholds' scale
    weight: float  # sum of the evidence weights, in bits
    evidence: tuple[Evidence, ...]
    at_most_review: bool = False  # the names say two businesses may share these details
    hard: bool = False  # same domain: no weighing needed

    @property
    def fields(self) -> list[str]:
        """Fields that agree (a positive weight), for ``MatchedRecord.matched_fields``."""
        return [e.field for e in self.evidence if e.weight > 0]

    def explain(self) -> str:
        """``name 'fenix' within 'fenix at the argyle' +5, same phone +8, ... = 17.5 bits``."""
        if self.hard:
            return self.evidence[0].text
        parts = [f"{e.text} {e.weight:+g}" for e in self.evidence if e.weight or e.field == "name"]
        tail = f" = {self.weight:g} bits"
        if self.at_most_review:
            tail += " (at most review: the names may be two businesses at one place)"
        return ", ".join(parts) + tail


@lru_cache(maxsize=65536)
def generic_form(token: str) -> str | None:
    """The generic word a token is, allowing one typo in longer words ("robotcs" -> robotics)."""
    if token in GENERIC_WORDS or token in VENUE_WORDS:
        return token
    if len(token) < 6:
        return None
    found = process.extractOne(token, GENERIC_WORDS, scorer=fuzz.ratio, score_cutoff=85)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class _Words:
    words: frozenset[str]  # every word but stopwords, generic typos corrected
    core: frozenset[str]  # the distinctive ones: not generic, not the record's own city
    core_text: str  # core words in name order, for fuzzy comparison
    typo_fixed: bool


@lru_cache(maxsize=65536)  # a check compares one query with many candidates, and candidates recur
def _words(p: CustomerProfile) -> _Words:
    place = frozenset(p.city.split()) if p.city else frozenset()
    words: list[str] = []
    core: list[str] = []
    fixed = False
    for token in p.tokens:
        if token in STOPWORDS:
            continue
        generic = generic_form(token)
        fixed = fixed or (generic is not None and generic != token)
        words.append(generic or token)
        if generic is None and token not in place:
            core.append(token)
    if not core:  # "Seattle Systems" in Seattle: the city word is the name
        core = [t for t in p.tokens if t not in STOPWORDS and generic_form(t) is None]
    return _Words(frozenset(words), frozenset(core), " ".join(core), fixed)


def compare_names(a: CustomerProfile, b: CustomerProfile) -> tuple[Evidence, bool]:
    """Name evidence, and whether the pair is at most a review whatever else agrees."""
    if not a.tokens or not b.tokens:
        return Evidence("name", "missing", 0.0, "no name"), False
    wa, wb = _words(a), _words(b)
    shown = f"{b.name!r}"
    if a.norm == b.norm or (wa.words == wb.words and not (wa.typo_fixed or wb.typo_fixed)):
        if wa.core:
            return Evidence("name", "exact", EXACT, f"same name {b.norm!r}"), False
        return Evidence("name", "exact_generic", EXACT_GENERIC, f"same generic name {b.norm!r}"), False
    if wa.words == wb.words:
        return Evidence("name", "typo", TYPO, f"similar name {shown} (a generic word misspelt)"), False
    if (a.short_form and a.tokens[0] == b.acronym) or (b.short_form and b.tokens[0] == a.acronym):
        return Evidence("name", "acronym", ACRONYM, f"name {shown} as an acronym"), True
    extra_a, extra_b = wa.words - wb.words, wb.words - wa.words
    if wa.core & wb.core:
        added = extra_a or extra_b
        generic_only = all(generic_form(w) is not None or w in _place(a) | _place(b) for w in added)
        if not (extra_a and extra_b):
            smaller = a.name if not extra_a else b.name
            if generic_only:
                return Evidence("name", "generic_added", GENERIC_ADDED, f"name {shown} with a generic word"), False
            return Evidence("name", "contained", CONTAINED, f"name {smaller!r} within {max(a.name, b.name, key=len)!r}"), False
        if wa.core == wb.core:
            return Evidence("name", "kind_differs", KIND_DIFFERS, f"name {shown} for another kind of place"), True
    similarity = max(fuzz.ratio(wa.core_text, wb.core_text), fuzz.token_sort_ratio(wa.core_text, wb.core_text),
                     # a typo inside a generic word ("Robotix") hides it from the split; the whole name shows it
                     fuzz.ratio(a.norm, b.norm) - 3.0)
    if similarity >= 92:
        return Evidence("name", "typo", TYPO, f"similar name {shown} ({similarity:.0f})"), False
    if similarity >= 85:
        return Evidence("name", "similar", TYPO - 2.0, f"similar name {shown} ({similarity:.0f})"), False
    if similarity >= 75:
        return Evidence("name", "near", NEAR, f"near name {shown} ({similarity:.0f})"), True
    if wa.core & wb.core:
        return Evidence("name", "shared", SHARED, f"name {shown} shares {', '.join(sorted(wa.core & wb.core))!r}"), True
    return Evidence("name", "different", DIFFERENT, f"other name {shown}"), True


def _place(p: CustomerProfile) -> frozenset[str]:
    return frozenset(p.city.split()) if p.city else frozenset()


def compare_phones(a: CustomerProfile, b: CustomerProfile) -> Evidence | None:
    if not a.phone or not b.phone:
        return None
    same = a.phone_e164 == b.phone_e164 if a.phone_e164 and b.phone_e164 else a.phone == b.phone
    shown = b.phone_e164 or b.phone
    if same:
        return Evidence("phone", "same", PHONE_SAME, f"same phone {shown}")
    if a.phone[:-3] == b.phone[:-3]:  # one block of a switchboard
        return Evidence("phone", "near", PHONE_NEAR, f"phone {shown} differs in the last digits")
    if a.phone[:-4] == b.phone[:-4]:
        return Evidence("phone", "exchange", PHONE_EXCHANGE, f"phone {shown} on the same exchange")
    return Evidence("phone", "other", PHONE_OTHER, f"other phone {shown}")


def _same_street_name(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    sa, sb = set(a), set(b)
    if sa <= sb or sb <= sa:
        return True
    return fuzz.ratio(" ".join(a), " ".join(b)) >= 85 or a[0] == b[0]


def compare_streets(a: CustomerProfile, b: CustomerProfile) -> Evidence | None:
    if not a.street_name or not b.street_name:
        return None
    shown = " ".join(filter(None, [b.street_number, *b.street_name]))
    same_name = _same_street_name(a.street_name, b.street_name)
    if a.street_number and b.street_number:
        if a.street_number == b.street_number and same_name:
            return Evidence("street", "same", STREET_SAME, f"same street address {shown!r}")
        if same_name:
            return Evidence("street", "other_number", STREET_OTHER_NUMBER, f"other number on {shown!r}")
        return Evidence("street", "other", STREET_OTHER, f"other street {shown!r}")
    if same_name:
        return Evidence("street", "name_only", STREET_NAME_ONLY, f"same street {shown!r}")
    return Evidence("street", "other", STREET_OTHER / 2, f"other street {shown!r}")


def compare_places(a: CustomerProfile, b: CustomerProfile) -> list[Evidence]:
    out: list[Evidence] = []
    if a.country and b.country and a.country != b.country:
        out.append(Evidence("country", "other", COUNTRY_OTHER, f"other country {b.country}"))
    if a.city and b.city:
        if a.city == b.city:
            out.append(Evidence("city", "same", CITY_SAME, f"same city {b.city}"))
        else:
            out.append(Evidence("city", "other", CITY_OTHER, f"other city {b.city}"))
    return out


def to_score(weight: float) -> float:
    return round(max(0.0, min(99.0, SCORE_AT_ZERO + SCORE_PER_BIT * weight)), 1)


def score_pair(query: CustomerProfile, cand: CustomerProfile) -> PairScore:
    """Every comparison's evidence for one pair, summed into a weight and a score."""
    if query.domain and query.domain == cand.domain:
        return PairScore(HARD_SCORE, 0.0, (Evidence("domain", "same", 0.0, f"same domain {query.domain}"),), hard=True)
    name, at_most_review = compare_names(query, cand)
    evidence = [name]
    for found in (compare_phones(query, cand), compare_streets(query, cand)):
        if found is not None:
            evidence.append(found)
    evidence.extend(compare_places(query, cand))
    if query.domain and cand.domain:
        evidence.append(Evidence("domain", "other", DOMAIN_OTHER, f"other domain {cand.domain}"))
    if name.level == "acronym" and any(e.field == "phone" and e.level == "same" for e in evidence):
        at_most_review = False  # "IBM" with IBM's phone number
    weight = round(sum(e.weight for e in evidence), 2)
    return PairScore(to_score(weight), weight, tuple(evidence), at_most_review=at_most_review)
