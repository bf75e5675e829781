"""Conflict-check quality on real business records described twice, with a held-out split.

The data (provenance in ``benchmarks/README.md``):

- ``data/restaurants``: the Fodor's/Zagat restaurant guides (533 and 331
  listings of the same cities, name, street, city, phone; 112 labelled pairs
  of the same restaurant), as shipped with py_entitymatching (BSD-3-Clause).
  It is checked both ways: Fodor's listings as registrations against Zagat's
  as accounts, and the reverse.
- ``data/conflict_cases.csv``: invented pairs in the failure classes of
  issue #19 (a venue or city added to a name, a short shared name in another
  city, two businesses in one building, street and phone format variants).

Each restaurant suite runs exactly what ``prm-sync conflicts check
--registrations R.csv --accounts A.csv`` runs (``check_csv``): a registration
is checked against the accounts and the registrations before it in the file.
A registration with a true twin counts as found when the decision is
``conflict`` or ``review`` *and* the best match is its twin; any other flag is
a false positive.

The split is fixed by a rule, not by looking at results: an entity (a labelled
pair, or a listing without a twin, or a hand-made case) is in ``validation``
when the first byte of ``sha256("prm-sync conflict eval v1:" + key)`` is odd.
Tuning looks at ``--errors train`` only; validation numbers are reported, never
listed pair by pair.

    python benchmarks/conflict_quality.py                 # train and validation tables
    python benchmarks/conflict_quality.py --errors train  # also list the train split's mistakes
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prm_sync.config.settings import ConflictRules
from prm_sync.rules.candidates import RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker
from prm_sync.rules.csvcheck import COLUMNS, check_csv, csv_candidate

DATA = Path(__file__).resolve().parent / "data"
SPLIT_SALT = "prm-sync conflict eval v1"
SPLITS = ("train", "validation")


def split_of(key: str) -> str:
    """``validation`` for about half of the keys, fixed forever by the salt."""
    return "validation" if hashlib.sha256(f"{SPLIT_SALT}:{key}".encode()).digest()[0] % 2 else "train"


@dataclass
class Outcome:
    """One checked registration: what the checker said and what is true."""

    suite: str
    split: str
    query_id: str
    truth: frozenset[str]
    decision: str
    best: str | None
    score: float
    reason: str = ""
    label: str = ""
    review_ok: bool = False  # two businesses in one building: the issue allows a review, never a conflict

    @property
    def correct_flag(self) -> bool:
        return self.decision != "clear" and self.best in self.truth


@dataclass
class Suite:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)


# --- data -------------------------------------------------------------------------------------------------

def _restaurants() -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, str]]:
    folder = DATA / "restaurants"
    with (folder / "fodors.csv").open(newline="") as handle:
        fodors = list(csv.DictReader(handle))
    with (folder / "zagats.csv").open(newline="") as handle:
        zagats = list(csv.DictReader(handle))
    with (folder / "matches_fodors_zagats.csv").open(newline="") as handle:
        pairs = {f"f{row['fodors_id']}": f"z{row['zagats_id']}" for row in csv.DictReader(handle)}
    return fodors, zagats, pairs


def _as_csv_row(prefix: str, listing: dict[str, str]) -> dict[str, str]:
    """A guide listing as a row of the ``conflicts check`` CSV; both guides cover US cities."""
    return {"id": f"{prefix}{listing['id']}", "company_name": listing["name"], "domain": "", "email": "",
            "street": listing["addr"], "city": listing["city"], "country": "US", "phone": listing["phone"],
            "product": "platform"}


def _write(path: Path, rows: Iterable[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _entity_key(query_id: str, pairs: dict[str, str]) -> str:
    """The labelled pair a listing belongs to, or the listing itself: both sides of a pair share a split."""
    reverse = {z: f for f, z in pairs.items()}
    if query_id in pairs:
        return f"pair:{query_id}:{pairs[query_id]}"
    if query_id in reverse:
        return f"pair:{reverse[query_id]}:{query_id}"
    return f"listing:{query_id}"


Direction = tuple[str, list[dict[str, str]], list[dict[str, str]], dict[str, str]]


def _directions() -> tuple[list[Direction], dict[str, str]]:
    """Both ways of checking one guide against the other: (name, registrations, accounts, twin of each), pairs."""
    fodors, zagats, pairs = _restaurants()
    reverse = {z: f for f, z in pairs.items()}
    f_rows = [_as_csv_row("f", r) for r in fodors]
    z_rows = [_as_csv_row("z", r) for r in zagats]
    return [("fodors->zagat", f_rows, z_rows, pairs), ("zagat->fodors", z_rows, f_rows, reverse)], pairs


def restaurant_suites(rules: ConflictRules, workdir: Path) -> list[Suite]:
    directions, pairs = _directions()
    suites = []
    for name, regs, accounts, truth in directions:
        reg_csv = _write(workdir / f"{name}-registrations.csv", regs)
        acc_csv = _write(workdir / f"{name}-accounts.csv", accounts)
        suite = Suite(name)
        labels = {r["id"]: r["company_name"] for r in regs + accounts}
        for row in check_csv(reg_csv, acc_csv, None, rules):
            twin = truth.get(row.id)
            best = row.matched_ids[0] if row.matched_ids else None
            suite.outcomes.append(Outcome(
                suite=name, split=split_of(_entity_key(row.id, pairs)), query_id=row.id,
                truth=frozenset([twin] if twin else []), decision=str(row.decision), best=best, score=row.score,
                reason=row.reasons[0] if row.reasons else "",
                label=f"{labels[row.id]!r} vs {labels.get(best or '', '-')!r}" + (f" (twin {labels[twin]!r})" if twin else ""),
            ))
        suites.append(suite)
    return suites


def _side(row: dict[str, str], side: str) -> dict[str, str]:
    return {column: row.get(f"{side}_{column}", "") for column in COLUMNS if column not in {"id", "product"}}


def handmade_suite(rules: ConflictRules) -> Suite:
    """Each invented case alone: one account, one registration, labelled ``match``, ``distinct``, or
    ``distinct_review_ok`` (two businesses in one building: a review is allowed, a conflict is wrong)."""
    suite = Suite("hand-made")
    with (DATA / "conflict_cases.csv").open(newline="") as handle:
        cases = list(csv.DictReader(handle))
    for case in cases:
        checker = ConflictChecker(rules)
        account = {"id": "acc", "product": "", **_side(case, "acc")}
        checker.add(csv_candidate(account, rules))
        registration = csv_candidate({"id": "reg", "product": "", **_side(case, "reg")}, rules)
        result = checker.check(RegistrationQuery(profile=registration.profile, record_id="reg", partner_id="csv:reg"))
        best = result.matches[0].record_id if result.matches else None
        suite.outcomes.append(Outcome(
            suite=f"hand-made/{case['failure_class']}", split=split_of(f"case:{case['case_id']}"),
            query_id=case["case_id"], truth=frozenset(["acc"] if case["label"] == "match" else []),
            decision=str(result.decision), best=best, score=result.score, review_ok=case["label"] == "distinct_review_ok",
            reason=result.reasons[0] if result.reasons else "",
            label=f"{case['reg_company_name']!r} vs {case['acc_company_name']!r} ({case['label']})",
        ))
    return suite


# --- the baseline of issue #19 ------------------------------------------------------------------------------

def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())[-10:]


def rapidfuzz_rule(reg: dict[str, str], acc: dict[str, str]) -> float:
    """The ten-line rule the issue compares with: same phone, or a similar name with the same street."""
    name = fuzz.token_set_ratio(reg["company_name"].lower(), acc["company_name"].lower())
    if len(_digits(reg["phone"])) >= 10 and _digits(reg["phone"]) == _digits(acc["phone"]):
        return 100.0 + name / 100
    if name >= 80 and fuzz.ratio(reg["street"].lower(), acc["street"].lower()) >= 80:
        return name
    return 0.0


def baseline_suites() -> list[Suite]:
    directions, pairs = _directions()
    suites = []
    for name, regs, accounts, truth in directions:
        suite = Suite(name)
        for reg in regs:
            scored = max(((rapidfuzz_rule(reg, acc), acc["id"]) for acc in accounts), default=(0.0, None))
            twin = truth.get(reg["id"])
            suite.outcomes.append(Outcome(
                suite=name, split=split_of(_entity_key(reg["id"], pairs)), query_id=reg["id"],
                truth=frozenset([twin] if twin else []), decision="conflict" if scored[0] > 0 else "clear",
                best=scored[1] if scored[0] > 0 else None, score=scored[0],
            ))
        suites.append(suite)
    return suites


# --- metrics ------------------------------------------------------------------------------------------------

def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def metrics(outcomes: list[Outcome]) -> dict[str, object]:
    """P/R/F1 per decision class and for ``flagged`` (conflict or review on the right record).

    For ``conflict`` and ``review`` a true positive is that decision on the
    right record, recall is over every registration that has a twin; for
    ``clear`` a true positive is a clear registration without a twin, recall is
    over every registration without one. A tolerated review (``review_ok``)
    is left out of every count and reported as ``tolerated_reviews``.
    """
    tolerated = [o for o in outcomes if o.review_ok and o.decision == "review"]
    outcomes = [o for o in outcomes if not (o.review_ok and o.decision == "review")]
    positives = [o for o in outcomes if o.truth]
    negatives = [o for o in outcomes if not o.truth]
    out: dict[str, object] = {"registrations": len(outcomes), "with_twin": len(positives),
                              "tolerated_reviews": len(tolerated)}
    for decision in ("conflict", "review"):
        tp = sum(1 for o in outcomes if o.decision == decision and o.correct_flag)
        fp = sum(1 for o in outcomes if o.decision == decision and not o.correct_flag)
        out[decision] = _prf(tp, fp, len(positives) - tp)
    tp = sum(1 for o in outcomes if o.correct_flag)
    fp = sum(1 for o in outcomes if o.decision != "clear" and not o.correct_flag)
    out["flagged"] = _prf(tp, fp, len(positives) - tp)
    clear_tp = sum(1 for o in negatives if o.decision == "clear")
    clear_fp = sum(1 for o in positives if o.decision == "clear")
    out["clear"] = _prf(clear_tp, clear_fp, len(negatives) - clear_tp)
    return out


def by_split(suites: list[Suite], pick: Callable[[Outcome], bool] = lambda o: True) -> dict[str, dict[str, object]]:
    every = [o for s in suites for o in s.outcomes if pick(o)]
    return {split: metrics([o for o in every if o.split == split]) for split in SPLITS}


def _row(title: str, m: dict[str, object]) -> str:
    cells = [title, f"{m['registrations']}", f"{m['with_twin']}"]
    for key in ("flagged", "conflict", "review", "clear"):
        v = m[key]
        assert isinstance(v, dict)
        cells.append(f"{v['precision']:.3f} / {v['recall']:.3f} / {v['f1']:.3f}")
    return "| " + " | ".join(cells) + " |"


def report(suites: list[Suite], baseline: list[Suite]) -> dict[str, object]:
    groups: dict[str, Callable[[Outcome], bool]] = {
        "restaurants (both ways)": lambda o: not o.suite.startswith("hand-made"),
        "fodors->zagat": lambda o: o.suite == "fodors->zagat",
        "zagat->fodors": lambda o: o.suite == "zagat->fodors",
        "hand-made cases": lambda o: o.suite.startswith("hand-made"),
        "all": lambda o: True,
    }
    result: dict[str, object] = {name: by_split(suites, pick) for name, pick in groups.items()}
    result["baseline rapidfuzz rule (restaurants)"] = by_split(baseline)
    print("| data | split | registrations | with twin | flagged P / R / F1 | conflict P / R / F1 | review P / R / F1 | clear P / R / F1 |")
    print("|---|---|---:|---:|---|---|---|---|")
    for name, splits in result.items():
        assert isinstance(splits, dict)
        for split in SPLITS:
            print(_row(f"{name} | {split}", splits[split]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", choices=["train"], help="list the mistakes of the train split (never validation)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "conflict_quality.json")
    args = parser.parse_args()
    rules = ConflictRules()
    with tempfile.TemporaryDirectory() as tmp:
        suites = [*restaurant_suites(rules, Path(tmp)), handmade_suite(rules)]
    result = report(suites, baseline_suites())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.errors:
        print(f"\nmistakes in {args.errors}:")
        for o in (o for s in suites for o in s.outcomes if o.split == args.errors):
            wrong = (o.truth and not o.correct_flag) or (not o.truth and o.decision != "clear")
            if (wrong or (o.decision == "conflict" and not o.correct_flag)) and not (o.review_ok and o.decision == "review"):
                print(f"  {o.suite} {o.query_id}: {o.decision} {o.score:.1f} {o.label} :: {o.reason}")


if __name__ == "__main__":
    main()
