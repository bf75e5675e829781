"""Blocking index for the conflict check: which few records could be the same customer.

Scoring every account with fuzzy matching is O(n) per registration; at a
million accounts that is seconds. The index files each candidate under a
handful of cheap keys (exact domain, phone, exact name, first token, an
anagram of the first token for transposition typos, a 4-letter prefix pair
for other typos, acronym + country) and a check scores only the union of
the blocks its own keys hit. Blocks that grow past ``max_block`` (a first
token like "global") are skipped for name keys: they say nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from prm_sync.rules.normalize import STOPWORDS, CustomerProfile


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
    if p.norm:
        yield f"n:{p.norm}"
    first = _first_word(p.tokens)
    if first:
        yield f"f:{first}"
        if len(first) >= 4:
            yield f"a:{''.join(sorted(first))}"
        words = [t for t in p.tokens if t not in STOPWORDS]
        if len(words) >= 2 and len(words[1]) >= 4:
            yield f"q:{words[0][:2]}{words[1][:4]}"  # survives a typo late in the first word
        for token in words[1:3]:
            if len(token) >= 5:
                yield f"t:{token}"
    if p.acronym and p.country:
        yield f"x:{p.acronym}|{p.country}"
    if as_query and p.short_form and p.tokens and p.country:
        # the query's name may itself be the acronym of an indexed name
        yield f"x:{p.tokens[0]}|{p.country}"
    if as_query and p.acronym:
        yield f"n:{p.acronym}"  # an indexed "IBM" against a query "International Business Machines"


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
            exact = key[0] in "dpn"  # domain, phone and exact name blocks are never too big to read
            if not exact and len(positions) > self.max_block:
                continue
            seen.update(positions)
        return [self.candidates[i] for i in sorted(seen)]
