"""Bulk API 2.0 helpers for the Salesforce connector: CSV in, per-key results out.

simple-salesforce's ``bulk2`` runs the job (create, upload, close, poll); this
module shapes our rows as Bulk CSV (relationship columns as
``Rel__r.ExtField``, ``#N/A`` to clear a field, because an empty cell means
"leave alone") and maps the job's successful/failed/unprocessed result files
back to our keys.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from connectors.base import WriteResult

_NUMBER_TYPES = {"double", "currency", "percent", "int"}


def csv_row(fields: dict[str, Any]) -> dict[str, str]:
    """One record as Bulk CSV cells."""
    row: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, dict):
            for ext_field, ext_value in value.items():
                if ext_field != "attributes":
                    row[f"{name}.{ext_field}"] = str(ext_value)
        elif value is None:
            row[name] = "#N/A"
        elif isinstance(value, bool):
            row[name] = "true" if value else "false"
        else:
            row[name] = str(value)
    return row


def _parse_error(text: str) -> tuple[str, str, list[str]]:
    """``CODE:message:Field1,Field2 --`` -> (code, message, fields)."""
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:
        message, fields = rest, ""
    names = [f for f in fields.replace("--", "").strip().split(",") if f]
    return code.strip() or "UNKNOWN", message.strip(), names


class BulkJobFailed(Exception):
    """An ingest job ended Failed or Aborted as a whole: no record of it has an answer of its own."""


def bulk_upsert(sf: Salesforce, object_name: str, key_field: str, rows: list[dict[str, Any]], wait: float) -> dict[str, WriteResult]:
    """Upsert ``rows`` (each holding ``key_field``) with one or more ingest jobs; results by key.

    A job that fails as a whole raises ``BulkJobFailed``: Salesforce moves a
    job to Failed when one internal batch cannot be processed (a batch past 5
    minutes, 20 times), leaving the rest unprocessed, so the caller resends
    the records where each gets its own answer (sObject Collections).
    """
    bulk = getattr(sf.bulk2, object_name)
    cells = [csv_row(r) for r in rows]
    keys = [str(r[key_field]) for r in rows]
    try:
        jobs = bulk.upsert(records=cells, external_id_field=key_field, wait=wait)
    except SalesforceOperationError as exc:
        raise BulkJobFailed(str(exc)[:500]) from None
    return _job_results(bulk, jobs, key_field, keys)


def bulk_hard_delete(sf: Salesforce, object_name: str, ids: list[str], wait: float) -> dict[str, WriteResult]:
    """Delete permanently (Bulk API 2.0 ``hardDelete``: no Recycle Bin; the user needs "Bulk API Hard Delete")."""
    bulk = getattr(sf.bulk2, object_name)
    try:
        jobs = bulk.hard_delete(records=[{"Id": i} for i in ids], wait=wait)
    except SalesforceOperationError as exc:
        message = str(exc)[:500]
        return {i: WriteResult(key=i, ok=False, error_code="BULK_JOB_FAILED", error_message=message) for i in ids}
    return _job_results(bulk, jobs, "Id", ids)


def _job_results(bulk: Any, jobs: list[dict[str, Any]], key_field: str, keys: list[str]) -> dict[str, WriteResult]:
    results: dict[str, WriteResult] = {}
    for job in jobs:
        outcome = bulk.get_all_ingest_records(job["job_id"])
        for row in outcome["successfulRecords"]:
            key = row[key_field]
            results[key] = WriteResult(key=key, ok=True, remote_id=row["sf__Id"] or None,
                                       created=row.get("sf__Created") == "true")
        for row in outcome["failedRecords"]:
            key = row[key_field]
            code, message, fields = _parse_error(row.get("sf__Error", ""))
            results[key] = WriteResult(key=key, ok=False, remote_id=row.get("sf__Id") or None,
                                       error_code=code, error_message=message, error_fields=fields)
        for row in outcome["unprocessedRecords"]:
            key = row[key_field]
            results[key] = WriteResult(key=key, ok=False, error_code="UNPROCESSED",
                                       error_message="the bulk job did not process this record", retryable=True)
    for key in keys:
        results.setdefault(key, WriteResult(key=key, ok=False, error_code="NO_RESULT",
                                            error_message="the bulk job reported nothing for this key", retryable=True))
    return results


def typed_csv_rows(text: str, types: dict[str, str]) -> list[dict[str, Any]]:
    """Bulk query CSV -> dicts typed like the REST API's JSON (null, booleans, numbers)."""
    rows: list[dict[str, Any]] = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        row: dict[str, Any] = {}
        for name, cell in raw.items():
            kind = types.get(name, "string")
            if cell == "":
                row[name] = None
            elif kind == "boolean":
                row[name] = cell.lower() == "true"
            elif kind in _NUMBER_TYPES:
                row[name] = float(cell) if "." in cell or "e" in cell.lower() else int(cell)
            else:
                row[name] = cell
        rows.append(row)
    return rows
