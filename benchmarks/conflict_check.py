"""Conflict-check quality and latency on labelled, realistic end-customer variants.

Generates ``--accounts`` existing customers, then ``--registrations`` deal
registrations: half re-type an existing customer the way partners do
(abbreviations, other legal suffixes, typos, acronyms, a buyer's gmail
address instead of the company domain, other address and phone formats),
half are new customers, some of them sharing a first word and a city with an
existing one (the hard negatives). Reports precision, recall and F1 of
"flagged" (conflict or review on the right account), precision of
``conflict`` decisions, and p50/p95 check latency.

    python benchmarks/conflict_check.py --accounts 100000
    python benchmarks/conflict_check.py            # 1,000,000 accounts
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm_sync.config.settings import ConflictRules
from prm_sync.model import ConflictDecision
from prm_sync.rules.candidates import Candidate, CandidateIndex, CandidateKind, RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker
from prm_sync.rules.normalize import profile

ONSETS = ["b", "br", "c", "cr", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p", "pr",
          "qu", "r", "s", "st", "sh", "t", "tr", "v", "w", "z", "ch"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"]
CODAS = ["", "n", "r", "s", "x", "l", "m", "t", "nd", "rk", "ck", "ll"]
NOUNS = ["Systems", "Industries", "Logistics", "Health", "Foods", "Energy", "Networks", "Capital", "Manufacturing",
         "Retail", "Media", "Pharmaceuticals", "Robotics", "Analytics", "Motors", "Textiles", "Airlines",
         "Insurance", "Software", "Bank", "Mining", "Chemicals", "Hotels", "Shipping", "Consulting", "Holdings",
         "Group", "Technologies", "Services", "Partners", "International", "Laboratories", "Solutions"]
ABBREV = {"International": "Intl", "Manufacturing": "Mfg", "Services": "Svcs", "Technologies": "Tech",
          "Laboratories": "Labs", "Holdings": "Hldgs", "Systems": "Sys", "Group": "Grp"}
SUFFIXES = ["Inc", "Inc.", "LLC", "Ltd", "GmbH", "Corp", "Corporation", "S.A.", "AG", "PLC", "Co.", "BV", "SAS", "KK", ""]
CITIES = [("US", "New York"), ("US", "Austin"), ("US", "Chicago"), ("US", "Seattle"), ("US", "Boston"),
          ("US", "Denver"), ("US", "Atlanta"), ("US", "Miami"), ("GB", "London"), ("GB", "Manchester"),
          ("GB", "Leeds"), ("DE", "Berlin"), ("DE", "Munich"), ("DE", "Hamburg"), ("FR", "Paris"), ("FR", "Lyon"),
          ("NL", "Amsterdam"), ("NL", "Rotterdam"), ("JP", "Tokyo"), ("JP", "Osaka"), ("AU", "Sydney"),
          ("AU", "Melbourne"), ("CA", "Toronto"), ("ES", "Madrid"), ("IT", "Milan"), ("CH", "Zurich")]
COUNTRY_NAMES = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "NL": "Netherlands",
                 "JP": "Japan", "AU": "Australia", "CA": "Canada", "ES": "Spain", "IT": "Italy", "CH": "Switzerland"}
STREETS = ["Main", "High", "Market", "Park", "Station", "Church", "Mill", "King", "Queen", "River", "Oak", "Elm"]
PUBLIC = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]


@dataclass
class Account:
    id: str
    base: str
    name: str
    domain: str
    country: str
    city: str
    phone: str
    street: str


def word(rng: random.Random) -> str:
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(rng.choice((2, 2, 3)))).title()


def company(rng: random.Random, i: int, first: str | None = None, place: tuple[str, str] | None = None) -> Account:
    words = [first or word(rng)]
    if first is not None or rng.random() < 0.25:  # a namesake firm always has a word of its own
        words.append(word(rng))
    if rng.random() < 0.8:
        words.append(rng.choice(NOUNS))
    if rng.random() < 0.05:
        words[1:1] = ["&", word(rng)]
    base = " ".join(words)
    country, city = place or rng.choice(CITIES)
    slug = "".join(ch for ch in base.lower() if ch.isalnum())
    return Account(
        id=f"acc_{i:07d}", base=base, name=f"{base} {rng.choice(SUFFIXES)}".strip(), domain=f"{slug}{i % 97}.com",
        country=country, city=city, phone=f"{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}",
        street=f"{rng.randrange(1, 900)} {rng.choice(STREETS)} Street",
    )


def typo(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    i = rng.choice(letters[1:-1] or letters)
    kind = rng.randrange(3)
    if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + rng.choice("aeiourstln") + text[i + 1 :]


def variant_name(rng: random.Random, acc: Account) -> tuple[str, str]:
    kind = rng.choice(["suffix", "case", "abbrev", "typo", "acronym", "amp", "exact"])
    words = acc.base.split()
    if kind == "suffix":
        return f"{acc.base} {rng.choice(SUFFIXES)}".strip(), kind
    if kind == "case":
        return rng.choice([acc.name.upper(), acc.name.lower(), acc.name.replace(" ", "  ") + ","]), kind
    if kind == "abbrev" and any(w in ABBREV for w in words):
        return " ".join(ABBREV.get(w, w) for w in words) + " " + rng.choice(SUFFIXES), kind
    if kind == "acronym" and len([w for w in words if w != "&"]) >= 2:
        return "".join(w[0] for w in words if w != "&").upper() + " " + rng.choice(["Inc", "", "LLC"]), kind
    if kind == "amp" and "&" in words:
        return acc.name.replace("&", "and"), kind
    if kind in {"typo", "abbrev", "acronym", "amp"}:
        return typo(rng, acc.name), "typo"
    return acc.name, kind


def phone_format(rng: random.Random, digits: str, country: str) -> str:
    cc = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33"}.get(country, "31")
    return rng.choice([f"+{cc} {digits[:3]} {digits[3:]}", f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", f"0{digits}"])


def registration_for(rng: random.Random, acc: Account, dup: bool, kind: str, name: str) -> dict[str, str | None]:
    """Fields as a partner would type them; duplicates often lack the company domain."""
    r = rng.random()
    domain = None
    email = f"buyer@{rng.choice(PUBLIC)}"
    if dup and r < 0.35:
        domain = rng.choice([f"https://www.{acc.domain}/contact", acc.domain, f"http://{acc.domain}:8080"])
    elif dup and r < 0.55:
        email = f"jane.doe@{acc.domain}"
    elif not dup:
        email = rng.choice([f"cto@{acc.domain}", email])
    return {
        "name": name, "domain": domain, "email": email,
        "country": rng.choice([acc.country, COUNTRY_NAMES.get(acc.country, acc.country)]),
        "city": acc.city if rng.random() < 0.9 else None,
        "phone": phone_format(rng, acc.phone, acc.country) if rng.random() < 0.5 or kind == "acronym" else None,
        "street": acc.street.replace("Street", rng.choice(["St", "St.", "Street"])) if rng.random() < 0.5 else None,
    }


def run(n_accounts: int, n_regs: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    rules = ConflictRules()
    started = time.perf_counter()
    accounts = [company(rng, i) for i in range(n_accounts)]
    index = CandidateIndex()
    for acc in accounts:
        prof = profile(acc.name, domain=acc.domain, country=acc.country, city=acc.city, phone=acc.phone,
                       street=acc.street, public_domains=rules.public_mail_domains)
        index.add(Candidate(kind=CandidateKind.customer, record_id=acc.id, profile=prof, label=acc.name))
    build_seconds = time.perf_counter() - started
    checker = ConflictChecker(rules, index)
    tp = fp = fn = conflict_total = conflict_right = 0
    latencies: list[float] = []
    misses: dict[str, int] = {}
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for j in range(n_regs):
        dup = j % 2 == 0
        if dup:
            acc = rng.choice(accounts)
            name, kind = variant_name(rng, acc)
        else:
            # hard negatives: a new firm with an existing firm's first word, in its city
            twin = rng.choice(accounts) if rng.random() < 0.3 else None
            acc = company(rng, n_accounts + j, first=twin.base.split()[0] if twin else None,
                          place=(twin.country, twin.city) if twin else None)
            name, kind = acc.name, "new"
        fields = registration_for(rng, acc, dup, kind, name)
        query = RegistrationQuery(
            profile=profile(str(fields["name"]), domain=fields["domain"], emails=[fields["email"]],
                            country=fields["country"], city=fields["city"], phone=fields["phone"], street=fields["street"],
                            public_domains=rules.public_mail_domains),
            record_id=f"reg_{j}", partner_id="ptn_bench", submitted_at=now - timedelta(seconds=j),
        )
        t0 = time.perf_counter()
        result = checker.check(query)
        latencies.append((time.perf_counter() - t0) * 1000)
        flagged = result.decision != ConflictDecision.clear
        right = dup and bool(result.matches) and result.matches[0].record_id == acc.id
        if flagged and right:
            tp += 1
        elif flagged:
            fp += 1
            misses[f"fp:{kind}"] = misses.get(f"fp:{kind}", 0) + 1
        if dup and not (flagged and right):
            fn += 1
            misses[f"fn:{kind}"] = misses.get(f"fn:{kind}", 0) + 1
        if result.decision == ConflictDecision.conflict:
            conflict_total += 1
            conflict_right += right
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    latencies.sort()
    return {
        "accounts": n_accounts, "registrations": n_regs, "seed": seed,
        "precision": round(precision, 4), "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "conflict_precision": round(conflict_right / conflict_total, 4) if conflict_total else 1.0,
        "conflict_decisions": conflict_total,
        "p50_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "build_seconds": round(build_seconds, 1),
        "errors_by_variant": dict(sorted(misses.items())),
        "targets": {"f1": 0.95, "conflict_precision": 0.99, "p95_ms": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "conflict_check.json")
    args = parser.parse_args()
    result = run(args.accounts, args.registrations, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| accounts | registrations | precision | recall | F1 | conflict precision | p50 ms | p95 ms | index build s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {result['accounts']:,} | {result['registrations']:,} | {result['precision']} | {result['recall']} | "
          f"{result['f1']} | {result['conflict_precision']} | {result['p50_ms']} | {result['p95_ms']} | {result['build_seconds']} |")
    print(f"\nerrors by variant: {result['errors_by_variant']}")


if __name__ == "__main__":
    main()
