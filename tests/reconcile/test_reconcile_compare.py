"""The DuckDB comparison on hand-made snapshots: one row per kind of difference, nothing else."""

from __future__ import annotations

from pathlib import Path

from prm_sync.reconcile.compare import compare, count_differences
from prm_sync.reconcile.parquet import write_parquet
from prm_sync.reconcile.snapshot import SCHEMAS, encode

SLICES = [
    {"system": "salesforce", "entity": "partner", "remote_object": "Account", "keyed": True, "filtered": True},
    {"system": "erp", "entity": "partner", "remote_object": "res.partner", "keyed": True, "filtered": False},
    {"system": "salesforce", "entity": "opportunity", "remote_object": "Opportunity", "keyed": False, "filtered": False},
]


def _write(tmp_path: Path, tables: dict[str, list[dict]]) -> dict[str, Path]:
    files = {}
    for name, columns in SCHEMAS.items():
        files[name] = tmp_path / f"{name}.parquet"
        write_parquet(files[name], columns, tables.get(name, []))
    return files


def _link(system: str, entity: str, record_id: str, remote_id: str | None, deleted: bool = False) -> dict:
    return {"system": system, "entity": entity, "record_id": record_id, "remote_id": remote_id, "remote_deleted": deleted}


def _remote(system: str, entity: str, remote_id: str, key: str | None) -> dict:
    return {"system": system, "entity": entity, "remote_id": remote_id, "prm_key": key,
            "modstamp": "2026-11-01T00:00:00+00:00"}


def _value(side: str, system: str, entity: str, rid: str, field: str, value: object) -> dict:
    key = "record_id" if side == "prm" else "remote_id"
    return {"system": system, "entity": entity, key: rid, "field": field, "value": encode(value)}


def test_each_kind_of_difference_is_found_once(tmp_path: Path) -> None:
    sf, erp = "salesforce", "erp"
    files = _write(tmp_path, {
        "slices": SLICES,
        "prm_records": [{"entity": "partner", "record_id": r} for r in ("p1", "p2", "p3", "p4", "p5", "p6")]
                       + [{"entity": "opportunity", "record_id": "o1"}],
        "links": [
            _link(sf, "partner", "p1", "A1"),            # in agreement, except one field
            _link(sf, "partner", "p2", "A2"),            # remote gone: missing_remote
            _link(sf, "partner", "p3", "A3", True),      # deleted remotely, known: information
            _link(erp, "partner", "p1", "7"),
            _link(erp, "partner", "p2", "8"),
            _link(erp, "partner", "p3", "9"),
            _link(erp, "partner", "p4", "10"),
            _link(erp, "partner", "p5", "11"),
            _link(erp, "partner", "p6", "12"),
            _link(sf, "opportunity", "o1", "006A"),
            _link(sf, "opportunity", "o9", "006B"),      # PRM row deleted by hand: missing_prm
        ],
        "remote_records": [
            _remote(sf, "partner", "A1", "p1"),
            _remote(sf, "partner", "A5", "p5"),          # p5 never linked but the key is there: unlinked
            _remote(sf, "partner", "AX", "ptn_ghost"),   # orphan
            _remote(sf, "partner", "AY", None),          # unkeyed (Salesforce slice is filtered)
            *[_remote(erp, "partner", str(i), f"p{i - 6}") for i in range(7, 13)],
            _remote(erp, "partner", "13", "p4"),         # a copy with the same key: duplicate
            _remote(erp, "partner", "14", None),         # an ERP customer: never ours, not reported
            _remote(sf, "opportunity", "006A", None),
            _remote(sf, "opportunity", "006B", None),
            _remote(sf, "opportunity", "006C", None),    # never read into the PRM: missing_prm
        ],
        "remote_values": [_value("remote", sf, "partner", "A1", "tier", "gold"),
                          _value("remote", sf, "partner", "A1", "name", "Acme")],
        "prm_values": [_value("prm", sf, "partner", "p1", "tier", "silver"),
                       _value("prm", sf, "partner", "p1", "name", "Acme")],
    })

    found = {(d.system, d.entity, d.kind, d.record_id, d.remote_id, d.field) for d in compare(files)}

    assert found == {
        (sf, "partner", "field_drift", "p1", "A1", "tier"),
        (sf, "partner", "missing_remote", "p2", "A2", None),
        (sf, "partner", "remote_deleted", "p3", "A3", None),
        (sf, "partner", "missing_remote", "p4", None, None),  # never pushed, no key anywhere
        (sf, "partner", "unlinked", "p5", "A5", None),
        (sf, "partner", "missing_remote", "p6", None, None),
        (sf, "partner", "orphan", "ptn_ghost", "AX", None),
        (sf, "partner", "unkeyed", None, "AY", None),
        (erp, "partner", "duplicate", "p4", "13", None),
        (sf, "opportunity", "missing_prm", None, "006C", None),
        (sf, "opportunity", "missing_prm", "o9", "006B", None),
    }
    drift = next(d for d in compare(files) if d.kind == "field_drift")
    assert (drift.prm_value, drift.remote_value) == ('"silver"', '"gold"')
    assert count_differences(files)["missing_remote"] == 3


def test_blank_on_both_sides_and_equal_values_are_no_difference(tmp_path: Path) -> None:
    files = _write(tmp_path, {
        "slices": SLICES[:1],
        "prm_records": [{"entity": "partner", "record_id": "p1"}],
        "links": [_link("salesforce", "partner", "p1", "A1")],
        "remote_records": [_remote("salesforce", "partner", "A1", "p1")],
        "remote_values": [_value("remote", "salesforce", "partner", "A1", "phone", "  "),
                          _value("remote", "salesforce", "partner", "A1", "tags", ["b", "a"])],
        "prm_values": [_value("prm", "salesforce", "partner", "p1", "phone", None),
                       _value("prm", "salesforce", "partner", "p1", "tags", ["a", "b"])],
    })

    assert compare(files) == []
