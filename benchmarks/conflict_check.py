"""Conflict-check speed against the stored account index at scale, with quality on generated variants.

Generates ``--accounts`` existing customers into a store (SQLite file, or
``--db-url`` PostgreSQL), builds the stored account index once (timed), then
measures, each ``--rounds`` times for the spread:

- ``--registrations`` deal registrations checked one at a time (p50/p95):
  half re-type an existing customer the way partners do (abbreviations, other
  legal suffixes, typos, acronyms, a buyer's gmail address instead of the
  company domain, other address and phone formats), half are new customers,
  some of them sharing a first word and a city with an existing one (the hard
  negatives); precision, recall and F1 of "flagged" (conflict or review on the
  right account) and precision of ``conflict`` decisions;
- a ``--batch`` of registrations checked at once (``check_many``);
- the sync hook end to end (``check_registrations``) on a batch of newly saved
  registrations: index catch-up, checks, decisions stored and audited;
- the index catching up after 1,000 accounts were edited.

    python benchmarks/conflict_check.py --accounts 100000
    python benchmarks/conflict_check.py            # 1,000,000 accounts
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm_sync.config.settings import ConflictRules
from prm_sync.model import ConflictDecision, DealRegistration, EndCustomer
from prm_sync.rules.account_index import StoreIndex, refresh_index
from prm_sync.rules.candidates import RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker, check_registrations
from prm_sync.rules.normalize import profile
from prm_sync.store import Store, bulk, make_engine, upgrade
from prm_sync.store.orm import EndCustomerRow
from prm_sync.store.records import save_records

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


def _store(db_url: str | None, workdir: Path) -> Store:
    url = db_url or f"sqlite:///{workdir / 'prm_sync.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    return Store(engine)


def _seed(store: Store, accounts: list[Account], now: datetime) -> None:
    """Accounts as end customers, written with one executemany per chunk (the benchmark's set-up, not measured)."""
    table = EndCustomerRow.__table__
    for start in range(0, len(accounts), 20_000):
        rows = [{"id": a.id, "external_ids": {}, "created_at": now, "updated_at": now, "row_version": 1, "name": a.name,
                 "domain": a.domain, "website": None, "street": a.street, "city": a.city, "country": a.country,
                 "phone": a.phone, "industry": None, "is_customer": True} for a in accounts[start : start + 20_000]]
        with store.session() as session:
            bulk.insert_rows(session, table, rows)


def _registration(rng: random.Random, accounts: list[Account], j: int, n_accounts: int) -> tuple[dict[str, str | None], Account, bool, str]:
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
    return registration_for(rng, acc, dup, kind, name), acc, dup, kind


def _query(fields: dict[str, str | None], j: int, now: datetime, rules: ConflictRules) -> RegistrationQuery:
    return RegistrationQuery(
        profile=profile(str(fields["name"]), domain=fields["domain"], emails=[fields["email"]],
                        country=fields["country"], city=fields["city"], phone=fields["phone"], street=fields["street"],
                        public_domains=rules.public_mail_domains),
        record_id=f"reg_{j}", partner_id="ptn_bench", submitted_at=now - timedelta(seconds=j),
    )


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def run(n_accounts: int, n_regs: int, seed: int, *, batch: int, rounds: int, db_url: str | None, workdir: Path) -> dict[str, object]:
    rng = random.Random(seed)
    rules = ConflictRules()
    now = datetime(2026, 11, 2, tzinfo=UTC)
    accounts = [company(rng, i) for i in range(n_accounts)]
    store = _store(db_url, workdir)
    _seed(store, accounts, now)
    started, cpu_started = time.perf_counter(), time.process_time()
    with store.session() as session:
        build = refresh_index(session, rules)
    build_seconds, build_cpu = time.perf_counter() - started, time.process_time() - cpu_started

    # quality, and the latency of one registration at a time (the sync hook checks what a run pulled)
    tp = fp = fn = conflict_total = conflict_right = 0
    misses: dict[str, int] = {}
    regs = [_registration(rng, accounts, j, n_accounts) for j in range(n_regs)]
    queries = [_query(fields, j, now, rules) for j, (fields, _, _, _) in enumerate(regs)]
    p50s: list[float] = []
    p95s: list[float] = []
    cpu_p95s: list[float] = []
    results = []
    for _ in range(rounds):
        latencies: list[float] = []
        cpu: list[float] = []
        with store.session(readonly=True) as session:
            checker = ConflictChecker(rules, sources=[StoreIndex(session, now)])
            results = []
            for query in queries:
                t0, c0 = time.perf_counter(), time.process_time()
                results.append(checker.check(query))
                latencies.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
        latencies.sort()
        cpu.sort()
        p50s.append(statistics.median(latencies))
        p95s.append(latencies[int(0.95 * (len(latencies) - 1))])
        cpu_p95s.append(cpu[int(0.95 * (len(cpu) - 1))])
    for (_, acc, dup, kind), result in zip(regs, results, strict=True):
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

    # a batch checked at once (a partner's CSV, a large pull): the stored index is read in chunks
    batch_queries = [_query(_registration(rng, accounts, n_regs + j, n_accounts)[0], n_regs + j, now, rules)
                     for j in range(batch)]
    batch_seconds, batch_cpu = [], []
    for _ in range(rounds):
        with store.session(readonly=True) as session:
            t0, c0 = time.perf_counter(), time.process_time()
            ConflictChecker(rules, sources=[StoreIndex(session, now)]).check_many(batch_queries)
            batch_seconds.append(time.perf_counter() - t0)
            batch_cpu.append(time.process_time() - c0)

    # the sync hook end to end: newly pulled registrations are indexed, checked, and their decisions stored
    hook_seconds, hook_cpu = [], []
    for r in range(rounds):
        fresh = []
        for j in range(batch):
            fields = _registration(rng, accounts, 10 * n_regs + r * batch + j, n_accounts)[0]
            fresh.append(DealRegistration(
                id=f"reg_r{r}_{j}", partner_id=f"ptn_{j % 200}", customer_name=str(fields["name"]),
                customer_domain=fields["domain"], contact_email=fields["email"], customer_country=fields["country"],
                customer_city=fields["city"], customer_phone=fields["phone"], submitted_at=now - timedelta(seconds=j)))
        with store.session() as session:
            save_records(session, fresh)
        with store.session() as session:
            t0, c0 = time.perf_counter(), time.process_time()
            check_registrations(session, [reg.id for reg in fresh], rules, now)
            hook_seconds.append(time.perf_counter() - t0)
            hook_cpu.append(time.process_time() - c0)

    # accounts edited in a CRM and pulled: the index catches up with only those
    refresh_seconds = []
    for r in range(rounds):
        edited = [EndCustomer(id=a.id, name=a.name, domain=a.domain, street=a.street, city=a.city, country=a.country,
                              phone=f"{a.phone[:-2]}{r:02d}", is_customer=True) for a in rng.sample(accounts, 1000)]
        with store.session() as session:
            save_records(session, edited)
        with store.session() as session:
            t0 = time.perf_counter()
            refresh_index(session, rules)
            refresh_seconds.append(time.perf_counter() - t0)
    store.close()

    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "accounts": n_accounts, "registrations": n_regs, "seed": seed, "backend": db_url.split(":")[0] if db_url else "sqlite",
        "precision": round(precision, 4), "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "conflict_precision": round(conflict_right / conflict_total, 4) if conflict_total else 1.0,
        "conflict_decisions": conflict_total,
        "p50_ms": _spread(p50s), "p95_ms": _spread(p95s), "p95_cpu_ms": _spread(cpu_p95s),
        "batch": batch, "batch_check_s": _spread(batch_seconds), "batch_check_cpu_s": _spread(batch_cpu),
        "hook_check_s": _spread(hook_seconds), "hook_check_cpu_s": _spread(hook_cpu),
        "refresh_1000_accounts_s": _spread(refresh_seconds),
        "build_seconds": round(build_seconds, 1), "build_cpu_seconds": round(build_cpu, 1), "build": str(build),
        # other processes share the machine: wall time over CPU time says how much of a core this one had
        "load_average_1m": round(os.getloadavg()[0], 1),
        "errors_by_variant": dict(sorted(misses.items())),
        "targets": {"f1": 0.95, "conflict_precision": 0.99, "p95_ms": 50, "batch_s": 30},
    }


def _fmt(spread: object) -> str:
    assert isinstance(spread, dict)
    return f"{spread['median']} ({spread['min']}-{spread['max']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10_000, help="registrations checked at once")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each timing, for the spread")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db-url", help="a PostgreSQL URL (an empty database); default: a SQLite file in a temp folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "conflict_check.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.accounts, args.registrations, args.seed, batch=args.batch, rounds=args.rounds,
                     db_url=args.db_url, workdir=Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| accounts | backend | precision | recall | F1 | conflict precision | p50 ms | p95 ms | "
          f"{args.batch:,} batch s | sync hook, {args.batch:,} new s | 1,000 accounts edited: catch-up s | index build s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {result['accounts']:,} | {result['backend']} | {result['precision']} | {result['recall']} | {result['f1']} | "
          f"{result['conflict_precision']} | {_fmt(result['p50_ms'])} | {_fmt(result['p95_ms'])} | "
          f"{_fmt(result['batch_check_s'])} | {_fmt(result['hook_check_s'])} | {_fmt(result['refresh_1000_accounts_s'])} | "
          f"{result['build_seconds']} |")
    print(f"\nCPU time: p95 {_fmt(result['p95_cpu_ms'])} ms, batch {_fmt(result['batch_check_cpu_s'])} s, "
          f"sync hook {_fmt(result['hook_check_cpu_s'])} s, index build {result['build_cpu_seconds']} s; "
          f"load average {result['load_average_1m']} on {os.cpu_count()} cores")
    print(f"errors by variant: {result['errors_by_variant']}; {result['build']}")


if __name__ == "__main__":
    main()
