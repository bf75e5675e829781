"""The comparison itself: one DuckDB query over the snapshot's Parquet files.

Every kind of difference is a join by key, so the work is set-based and
stays seconds at millions of rows (see ``benchmarks/README.md``):

- ``field_drift``: linked pairs whose expected and read values differ, per field;
- ``merged``: a live link whose remote record a user merged into another one (the
  survivor's id is the row's ``remote_value``) and the PRM has not followed yet;
- ``missing_remote``: a live link whose remote record is gone (not merged), or (for records
  we own) a PRM record with neither a link nor a remote record carrying its key;
- ``unlinked``: a PRM record we own with no link, while the system holds its key;
- ``missing_prm``: a system-owned record with no link, or a link whose PRM record is gone;
- ``orphan``: a remote key that names no PRM record (copies retired by ``on_delete: mark`` excepted);
- ``duplicate``: several remote records carrying the same PRM key;
- ``unkeyed``: an unlinked record without any key in a filtered slice of records we own
  (IsPartner accounts); unfiltered objects also hold records that were never ours;
- ``remote_deleted``: links the engine marked deleted remotely (information only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from prm_sync.reconcile.parquet import register_views

DIFFERENCES_SQL = """
WITH live_links AS (
    SELECT l.* FROM links l
    JOIN prm_records p ON p.entity = l.entity AND p.record_id = l.record_id
    WHERE l.remote_id IS NOT NULL
)
SELECT l.system, l.entity, 'field_drift' AS kind, l.record_id, l.remote_id, pv.field,
       pv.value AS prm_value, rv.value AS remote_value
FROM live_links l
JOIN prm_values pv ON pv.system = l.system AND pv.entity = l.entity AND pv.record_id = l.record_id
JOIN remote_values rv ON rv.system = l.system AND rv.entity = l.entity AND rv.remote_id = l.remote_id
                     AND rv.field = pv.field
WHERE NOT l.remote_deleted AND pv.value IS DISTINCT FROM rv.value

UNION ALL
SELECT l.system, l.entity, 'missing_remote', l.record_id, l.remote_id, NULL, NULL, NULL
FROM live_links l
ANTI JOIN remote_records r ON r.system = l.system AND r.entity = l.entity AND r.remote_id = l.remote_id
ANTI JOIN remote_merges m ON m.system = l.system AND m.entity = l.entity AND m.remote_id = l.remote_id
WHERE NOT l.remote_deleted

UNION ALL
SELECT l.system, l.entity, 'merged', l.record_id, l.remote_id, NULL, NULL, min(m.survivor_id)
FROM live_links l
JOIN remote_merges m ON m.system = l.system AND m.entity = l.entity AND m.remote_id = l.remote_id
ANTI JOIN remote_records r ON r.system = l.system AND r.entity = l.entity AND r.remote_id = l.remote_id
WHERE NOT l.remote_deleted
GROUP BY l.system, l.entity, l.record_id, l.remote_id

UNION ALL
SELECT l.system, l.entity, 'remote_deleted', l.record_id, l.remote_id, NULL, NULL, NULL
FROM live_links l
WHERE l.remote_deleted

UNION ALL
SELECT s.system, s.entity,
       CASE WHEN k.prm_key IS NULL THEN 'missing_remote' ELSE 'unlinked' END,
       p.record_id, k.remote_id, NULL, NULL, NULL
FROM slices s
JOIN prm_records p ON p.entity = s.entity
ANTI JOIN links l ON l.system = s.system AND l.entity = s.entity AND l.record_id = p.record_id
LEFT JOIN (
    SELECT system, entity, prm_key, min(remote_id) AS remote_id FROM remote_records
    WHERE prm_key IS NOT NULL GROUP BY ALL
) k ON k.system = s.system AND k.entity = s.entity AND k.prm_key = p.record_id
WHERE s.keyed

UNION ALL
SELECT r.system, r.entity, 'orphan', r.prm_key, r.remote_id, NULL, NULL, NULL
FROM remote_records r
JOIN slices s ON s.system = r.system AND s.entity = r.entity AND s.keyed
ANTI JOIN prm_records p ON p.entity = r.entity AND p.record_id = r.prm_key
-- a copy the sync retired by on_delete (marked, kept) is ours, not an orphan: e.g. a merge loser
ANTI JOIN links l ON l.system = r.system AND l.entity = r.entity AND l.remote_id = r.remote_id AND l.remote_deleted
WHERE r.prm_key IS NOT NULL

UNION ALL
SELECT r.system, r.entity, 'duplicate', r.prm_key, r.remote_id, NULL, NULL, NULL
FROM remote_records r
JOIN slices s ON s.system = r.system AND s.entity = r.entity AND s.keyed
JOIN (
    SELECT system, entity, prm_key FROM remote_records WHERE prm_key IS NOT NULL
    GROUP BY ALL HAVING count(*) > 1
) d ON d.system = r.system AND d.entity = r.entity AND d.prm_key = r.prm_key
-- the copy the PRM is linked to is the original; every other one is reported
ANTI JOIN links l ON l.system = r.system AND l.entity = r.entity AND l.remote_id = r.remote_id

UNION ALL
SELECT r.system, r.entity, CASE WHEN s.keyed THEN 'unkeyed' ELSE 'missing_prm' END,
       NULL, r.remote_id, NULL, NULL, NULL
FROM remote_records r
JOIN slices s ON s.system = r.system AND s.entity = r.entity
ANTI JOIN links l ON l.system = r.system AND l.entity = r.entity AND l.remote_id = r.remote_id
-- without a filter a keyed object also holds records that were never ours (ERP customers)
WHERE r.prm_key IS NULL AND (NOT s.keyed OR s.filtered)

UNION ALL
SELECT l.system, l.entity, 'missing_prm', l.record_id, l.remote_id, NULL, NULL, NULL
FROM links l
JOIN slices s ON s.system = l.system AND s.entity = l.entity AND NOT s.keyed
JOIN remote_records r ON r.system = l.system AND r.entity = l.entity AND r.remote_id = l.remote_id
ANTI JOIN prm_records p ON p.entity = l.entity AND p.record_id = l.record_id
"""


@dataclass
class RawDifference:
    system: str
    entity: str
    kind: str
    record_id: str | None
    remote_id: str | None
    field: str | None
    prm_value: str | None
    remote_value: str | None


def compare(files: Mapping[str, Path], *, threads: int | None = None) -> list[RawDifference]:
    """Every difference between the two sides, ordered by system, entity, kind, record and field."""
    with duckdb.connect() as conn:
        if threads:
            conn.execute(f"SET threads = {int(threads)}")
        register_views(conn, files)
        rows = conn.execute(
            f"SELECT * FROM ({DIFFERENCES_SQL}) ORDER BY system, entity, kind, record_id, remote_id, field"
        ).fetchall()
    return [RawDifference(*row) for row in rows]


def count_differences(files: Mapping[str, Path]) -> dict[str, int]:
    """Counts per kind only (what a benchmark or a health check needs), without fetching rows."""
    with duckdb.connect() as conn:
        register_views(conn, files)
        rows = conn.execute(f"SELECT kind, count(*) FROM ({DIFFERENCES_SQL}) GROUP BY kind").fetchall()
    return {kind: int(n) for kind, n in rows}
