"""Conflict check of registrations in a CSV file, for ``prm-sync conflicts check``.

Lets a channel manager test a partner's batch (or tune thresholds) before
anything reaches the store. Candidates are the accounts CSV, the store's
active registrations/opportunities/customers (its stored account index,
brought up to date by the caller), or both. A bad file raises one
``ConfigError`` listing every problem with file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.csv_input import read_csv
from prm_sync.errors import ConfigError, Problem
from prm_sync.model import ConflictDecision
from prm_sync.rules.account_index import StoreIndex
from prm_sync.rules.candidates import Candidate, CandidateIndex, CandidateKind, RegistrationQuery
from prm_sync.rules.conflict import ConflictChecker
from prm_sync.rules.normalize import profile

COLUMNS = ["id", "company_name", "domain", "email", "street", "city", "country", "phone", "product"]
REQUIRED = ["id", "company_name"]


class CsvCheckRow(BaseModel):
    id: str
    decision: ConflictDecision
    score: float
    matched_ids: list[str]
    reasons: list[str]


def _read(path: Path, encoding: str | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs, read strictly; raises ConfigError naming every bad line (capped when printed)."""
    table = read_csv(path, encoding=encoding)
    problems = table.problems
    if table.header:
        missing = [c for c in COLUMNS if c not in table.header]
        if missing:
            hint = "expected columns: " + ", ".join(COLUMNS)
            raise ConfigError([Problem(f"missing column(s) {', '.join(missing)}", file=str(path), line=1, hint=hint)])
    rows: list[tuple[int, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for line, raw in table.dicts():
        row = {k: v.strip() for k, v in raw.items()}
        for column in REQUIRED:
            if not row.get(column):
                problems.append(Problem(f"empty {column}", file=str(path), line=line))
        if row.get("id") in seen:
            problems.append(Problem(f"duplicate id {row['id']!r} (first on line {seen[row['id']]})", file=str(path), line=line))
        elif row.get("id"):
            seen[row["id"]] = line
        rows.append((line, row))
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    yield from rows


def csv_candidate(row: dict[str, str], rules: ConflictRules) -> Candidate:
    prof = profile(row["company_name"], domain=row["domain"], emails=[row["email"]], street=row["street"],
                   city=row["city"], country=row["country"], phone=row["phone"], public_domains=rules.public_mail_domains)
    return Candidate(kind=CandidateKind.customer, record_id=row["id"], profile=prof, label=row["company_name"])


def check_csv(registrations_csv: Path, accounts_csv: Path | None, session: Session | None, rules: ConflictRules,
              *, now: datetime | None = None, encoding: str | None = None) -> list[CsvCheckRow]:
    """One row per registration in file order; rows later in the file are checked against earlier ones.

    Earlier rows count as earlier submissions (first come, first served), with
    the product column for overlap; all rows are treated as from different partners.
    """
    now = now or datetime.now(UTC)
    registrations = list(_read(registrations_csv, encoding))
    index = CandidateIndex()
    if accounts_csv is not None:
        index.extend(csv_candidate(row, rules) for _, row in _read(accounts_csv, encoding))
    bases = [csv_candidate(row, rules) for _, row in registrations]
    sources = []
    if session is not None:
        stored = StoreIndex(session, now)
        stored.prefetch([b.profile for b in bases])  # one read of the stored index for the whole file
        sources.append(stored)
    checker = ConflictChecker(rules, index, sources)
    out: list[CsvCheckRow] = []
    for position, ((_, row), base) in enumerate(zip(registrations, bases, strict=True)):
        products = frozenset(p.strip() for p in row["product"].replace(";", ",").split(",") if p.strip())
        stamp = now + timedelta(microseconds=position)  # file order is submission order, after the store's
        result = checker.check(RegistrationQuery(profile=base.profile, record_id=row["id"], partner_id=f"csv:{row['id']}",
                                                 product_lines=products, submitted_at=stamp))
        out.append(CsvCheckRow(id=row["id"], decision=result.decision, score=result.score,
                               matched_ids=[m.record_id for m in result.matches], reasons=result.reasons))
        checker.add(Candidate(kind=CandidateKind.registration, record_id=row["id"], profile=base.profile,
                              partner_id=f"csv:{row['id']}", product_lines=products, submitted_at=stamp,
                              label=row["company_name"]))
    return out
