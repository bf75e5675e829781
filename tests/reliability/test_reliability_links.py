"""HubSpot associations are never lost: refused, failed or cut off by a crash, they are sent again.

A registration is written first and linked to its partner and customer
companies after its batch commits. Until the links are confirmed its link
state stays pending (``LINKS_PENDING``), so each way of losing them ends
with the record written again, and linked, by the next run or a replay;
a refused link sits in the failed-records store with its reason meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.crash import Crash

from connectors.base import WriteResult
from prm_sync.errors import TransientError
from prm_sync.replay import ReplaySelection, replay_failures
from prm_sync.store import failures, pending_links, state
from prm_sync.sync.linkstate import LINKS_PENDING

HUBSPOT = ("hubspot",)


def _partner_links(env: Any) -> dict[str, bool]:
    """PRM registration id -> whether its HubSpot record is linked to its partner's company."""
    hs = env.apps["hubspot"]
    out: dict[str, bool] = {}
    for reg in env.data.registrations:
        row = hs.find_record("p_deal_registrations", "prm_id", reg["id"])
        partner = hs.find_record("companies", "prm_id", reg["partner_id"])
        if row is None or partner is None:
            continue
        out[reg["id"]] = partner["hs_object_id"] in hs.associations("p_deal_registrations", row["hs_object_id"], "companies")
    return out


def _open_link_failures(env: Any) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return [f for f in failures.list_failures(session) if f.operation == "associate" and f.status == "open"]


def _refuse_links(env: Any, *, calls: int, whole_call: bool = False) -> dict[str, int]:
    """The next ``calls`` association calls fail: every link refused, or the whole call erroring."""
    connector = env.runtime.connectors(list(HUBSPOT))["hubspot"]
    real = connector.associate
    seen = {"calls": 0, "links": 0}

    def associate(links: list[Any]) -> list[WriteResult]:
        seen["calls"] += 1
        if seen["calls"] > calls:
            return real(links)
        seen["links"] += len(links)
        if whole_call:
            from prm_sync.errors import RemoteErrorInfo

            raise TransientError(RemoteErrorInfo("hubspot", 503, "SERVICE_UNAVAILABLE", "associate: still down after retries"))
        return [WriteResult(key=f"{a.from_id}->{a.to_id}", ok=False, error_code="VALIDATION_ERROR",
                            error_message="association refused") for a in links]

    connector.associate = associate  # the instance the engine uses for every run of this env
    return seen


def test_refused_links_are_parked_and_sent_again(make_sync_env, converged) -> None:
    env = make_sync_env(systems=HUBSPOT)
    seen = _refuse_links(env, calls=1_000)

    first = env.run()

    assert first.status == "succeeded_with_failures", first.error  # written, but their links were refused
    assert seen["links"] > 0
    parked = _open_link_failures(env)
    regs = {r["id"] for r in env.data.registrations}
    assert {f.record_key for f in parked if f.entity == "deal_registration"} == regs
    assert all(f.error_code == "VALIDATION_ERROR" and f.payload["links"] for f in parked)
    assert not any(_partner_links(env).values())

    seen["calls"] = 10**6  # the cause is fixed
    second = env.run()

    assert second.status == "succeeded", second.error
    assert second.slice("hubspot", "deal_registration").updated == len(regs)  # written again, to be linked again
    assert all(_partner_links(env).values()) and len(_partner_links(env)) == len(regs)
    assert _open_link_failures(env) == []
    converged(env)
    third = env.run()
    assert third.totals()["created"] + third.totals()["updated"] == 0


def test_a_failed_association_call_ends_the_run_and_loses_no_link(make_sync_env, converged) -> None:
    env = make_sync_env(systems=HUBSPOT)
    _refuse_links(env, calls=1, whole_call=True)

    first = env.run()

    assert first.status == "partial"  # the CRM stopped answering: the slice stops, the run checkpoints
    assert any(s.stopped_reason and "associate" in s.stopped_reason for s in first.slices)
    assert _open_link_failures(env), "the links of the failed call are in the failed-records store"
    rerun = env.run()

    assert rerun.status == "succeeded", rerun.error
    assert all(_partner_links(env).values()) and len(_partner_links(env)) == len(env.data.registrations)
    assert _open_link_failures(env) == []
    converged(env)


def test_a_crash_between_commit_and_links_is_linked_by_the_next_run(make_sync_env, converged) -> None:
    env = make_sync_env(systems=HUBSPOT)
    hs = env.apps["hubspot"]

    def hook(checkpoint: str) -> None:
        # the registrations' batch is committed and its links not yet sent
        if checkpoint == "push.after_commit" and hs.all_records("p_deal_registrations"):
            raise Crash(checkpoint)

    with pytest.raises(Crash):
        env.run(crash_hook=hook)
    assert _partner_links(env) and not any(_partner_links(env).values())
    with env.runtime.store.session(readonly=True) as session:
        journal = pending_links.left_over(session, "deal_registration", "hubspot")
    assert journal, "the committed batch's links are journaled as in flight"

    preview = env.run(dry_run=True)  # a preview shows the re-link writes and changes nothing
    assert preview.slice("hubspot", "deal_registration").updated == sum(len(ids) for ids in journal.values())
    with env.runtime.store.session(readonly=True) as session:
        assert pending_links.left_over(session, "deal_registration", "hubspot") == journal

    rerun = env.run()

    assert rerun.status == "succeeded", rerun.error
    assert all(_partner_links(env).values()) and len(_partner_links(env)) == len(env.data.registrations)
    with env.runtime.store.session(readonly=True) as session:
        assert pending_links.left_over(session, "deal_registration", "hubspot") == {}
        pending = [s for s in state.all_states(session, "deal_registration", "hubspot").values()
                   if (s.push_fingerprint or "").startswith(LINKS_PENDING)]
    assert pending == []
    converged(env)
    assert env.run().totals()["updated"] == 0


def test_a_refused_link_keeps_its_record_pending_until_it_goes_through(make_sync_env) -> None:
    env = make_sync_env(systems=HUBSPOT)
    seen = _refuse_links(env, calls=1_000)
    env.run()
    with env.runtime.store.session(readonly=True) as session:
        pending = {s.record_id for s in state.all_states(session, "deal_registration", "hubspot").values()
                   if (s.push_fingerprint or "").startswith(LINKS_PENDING)}
        assert pending_links.left_over(session, "deal_registration", "hubspot") == {}  # settled, not in flight
    assert pending == {r["id"] for r in env.data.registrations}
    seen["calls"] = 10**6
    env.run()
    with env.runtime.store.session(readonly=True) as session:
        assert not any((s.push_fingerprint or "").startswith(LINKS_PENDING)
                       for s in state.all_states(session, "deal_registration", "hubspot").values())


def test_a_replay_links_a_refused_registration(make_sync_env) -> None:
    env = make_sync_env(systems=HUBSPOT)
    seen = _refuse_links(env, calls=1_000)
    env.run()
    parked = [f for f in _open_link_failures(env) if f.entity == "deal_registration"]
    assert parked

    seen["calls"] = 10**6  # the cause is fixed
    report = replay_failures(env.runtime, ReplaySelection(ids=[parked[0].id]), actor="test")

    (item,) = report.items
    assert (item.outcome, item.operation) == ("synced", "associate"), item
    assert _partner_links(env)[parked[0].record_key]
    assert parked[0].id not in {f.id for f in _open_link_failures(env)}


def test_a_remote_edit_pulled_meanwhile_does_not_clear_the_links_owed(make_sync_env) -> None:
    env = make_sync_env(systems=HUBSPOT)
    seen = _refuse_links(env, calls=1_000)
    env.run()
    hs = env.apps["hubspot"]
    reg = env.data.registrations[0]
    row = hs.find_record("p_deal_registrations", "prm_id", reg["id"])
    hs.update_record("p_deal_registrations", row["hs_object_id"], {"customer_name": "Edited In HubSpot Ltd"})

    seen["calls"] = 10**6  # the cause is fixed
    env.run()  # pulls the edit (a new agreement for that record), then pushes

    assert _partner_links(env)[reg["id"]]
    assert all(_partner_links(env).values())
    assert _open_link_failures(env) == []


def test_a_registration_written_before_its_partner_is_linked_once_the_partner_exists(make_sync_env) -> None:
    from connectors.sandbox.http import FaultConfig

    env = make_sync_env(systems=HUBSPOT)
    hs = env.apps["hubspot"]
    partner = env.data.partners[0]
    own = [r["id"] for r in env.data.registrations if r["partner_id"] == partner["id"]]
    assert own
    hs.faults = FaultConfig(invalid_values={"name": [partner["name"]]})  # HubSpot refuses this company

    env.run()

    assert hs.find_record("companies", "prm_id", partner["id"]) is None
    assert all(hs.find_record("p_deal_registrations", "prm_id", rid) for rid in own)  # written, link owed
    hs.faults = FaultConfig()
    env.run()  # the partner's company exists now: its registrations are written again and linked

    assert all(_partner_links(env)[rid] for rid in own)
    assert env.run().totals()["updated"] == 0


def test_links_are_journaled_parked_and_sent_again_on_either_backend(sync_env_any_db) -> None:
    """The journal (RETURNING ids, JSON id lists) and the pending marks on SQLite and PostgreSQL."""
    env = sync_env_any_db
    seen = _refuse_links(env, calls=1_000)

    def hook(checkpoint: str) -> None:
        if checkpoint == "push.after_commit" and env.apps["hubspot"].all_records("p_deal_registrations"):
            raise Crash(checkpoint)

    with pytest.raises(Crash):
        env.run(crash_hook=hook)  # a batch committed, its links journaled and never sent
    with env.runtime.store.session(readonly=True) as session:
        assert pending_links.left_over(session, "deal_registration", "hubspot")
    env.run()  # the journal becomes pending marks; the links are sent again and refused
    assert {f.record_key for f in _open_link_failures(env) if f.entity == "deal_registration"} == {
        r["id"] for r in env.data.registrations
    }

    seen["calls"] = 10**6  # the cause is fixed
    env.run()

    assert all(_partner_links(env).values()) and len(_partner_links(env)) == len(env.data.registrations)
    assert _open_link_failures(env) == []
    with env.runtime.store.session(readonly=True) as session:
        assert pending_links.left_over(session, "deal_registration", "hubspot") == {}


def test_a_refused_removal_of_an_old_link_is_parked_and_tried_again(make_sync_env) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from prm_sync.model import DealRegistration, Partner
    from prm_sync.store import records

    env = make_sync_env(systems=HUBSPOT, seed_data=False)
    hs = env.apps["hubspot"]
    with env.runtime.store.session() as session:
        records.save_records(session, [
            Partner(id="ptn_old", name="Old Partners"), Partner(id="ptn_new", name="New Partners"),
            DealRegistration(id="reg_moved", partner_id="ptn_old", customer_name="Globex", product_lines=["platform"],
                             amount=Decimal("10"), submitted_at=datetime.now(UTC)),
        ])
    env.run()
    reg = hs.find_record("p_deal_registrations", "prm_id", "reg_moved")["hs_object_id"]
    old, new = (hs.find_record("companies", "prm_id", p)["hs_object_id"] for p in ("ptn_old", "ptn_new"))
    connector = env.runtime.connectors(list(HUBSPOT))["hubspot"]
    real = connector.disassociate
    connector.disassociate = lambda links: [WriteResult(key=f"{a.from_id}->{a.to_id}", ok=False, error_code="LOCKED",
                                                        error_message="removal refused") for a in links]
    with env.runtime.store.session() as session:
        moved = records.get_record(session, "deal_registration", "reg_moved")
        records.save_records(session, [moved.model_copy(update={"partner_id": "ptn_new"})])

    env.run()

    assert sorted(hs.associations("p_deal_registrations", reg, "companies"), key=int) == sorted([old, new], key=int)
    (failure,) = _open_link_failures(env)
    assert failure.record_key == "reg_moved" and failure.payload["links"][0]["remove"] is True
    assert failure.payload["links"][0]["to_id"] == old
    with env.runtime.store.session(readonly=True) as session:
        assert state.get_state(session, "deal_registration", "reg_moved", "hubspot").push_fingerprint.startswith(LINKS_PENDING)

    connector.disassociate = real
    env.run()  # pending: written again, the removal goes through

    assert hs.associations("p_deal_registrations", reg, "companies") == [new]
    assert _open_link_failures(env) == []
    with env.runtime.store.session(readonly=True) as session:
        assert not state.get_state(session, "deal_registration", "reg_moved", "hubspot").push_fingerprint.startswith(LINKS_PENDING)
