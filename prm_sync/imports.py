"""``prm-sync import``: partners, contacts and registrations from CSV into the PRM store, all or nothing.

Files are read strictly: UTF-8 (a byte-order mark is fine, anything else
that is not UTF-8 is an error naming the line), RFC 4180 quoting (a stray
quote is an error, not a silently merged field), one header row whose
columns must be fields of the entity. Every row is validated against the
canonical model; every problem is reported with its file and line, and if
there is any, nothing is written. Otherwise all files go in one transaction.

Rows find their PRM record the way the sync does (``identity``): by an ``id``
column, else by natural key (a partner's domain, else its normalised name and
country; a contact's email), so importing a file twice updates instead of
duplicating. A contact or registration names its partner by ``partner_id``,
or by ``partner_domain`` / ``partner_name`` (+ ``partner_country``), resolved
against the store and the partners of the same import; a name that fits two
partners is an error, never a guess. The next sync writes the records to the
CRMs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from prm_sync.csv_input import read_csv
from prm_sync.errors import ConfigError, Problem
from prm_sync.mapping.canonical import ENGINE_FIELDS
from prm_sync.model import ENTITIES, CanonicalRecord, new_id
from prm_sync.store import audit, records
from prm_sync.store.db import Store
from prm_sync.sync.identity import KeyIndex, natural_key

ORDER = ("partner", "partner_contact", "deal_registration")  # partners first: the others name them
NATURAL_KEYS: dict[str, list[list[str]]] = {
    "partner": [["domain"], ["name", "country"]],
    "partner_contact": [["email"]],
    # a partner's registration of a customer at a time (a second import of the same file finds it)
    "deal_registration": [["partner_id", "customer_domain", "submitted_at"], ["partner_id", "customer_name", "submitted_at"]],
}
PARTNER_REF = ("partner_domain", "partner_name", "partner_country")
LIST_SEPARATOR = ";"
MAX_PROBLEMS = 200


class ImportSummary(BaseModel):
    dry_run: bool
    created: dict[str, int] = Field(default_factory=dict)
    updated: dict[str, int] = Field(default_factory=dict)
    unchanged: dict[str, int] = Field(default_factory=dict)
    rows: dict[str, int] = Field(default_factory=dict)


@dataclass
class _Row:
    path: Path
    line: int
    values: dict[str, str]


@dataclass
class _Import:
    session: Session
    now: datetime
    problems: list[Problem] = field(default_factory=list)
    index: KeyIndex = field(default_factory=KeyIndex)
    staged: dict[str, dict[str, CanonicalRecord]] = field(default_factory=dict)  # entity -> id -> record

    def problem(self, row: _Row, message: str) -> None:
        self.problems.append(Problem(message, file=str(row.path), line=row.line))


def read_rows(path: Path, entity: str, problems: list[Problem], encoding: str | None = None) -> list[_Row]:
    """The rows of one file, strictly decoded and parsed (``prm_sync.csv_input``); problems collected, not raised."""
    try:
        table = read_csv(path, encoding=encoding)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    problems.extend(table.problems)
    header = table.header
    if not header:
        return []
    allowed = set(ENTITIES[entity].model_fields) - (ENGINE_FIELDS - {"id"})
    if entity != "partner":
        allowed |= set(PARTNER_REF)
    unknown = [c for c in header if c not in allowed]
    if unknown or len(set(header)) != len(header):
        hint = "columns: " + ", ".join(sorted(allowed))
        what = f"unknown columns {', '.join(unknown)}" if unknown else "a column appears twice"
        problems.append(Problem(f"{what} for {entity}", file=str(path), line=1, hint=hint))
        return []
    rows: list[_Row] = []
    for line, raw in table.dicts():
        values = {k: v.strip() for k, v in raw.items() if v.strip()}
        if values:
            rows.append(_Row(path, line, values))
    return rows


def run_import(
    store: Store, files: dict[str, Path], *, dry_run: bool, actor: str, encoding: str | None = None
) -> ImportSummary:
    """Validate every file, then write them all in one transaction (or nothing, on any problem or ``dry_run``)."""
    from prm_sync.model import utcnow

    problems: list[Problem] = []
    parsed = {entity: read_rows(path, entity, problems, encoding) for entity, path in files.items()}
    summary = ImportSummary(dry_run=dry_run, rows={e: len(r) for e, r in parsed.items()})
    with store.session() as session:
        job = _Import(session, utcnow(), problems)
        for entity in ORDER:
            for row in parsed.get(entity, []):
                _stage(job, entity, row, summary)
        if job.problems:
            session.rollback()
            shown = job.problems[:MAX_PROBLEMS]
            more = len(job.problems) - len(shown)
            if more:
                shown.append(Problem(f"... and {more} more problems"))
            raise ConfigError(shown)  # input file problems: every one, with file and line (exit 2)
        if dry_run:
            session.rollback()
            return summary
        entries = []
        for entity in ORDER:
            staged = list(job.staged.get(entity, {}).values())
            records.save_records(session, staged)
            entries += [audit.AuditEntry(actor=actor, action="import.save", entity=entity, record_id=r.id,
                                         reason="prm-sync import") for r in staged]
        audit.append_audit(session, entries)
    return summary


def _stage(job: _Import, entity: str, row: _Row, summary: ImportSummary) -> None:
    model = ENTITIES[entity]
    values: dict[str, Any] = dict(row.values)
    if entity != "partner":
        refs = {k: values.pop(k) for k in PARTNER_REF if k in values}
        if "partner_id" not in values:
            partner = _partner_for(job, row, refs)
            if partner is None:
                return
            values["partner_id"] = partner
        elif _find(job, "partner", values["partner_id"]) is None:
            job.problem(row, f"partner_id {values['partner_id']!r}: no such partner in the PRM or in this import")
            return
    for name, info in model.model_fields.items():
        if name in values and "list" in str(info.annotation):
            values[name] = [v.strip() for v in values[name].split(LIST_SEPARATOR) if v.strip()]
    existing = _existing(job, entity, row, values)
    if existing is False:
        return
    base = existing.model_dump() if existing is not None else {}
    record_id = existing.id if existing is not None else values.get("id") or new_id(model.id_prefix)
    try:
        record = model.model_validate({**base, **values, "id": record_id, "updated_at": job.now})
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "row"
            job.problem(row, f"{where}: {err['msg']}" + (f" (got {err['input']!r})" if where in values else ""))
        return
    try:  # an amount past its column: named here with its line, not refused by the store at the end
        records.check_storable(record, job.session.get_bind().dialect.name)
    except records.UnstorableValue as exc:
        job.problem(row, str(exc))
        return
    bucket = job.staged.setdefault(entity, {})
    if record_id in bucket:
        job.problem(row, f"the same {entity} as an earlier row of this import ({record_id})")
        return
    if existing is None:
        summary.created[entity] = summary.created.get(entity, 0) + 1
    elif record.model_dump(exclude={"updated_at"}) == existing.model_dump(exclude={"updated_at"}):
        summary.unchanged[entity] = summary.unchanged.get(entity, 0) + 1
        return
    else:
        summary.updated[entity] = summary.updated.get(entity, 0) + 1
    bucket[record_id] = record
    job.index.add(record)


def _find(job: _Import, entity: str, record_id: str) -> CanonicalRecord | None:
    return job.staged.get(entity, {}).get(record_id) or records.get_record(job.session, entity, record_id)


def _existing(job: _Import, entity: str, row: _Row, values: dict[str, Any]) -> CanonicalRecord | bool | None:
    """The PRM record this row updates (None: a new one; False: ambiguous, reported)."""
    if values.get("id"):
        return _find(job, entity, str(values["id"]))
    for key in NATURAL_KEYS[entity]:
        value = natural_key(key, values)
        if value is None:
            continue
        found = sorted(job.index.lookup(job.session, entity, key, value))
        if len(found) > 1:
            job.problem(row, f"{' + '.join(key)} {value!r} fits {len(found)} {entity} records ({', '.join(found)}): "
                             "give the id column")
            return False
        if found:
            return _find(job, entity, found[0])
    return None


def _partner_for(job: _Import, row: _Row, refs: dict[str, str]) -> str | None:
    wanted = {"domain": refs.get("partner_domain"), "name": refs.get("partner_name"),
              "country": refs.get("partner_country")}
    for key in NATURAL_KEYS["partner"]:
        value = natural_key(key, wanted)
        if value is None:
            continue
        found = sorted(job.index.lookup(job.session, "partner", key, value))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            job.problem(row, f"partner {' + '.join(key)} {value!r} fits {len(found)} partners ({', '.join(found)}): "
                             "give partner_id")
            return None
    if not any(wanted.values()):
        job.problem(row, "no partner: give partner_id, or partner_domain / partner_name (+ partner_country)")
    else:
        job.problem(row, f"no partner matches {', '.join(f'{k}={v!r}' for k, v in refs.items())}")
    return None

