"""Blocking index for the conflict check: which few records could be the same customer.

Scoring every account with fuzzy matching is O(n) per registration; at a
million accounts that is seconds. The index files each candidate under a
handful of cheap keys (exact domain, phone and its switchboard block, exact
name, house number and street in a city, first word and first distinctive
word, an anagram of the first word for transposition typos, a long first word
with each letter left out for other typos, distinctive later words, acronym + country) and a
check scores only the union of the blocks its own keys hit. Blocks that grow
past ``max_block`` (a first word like "global") are skipped for name keys:
they say nothing. ``CandidateIndex`` keeps them in memory (the CSV check);
``prm_sync.rules.account_index`` keeps them in the store between runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from prm_sync.rules.evidence import generic_form
from prm_sync.rules.normalize import STOPWORDS, CustomerProfile

EXACT_KEYS = frozenset({"d:", "p:", "n:"})
# initials shared by more customers of one country than this name none of them ("KB" at a million accounts
# is hundreds of firms): a registration typed as initials is found by its phone, domain or exact name instead
MAX_ACRONYM_BLOCK = 50


class CandidateKind(StrEnum):
    registration = "registration"
    opportunity = "opportunity"
    customer = "customer"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record a new registration may collide with, plus what reasons need to name it."""

    kind: CandidateKind
    record_id: str
    profile: CustomerProfile
    partner_id: str | None = None
    product_lines: frozenset[str] = frozenset()
    submitted_at: datetime | None = None
    label: str = ""  # e.g. the customer name an opportunity is for


@dataclass(frozen=True, slots=True)
class RegistrationQuery:
    """What a check needs to know about the registration being checked."""

    profile: CustomerProfile
    record_id: str | None = None
    partner_id: str | None = None
    product_lines: frozenset[str] = frozenset()
    submitted_at: datetime | None = None
    opportunity_id: str | None = None
    end_customer_id: str | None = None


def _first_word(tokens: tuple[str, ...]) -> str | None:
    for token in tokens:
        if token not in STOPWORDS:
            return token
    return None


def blocking_keys(p: CustomerProfile, *, as_query: bool = False) -> Iterator[str]:
    """Keys a profile is filed under (or looked up by, with ``as_query``)."""
    if p.domain:
        yield f"d:{p.domain}"
    if p.phone:
        yield f"p:{p.phone}"
        yield f"b:{p.phone[:-3]}"  # one block of a switchboard: "212/632-5000" and "212/632-5100"
    if p.norm:
        yield f"n:{p.norm}"
    if p.street_number and p.street_name:  # one address: a renamed or re-described business
        yield f"s:{p.street_number}|{p.street_name[0]}|{p.city or ''}"
    first = _first_word(p.tokens)
    distinctive = next((t for t in p.tokens if t not in STOPWORDS and generic_form(t) is None), None)
    if distinctive and distinctive != first:
        yield f"f:{distinctive}"  # "Restaurant Contoso", "Cafe Woodgrove" are filed under their own word
    if first:
        yield f"f:{first}"
        if len(first) >= 4:
            yield f"a:{''.join(sorted(first))}"
        if len(first) >= 6:
            # one typo in a long first word (a letter changed, dropped, added, or two swapped): the two
            # spellings share the word itself or the word with one letter left out ("kleatbrairrain",
            # "kleatbrairain"). Such blocks hold only near-spellings, where keying a word's first letters
            # and the next word (often "Systems" or "Group") filed hundreds of firms together at 1M accounts.
            yield f"e:{first}"
            for i in range(len(first)):
                yield f"e:{first[:i]}{first[i + 1:]}"
        words = [t for t in p.tokens if t not in STOPWORDS]
        for token in words[1:3]:
            if len(token) >= 5 and generic_form(token) is None:  # "t:systems" would file half the accounts together
                yield f"t:{token}"
    if p.acronym and p.country and not as_query:
        yield f"x:{p.acronym}|{p.country}"  # found by a query that is an acronym ("IBM"), not by other initials
    if as_query and p.short_form and p.tokens and p.country:
        # the query's name may itself be the acronym of an indexed name
        yield f"x:{p.tokens[0]}|{p.country}"
    if as_query and p.acronym:
        yield f"n:{p.acronym}"  # an indexed "IBM" against a query "International Business Machines"


class CandidateSource(Protocol):
    """Where a check finds candidates: the in-memory ``CandidateIndex`` or the stored account index."""

    def lookup_many(self, queries: Sequence[CustomerProfile]) -> list[list[Candidate]]: ...


@dataclass
class CandidateIndex:
    """In-memory blocks of candidate positions, keyed by the strings of ``blocking_keys``."""

    max_block: int = 2000
    candidates: list[Candidate] = field(default_factory=list)
    blocks: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, candidate: Candidate) -> None:
        position = len(self.candidates)
        self.candidates.append(candidate)
        for key in set(blocking_keys(candidate.profile)):
            self.blocks[key].append(position)

    def extend(self, candidates: Iterable[Candidate]) -> None:
        for candidate in candidates:
            self.add(candidate)

    def __len__(self) -> int:
        return len(self.candidates)

    def lookup(self, query: CustomerProfile) -> list[Candidate]:
        """Candidates sharing at least one useful key with ``query``, each once."""
        seen: set[int] = set()
        for key in set(blocking_keys(query, as_query=True)):
            positions = self.blocks.get(key)
            if not positions:
                continue
            exact = key[:2] in EXACT_KEYS  # domain, phone and exact name blocks are never too big to read
            if not exact and len(positions) > self.max_block:
                continue
            if key[:2] == "x:" and len(positions) > MAX_ACRONYM_BLOCK:
                continue
            seen.update(positions)
        return [self.candidates[i] for i in sorted(seen)]

    def lookup_many(self, queries: Sequence[CustomerProfile]) -> list[list[Candidate]]:
        return [self.lookup(q) for q in queries]
