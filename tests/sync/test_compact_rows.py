"""The rows a push writes are few and compact, and read exactly as the full rows written before.

A push keeps its ledger and audit as one ``push_batch`` row per batch plus a
two-key index row per record (see ``PushBatchRow``), and leaves out a link
snapshot's ``"prm"`` view when it equals ``"remote"`` and the null values of
a ``push.create`` entry's ``fields_before``. ``audit_log`` rows written
before kept a provenance entry's ``remote_value`` only when it differed from
``fields_after[prm_field]``. Stores keep rows in every older form, so every
reader must give the same answer for all of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from prm_sync.audit_view import field_lines, provenance
from prm_sync.mapping.apply import load_mappings
from prm_sync.model import Partner
from prm_sync.reconcile.models import Difference
from prm_sync.reconcile.repair import RepairPlan, _forget, _winner
from prm_sync.reconcile.snapshot import encode
from prm_sync.store import Direction, Store, SyncState, get_state, get_states, records, set_states
from prm_sync.store.audit import AuditEntry, query_audit
from prm_sync.store.orm import AuditLogRow, PushBatchRecordRow, PushBatchRow, SyncStateRow, WriteLedgerRow
from prm_sync.store.push_batches import push_items
from prm_sync.sync import repo
from prm_sync.sync.linkstate import LinkState, pack_snapshot, unpack_snapshot
from prm_sync.sync.values import same_json

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
VALUES = {"name": "Acme Ltd", "phone": "+44 20 7946 0000", "tier": "gold", "product_lines": ["a", "b"], "city": None}


# -- same_json -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (None, None, True),
        ("gold", "gold", True),
        (["a", {"b": 1}], ["a", {"b": 1}], True),
        ("gold", "Gold", False),
        (1, 1.0, False),  # equal for ==, not stored alike
        (1, True, False),
        ("1", 1, False),
        (["1"], [1], False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),  # another key order is other JSON text
        (float("1.5"), float("1.5"), False),  # floats are never taken as the same (-0.0, 0.0)
        (T0, T0.astimezone(), False),  # nor anything else that is not a normalised value
    ],
)
def test_same_json_is_stricter_than_equality(a: Any, b: Any, same: bool) -> None:
    assert same_json(a, b) is same
    assert same_json(b, a) is same


def test_one_object_is_the_same_json_as_itself() -> None:
    for value in (T0, float("nan"), [1.5, {"at": T0}]):
        assert same_json(value, value)


# -- sync_state snapshots --------------------------------------------------------------------------
def test_a_snapshot_leaves_prm_out_only_when_it_equals_remote() -> None:
    assert pack_snapshot(dict(VALUES), dict(VALUES)) == {"remote": VALUES}
    # key order of the views is no difference: readers look fields up by name
    assert pack_snapshot(dict(VALUES), dict(reversed(VALUES.items()))) == {"remote": VALUES}
    assert pack_snapshot({}, {}) == {"remote": {}}
    differing = [
        {**VALUES, "tier": "silver"},  # a value
        {k: v for k, v in VALUES.items() if k != "city"},  # a field agreed on one side only
        {},  # the PRM side forgotten (reconcile): must not read back as "same as remote"
        {**VALUES, "product_lines": ["b", "a"]},
        {**VALUES, "phone": 44},  # another type
    ]
    for prm in differing:
        assert pack_snapshot(dict(VALUES), prm) == {"remote": VALUES, "prm": prm}


def test_old_full_and_new_compact_snapshots_read_the_same() -> None:
    full = {"remote": VALUES, "prm": VALUES}
    compact = pack_snapshot(VALUES, VALUES)
    assert "prm" not in compact and len(json.dumps(compact)) < len(json.dumps(full))
    assert unpack_snapshot(compact) == unpack_snapshot(full) == (VALUES, VALUES)
    assert unpack_snapshot(None) == unpack_snapshot({}) == ({}, {})
    assert unpack_snapshot({"remote": VALUES, "prm": {}}) == (VALUES, {})


def test_the_prm_view_of_a_compact_snapshot_shares_nothing_with_the_remote_view() -> None:
    stored = json.loads(json.dumps(pack_snapshot(VALUES, VALUES)))
    remote, prm = unpack_snapshot(stored)
    prm["tier"] = "silver"
    prm["product_lines"].append("c")
    assert remote == VALUES  # as with two views decoded separately from a full snapshot


def _link(record_id: str, remote: dict[str, Any], prm: dict[str, Any]) -> LinkState:
    return LinkState(entity="partner", record_id=record_id, system="salesforce", remote_object="Account",
                     remote_id=f"001{record_id}", remote_values=remote, prm_values=prm, content_hash="h",
                     direction="push", last_synced_at=T0, record_version=3, push_fingerprint="fp")


def _full_row(record_id: str, remote: dict[str, Any], prm: dict[str, Any]) -> SyncState:
    """A link state as the previous version stored it: both views, always."""
    return SyncState(entity="partner", record_id=record_id, system="salesforce", remote_object="Account",
                     remote_id=f"001{record_id}", content_hash="h", last_synced_at=T0, last_direction=Direction.push,
                     snapshot={"remote": remote, "prm": prm}, record_version=3, push_fingerprint="fp")


def _stored_snapshots(store: Store) -> dict[str, Any]:
    with store.session(readonly=True) as session:
        return {row.record_id: row.snapshot for row in session.scalars(select(SyncStateRow))}


def test_link_states_are_stored_compact_and_old_rows_read_back_equal(store: Store) -> None:
    changed = {**VALUES, "tier": "silver"}
    with store.session() as session:
        repo.put_state(session, _link("new_same", VALUES, VALUES))
        repo.put_state(session, _link("new_diff", VALUES, changed))
        set_states(session, [_full_row("old_same", VALUES, VALUES), _full_row("old_diff", VALUES, changed)])
    stored = _stored_snapshots(store)
    assert stored["new_same"] == {"remote": VALUES}
    assert stored["new_diff"] == {"remote": VALUES, "prm": changed}
    with store.session(readonly=True) as session:
        links = repo.states_for(session, "partner", "salesforce", ["new_same", "new_diff", "old_same", "old_diff"])
        by_remote = repo.states_by_remote(session, "salesforce", "Account", ["001new_same"])
    assert set(links) == {"new_same", "new_diff", "old_same", "old_diff"}

    def view(link: LinkState) -> dict[str, Any]:
        return link.model_dump(exclude={"record_id", "remote_id"})

    assert view(links["new_same"]) == view(links["old_same"]) == view(_link("x", VALUES, VALUES))
    assert view(links["new_diff"]) == view(links["old_diff"])
    assert by_remote["001new_same"] == links["new_same"]


# -- reconcile --repair reads and edits snapshots directly ------------------------------------------
def test_repair_decides_and_forgets_the_same_on_old_and_compact_snapshots(store: Store) -> None:
    mapping = load_mappings([MAPPINGS]).for_entity("salesforce", "partner")
    assert mapping is not None
    agreed = {"name": "Acme Ltd", "phone": "+1 555 0100", "city": "Leeds"}
    with store.session() as session:
        repo.put_state(session, _link("compact", agreed, agreed))
        set_states(session, [_full_row("full", agreed, agreed)])
    assert "prm" not in _stored_snapshots(store)["compact"]
    record = Partner(id="ptn_x", name="Acme Ltd", phone="+1 555 0100", city="Leeds")
    drift = Difference(system="salesforce", entity="partner", kind="field_drift", action="push", record_id="x",
                       field="phone", prm_value=encode("+1 555 0100"), remote_value=encode("+1 555 0199"))
    with store.session(readonly=True) as session:
        current = get_states(session, "partner", "salesforce", ["compact", "full"])
    # only the remote changed the phone: re-read it (a missing "prm" must not look like a PRM change)
    assert _winner(mapping, drift, current["compact"], record) == _winner(mapping, drift, current["full"], record)
    assert _winner(mapping, drift, current["compact"], record) == "remote"

    plan = RepairPlan(forget={("salesforce", "partner", rid): ({"phone"}, {"city"}) for rid in ("compact", "full")})
    with store.session() as session:
        assert _forget(session, plan, "run_test") == 2
    stored = _stored_snapshots(store)
    assert stored["compact"] == stored["full"] == {
        "remote": {"name": "Acme Ltd", "phone": "+1 555 0100"}, "prm": {"name": "Acme Ltd", "city": "Leeds"}}


# -- audit rows: field_lines on old and new entries -------------------------------------------------
def _entry(*, action: str, before: dict[str, Any] | None, provenance: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        at=T0, run_id="run_1", action=action, system="salesforce", remote_object="Account", entity="partner",
        record_id="ptn_1", remote_id="001A", mapping_version="v1", rule="to_remote", fields_before=before,
        fields_after={"name": "Acme Ltd", "tier": "gold", "city": None}, provenance=provenance,
    )


def test_field_lines_read_old_and_compact_push_entries_alike() -> None:
    static = {"rule": "prefer_prm", "decision": "to_remote"}
    old = _entry(action="push.create", before={"name": None, "tier": None, "city": None}, provenance={
        "Name": {"prm_field": "name", **static, "remote_value": "Acme Ltd"},
        "Partner_Tier__c": {"prm_field": "tier", **static, "remote_value": "Gold"},
        "BillingCity": {"prm_field": "city", **static, "remote_value": None},
    })
    new = _entry(action="push.create", before={}, provenance={
        "Name": {"prm_field": "name", **static},
        "Partner_Tier__c": {"prm_field": "tier", **static, "remote_value": "Gold"},  # differs: kept
        "BillingCity": {"prm_field": "city", **static},
    })
    lines = [line.model_dump() for line in field_lines(new)]
    assert lines == [line.model_dump() for line in field_lines(old)]
    assert [line["value"] for line in lines] == [None, "Acme Ltd", "Gold"]  # sorted by remote field
    assert "Salesforce Account.Partner_Tier__c was set to Gold" in lines[2]["text"]


def test_event_text_reads_old_and_compact_fields_before_alike() -> None:
    """Without provenance an entry is one sentence built from fields_before and fields_after."""
    old = _entry(action="push.create", before={"name": None, "tier": None, "city": None}, provenance={})
    new = _entry(action="push.create", before={}, provenance={})
    assert [line.model_dump() for line in field_lines(new)] == [line.model_dump() for line in field_lines(old)]
    assert "(city: (blank) -> (blank), name: (blank) -> Acme Ltd, tier: (blank) -> gold)" in field_lines(new)[0].text


# -- end to end: what a sync stores ----------------------------------------------------------------------
def _as_old_format(entry: AuditEntry, payload: dict[str, Any]) -> AuditEntry:
    """The entry as the previous version wrote it: a null per field before a create, every remote_value."""
    after = entry.fields_after or {}
    before = dict(entry.fields_before or {})
    if entry.action == "push.create":
        before = {name: before.get(name) for name in after}
    provenance = {
        remote: ({**info, "remote_value": payload[remote]} if remote in payload else info)
        for remote, info in (entry.provenance or {}).items()
    }
    return entry.model_copy(update={"fields_before": before, "provenance": provenance})


def test_a_sync_stores_compact_rows_that_read_as_the_full_ones(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce",))
    with env.runtime.store.session() as session:  # ``domain`` is written lower-cased: the views differ
        records.save_record(session, Partner(id="ptn_mixed", name="Mixed Case Ltd", domain="Mixed.Example"))
    env.run()
    store = env.runtime.store
    with store.session(readonly=True) as session:
        states = {(r.entity, r.record_id): r.snapshot for r in session.scalars(select(SyncStateRow))}
        entries = [e for e in query_audit(session, limit=None) if e.action in ("push.create", "push.update")]
        payloads = {(i.run_id, i.system, i.record_id): i.payload for i in push_items(session)}
        links = repo.load_states(session, "partner", "salesforce")
        per_record = {table: session.scalar(select(func.count()).select_from(table))
                      for table in (WriteLedgerRow, PushBatchRow, PushBatchRecordRow)}
        per_record[AuditLogRow] = session.scalar(select(func.count()).select_from(AuditLogRow).where(
            AuditLogRow.action.startswith("push.")))

    # one batch row per written batch, one index row per record, no ledger or audit row per record
    assert per_record[AuditLogRow] == per_record[WriteLedgerRow] == 0
    assert per_record[PushBatchRecordRow] == len(entries) == len(payloads)
    assert 0 < per_record[PushBatchRow] < len(entries)
    assert all(e.id is None and e.batch_id for e in entries)

    # sync_state: "prm" only where it differs from "remote"
    mixed = states.pop(("partner", "ptn_mixed"))
    assert mixed["remote"]["domain"] == "mixed.example" and mixed["prm"]["domain"] == "Mixed.Example"
    assert states and all(set(snapshot) == {"remote"} for snapshot in states.values())
    with store.session(readonly=True) as session:
        for (entity, record_id), snapshot in list(states.items())[:20]:
            row = get_state(session, entity, record_id, "salesforce")
            assert row is not None
            old = row.model_copy(update={"snapshot": {"remote": snapshot["remote"], "prm": snapshot["remote"]}})
            assert repo._to_link(old) == repo._to_link(row)
    assert links["ptn_mixed"].prm_values["domain"] == "Mixed.Example"

    # audit: creates have no null before-values; every field sent names what the remote got, from the payload
    creates = [e for e in entries if e.action == "push.create"]
    assert creates and all(None not in (e.fields_before or {}).values() for e in creates)
    for entry in entries:
        payload = payloads[(entry.run_id, entry.system, entry.record_id)]
        assert entry.provenance
        for remote_field, info in entry.provenance.items():
            # a reference sent by another key (Salesforce ``__r``) names no value, as before
            assert info.get("remote_value", "absent") == payload.get(remote_field, "absent")
            assert info["prm_field"] in (entry.fields_after or {})
        # and ``prm-sync audit`` tells the same story as from the entry in the old format
        old = _as_old_format(entry, payload)
        assert [line.model_dump() for line in field_lines(entry)] == [line.model_dump() for line in field_lines(old)]
    mixed_create = next(e for e in creates if e.record_id == "ptn_mixed")
    assert mixed_create.provenance is not None
    assert mixed_create.provenance["Domain__c"]["remote_value"] == "mixed.example"
    assert mixed_create.provenance["Name"]["remote_value"] == "Mixed Case Ltd"

    with store.session(readonly=True) as session:
        shown = [line.text for line in provenance(session, "ptn_mixed")]
    assert any(text.startswith("Salesforce Account.Domain__c was set to mixed.example by run") for text in shown)
    assert any(text.startswith("Salesforce Account.Name was set to Mixed Case Ltd by run") for text in shown)
