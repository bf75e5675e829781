"""Conflict-check speed against the stored account index at scale, with quality on generated variants.

Generates ``--accounts`` existing customers into a store (SQLite file, or
``--db-url`` PostgreSQL) and builds the stored account index once (timed;
``--keep DIR`` keeps that store and later runs start from a copy of it). Then,
through the code a sync runs (``check_registrations``, the rules hook: index
catch-up, checks, decisions stored and audited), each ``--rounds`` times for
the spread:

- the index loaded with nothing to catch up (what every later run pays);
- the index catching up after 100, 1,000 and 10,000 customers were changed or
  added (half each): the time must follow the change, not the million;
- registrations one at a time, each in its own transaction as a sync that
  pulled one registration runs them (p50/p95 of ``check_registrations``), and
  the check alone against the index (``ConflictChecker.check``), with
  precision, recall and F1 of "flagged" (conflict or review on the right
  account) and precision of ``conflict`` decisions: half of the registrations
  re-type an existing customer the way partners do (abbreviations, other legal
  suffixes, typos, acronyms, a buyer's gmail address instead of the company
  domain, other address and phone formats), half are new customers, some of
  them sharing a first word and a city with an existing one (hard negatives);
- a ``--batch`` of newly saved registrations checked by one
  ``check_registrations`` call (a large pull), and by ``check_many`` alone.

    python benchmarks/conflict_check.py --accounts 100000
    python benchmarks/conflict_check.py --keep /tmp/conflict-1m     # 1,000,000 accounts, store kept for the next run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm_sync.config.settings import ConflictRules
from prm_sync.model import ConflictDecision, DealRegistration, EndCustomer
from prm_sync.rules.account_index import StoreIndex, fingerprint, refresh_index
from prm_sync.rules.candidates import RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker, ConflictResult, check_registrations
from prm_sync.rules.normalize import profile
from prm_sync.rules.sources import registration_query
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
T = TypeVar("T")


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


def _store(db_url: str | None, path: Path) -> Store:
    engine = make_engine(db_url or f"sqlite:///{path}")
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


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall time and the CPU time of this process, in seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _built_store(n_accounts: int, seed: int, accounts: list[Account], rules: ConflictRules, now: datetime,
                 db_url: str | None, workdir: Path, keep: Path | None) -> tuple[Store, dict[str, object]]:
    """A store holding the accounts with the account index built: built now (timed), or copied from ``keep``."""
    if db_url is not None:
        store = _store(db_url, workdir)
        _seed(store, accounts, now)
        with store.session() as session:
            stats, wall, cpu = _timed(lambda: refresh_index(session, rules))
        return store, {"build_seconds": round(wall, 1), "build_cpu_seconds": round(cpu, 1), "build": str(stats)}
    work = workdir / "prm_sync.sqlite"
    name = f"accounts-{n_accounts}-seed-{seed}-index-{fingerprint(rules)}"
    kept, kept_info = (keep / f"{name}.sqlite", keep / f"{name}.json") if keep else (None, None)
    if kept is not None and kept_info is not None and kept.exists() and kept_info.exists():
        shutil.copyfile(kept, work)
        info = json.loads(kept_info.read_text())
        return _store(None, work), {**info, "build": f"{info['build']} (in an earlier run; this run copied the store)"}
    store = _store(None, work)
    _seed(store, accounts, now)
    with store.session() as session:
        stats, wall, cpu = _timed(lambda: refresh_index(session, rules))
    info = {"build_seconds": round(wall, 1), "build_cpu_seconds": round(cpu, 1), "build": str(stats),
            "build_load_average_1m": round(os.getloadavg()[0], 1)}
    if kept is not None and kept_info is not None:
        store.close()  # the last connection checkpoints the WAL into the file
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work, kept)
        kept_info.write_text(json.dumps(info) + "\n")
        store = _store(None, work)
    return store, info


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


def _registration_record(fields: dict[str, str | None], reg_id: str, partner: str, submitted: datetime) -> DealRegistration:
    return DealRegistration(
        id=reg_id, partner_id=partner, customer_name=str(fields["name"]), customer_domain=fields["domain"],
        contact_email=fields["email"], customer_country=fields["country"], customer_city=fields["city"],
        customer_phone=fields["phone"], submitted_at=submitted)


def _quality(regs: list[tuple[dict[str, str | None], Account, bool, str]], results: list[ConflictResult]) -> dict[str, object]:
    tp = fp = fn = conflict_total = conflict_right = 0
    misses: dict[str, int] = {}
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
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": round(precision, 4), "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "conflict_precision": round(conflict_right / conflict_total, 4) if conflict_total else 1.0,
        "conflict_decisions": conflict_total, "errors_by_variant": dict(sorted(misses.items())),
    }


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def run(n_accounts: int, n_regs: int, seed: int, *, batch: int, single: int, rounds: int, db_url: str | None,
        workdir: Path, keep: Path | None) -> dict[str, object]:
    rng = random.Random(seed)
    rules = ConflictRules()
    now = datetime(2026, 11, 2, tzinfo=UTC)
    accounts = [company(rng, i) for i in range(n_accounts)]
    # drawn before anything else uses the generator: the same registrations whatever --rounds is
    regs = [_registration(rng, accounts, j, n_accounts) for j in range(n_regs)]
    store, build = _built_store(n_accounts, seed, accounts, rules, now, db_url, workdir, keep)
    out: dict[str, object] = {"accounts": n_accounts, "registrations": n_regs, "seed": seed,
                              "backend": db_url.split(":")[0] if db_url else "sqlite", **build}

    # what every run pays before its first check: the index with nothing to catch up
    load_s, load_cpu = [], []
    for _ in range(rounds):
        store.close()
        store = _store(db_url, workdir / "prm_sync.sqlite")
        with store.session() as session:
            stats, wall, cpu = _timed(lambda session=session: (refresh_index(session, rules), StoreIndex(session, now))[0])
        assert not stats.rebuilt and stats.examined == 0, stats
        load_s.append(wall)
        load_cpu.append(cpu)
    out["load_s"], out["load_cpu_s"] = _spread(load_s), _spread(load_cpu)

    # customers changed and added in a CRM and pulled: the index catches up with only those
    fresh_ids = iter(range(n_accounts + 10 * n_regs, n_accounts + 20 * n_regs + 40_000 * rounds))
    catch_up: dict[str, object] = {}
    edits = 0
    for size in (100, 1000, 10_000):
        walls, cpus, examined = [], [], set()
        for _ in range(rounds):
            edits += 1  # a new phone each time, so every edited customer changes
            edited = [EndCustomer(id=a.id, name=a.name, domain=a.domain, street=a.street, city=a.city, country=a.country,
                                  phone=f"{a.phone[:-2]}{(int(a.phone[-2:]) + edits) % 100:02d}", is_customer=True) for a in rng.sample(accounts, size // 2)]
            new = [company(rng, next(fresh_ids)) for _ in range(size - size // 2)]
            added = [EndCustomer(id=a.id, name=a.name, domain=a.domain, street=a.street, city=a.city, country=a.country,
                                 phone=a.phone, is_customer=True) for a in new]
            with store.session() as session:
                save_records(session, edited + added)
            with store.session() as session:
                stats, wall, cpu = _timed(lambda session=session: refresh_index(session, rules))
            assert not stats.rebuilt and stats.profiled == size, stats
            walls.append(wall)
            cpus.append(cpu)
            examined.add(stats.examined)
        catch_up[str(size)] = {"s": _spread(walls), "cpu_s": _spread(cpus), "records_read": sorted(examined),
                               "us_per_record": round(statistics.median(walls) / size * 1e6)}
    out["catch_up"] = catch_up

    # quality, and the check alone against the stored index, one registration at a time
    queries = [_query(fields, j, now, rules) for j, (fields, _, _, _) in enumerate(regs)]
    check_p50, check_p95, check_cpu_p95 = [], [], []
    results: list[ConflictResult] = []
    for _ in range(rounds):
        latencies, cpu = [], []
        with store.session(readonly=True) as session:
            checker = ConflictChecker(rules, sources=[StoreIndex(session, now)])
            results = []
            for query in queries:
                result, wall_s, cpu_s = _timed(lambda query=query, checker=checker: checker.check(query))
                results.append(result)
                latencies.append(wall_s * 1000)
                cpu.append(cpu_s * 1000)
        check_p50.append(statistics.median(latencies))
        check_p95.append(_p(latencies, 0.95))
        check_cpu_p95.append(_p(cpu, 0.95))
    out.update(_quality(regs, results))
    out["check_p50_ms"], out["check_p95_ms"], out["check_p95_cpu_ms"] = (
        _spread(check_p50), _spread(check_p95), _spread(check_cpu_p95))

    # the sync hook, one pulled registration per run: catch-up, check, decision stored and audited, commit
    p50s, p95s, cpu_p95s = [], [], []
    serial = 0
    for r in range(rounds):
        latencies, cpu = [], []
        for j in range(single):
            fields = _registration(rng, accounts, 10 * n_regs + serial, n_accounts)[0]
            serial += 1
            reg = _registration_record(fields, f"reg_s{r}_{j}", f"ptn_{j % 200}", now - timedelta(seconds=j))
            with store.session() as session:
                save_records(session, [reg])

            def hook(reg_id: str = reg.id) -> None:
                with store.session() as session:
                    check_registrations(session, [reg_id], rules, now)

            _, wall_s, cpu_s = _timed(hook)
            latencies.append(wall_s * 1000)
            cpu.append(cpu_s * 1000)
        p50s.append(statistics.median(latencies))
        p95s.append(_p(latencies, 0.95))
        cpu_p95s.append(_p(cpu, 0.95))
    out["p50_ms"], out["p95_ms"], out["p95_cpu_ms"], out["single"] = _spread(p50s), _spread(p95s), _spread(cpu_p95s), single

    # a large pull: a batch of newly saved registrations through one sync hook, and through check_many alone
    hook_s, hook_cpu, many_s, many_cpu = [], [], [], []
    for r in range(rounds):
        fresh = [_registration_record(_registration(rng, accounts, 20 * n_regs + r * batch + j, n_accounts)[0],
                                      f"reg_b{r}_{j}", f"ptn_{j % 200}", now - timedelta(seconds=j)) for j in range(batch)]
        with store.session() as session:
            save_records(session, fresh)

        def hook(fresh: list[DealRegistration] = fresh) -> None:
            with store.session() as session:
                check_registrations(session, [reg.id for reg in fresh], rules, now)

        _, wall_s, cpu_s = _timed(hook)
        hook_s.append(wall_s)
        hook_cpu.append(cpu_s)
        with store.session(readonly=True) as session:  # the same registrations, the check alone
            queries = [registration_query(reg, rules) for reg in fresh]
            checker = ConflictChecker(rules, sources=[StoreIndex(session, now)])
            _, wall_s, cpu_s = _timed(lambda checker=checker, queries=queries: checker.check_many(queries))
        many_s.append(wall_s)
        many_cpu.append(cpu_s)
    out["batch"] = batch
    out["batch_hook_s"], out["batch_hook_cpu_s"] = _spread(hook_s), _spread(hook_cpu)
    out["batch_check_many_s"], out["batch_check_many_cpu_s"] = _spread(many_s), _spread(many_cpu)
    store.close()
    # other processes share the machine: wall time over CPU time says how much of a core this one had
    out["load_average_1m"] = round(os.getloadavg()[0], 1)
    out["targets"] = {"conflict_precision": 0.99, "p95_ms": 50, "batch_s": 30}
    return out


def _fmt(spread: object) -> str:
    assert isinstance(spread, dict)
    return f"{spread['median']} ({spread['min']}-{spread['max']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10_000, help="registrations checked at once")
    parser.add_argument("--single", type=int, default=300, help="registrations checked one per sync hook, for p50/p95")
    parser.add_argument("--keep", type=Path, help="keep the seeded store with its built index here; later runs copy it")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each timing, for the spread")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db-url", help="a PostgreSQL URL (an empty database); default: a SQLite file in a temp folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "conflict_check.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.accounts, args.registrations, args.seed, batch=args.batch, single=args.single,
                     rounds=args.rounds, db_url=args.db_url, workdir=Path(tmp), keep=args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    catch = result["catch_up"]
    assert isinstance(catch, dict)
    print("| accounts | backend | precision | recall | F1 | conflict precision | sync hook, 1 registration: p50 ms | p95 ms | "
          f"check alone: p95 ms | sync hook, {args.batch:,} registrations: s | check_many alone: s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {result['accounts']:,} | {result['backend']} | {result['precision']} | {result['recall']} | {result['f1']} | "
          f"{result['conflict_precision']} | {_fmt(result['p50_ms'])} | {_fmt(result['p95_ms'])} | "
          f"{_fmt(result['check_p95_ms'])} | {_fmt(result['batch_hook_s'])} | {_fmt(result['batch_check_many_s'])} |")
    print("\n| index | s | CPU s | records read | µs per record |\n|---|---:|---:|---|---:|")
    print(f"| build, {result['accounts']:,} accounts | {result['build_seconds']} | {result['build_cpu_seconds']} | | |")
    print(f"| load, nothing to catch up | {_fmt(result['load_s'])} | {_fmt(result['load_cpu_s'])} | 0 | |")
    for size, row in catch.items():
        print(f"| catch-up, {int(size):,} customers changed or added | {_fmt(row['s'])} | {_fmt(row['cpu_s'])} | "
              f"{row['records_read']} | {row['us_per_record']} |")
    print(f"\nCPU time: sync hook p95 {_fmt(result['p95_cpu_ms'])} ms, check alone p95 {_fmt(result['check_p95_cpu_ms'])} ms, "
          f"{args.batch:,} batch {_fmt(result['batch_hook_cpu_s'])} s (check_many {_fmt(result['batch_check_many_cpu_s'])} s); "
          f"load average {result['load_average_1m']} on {os.cpu_count()} cores")
    print(f"errors by variant: {result['errors_by_variant']}; {result['build']}")


if __name__ == "__main__":
    main()
