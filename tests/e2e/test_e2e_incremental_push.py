"""An incremental push visits the records that changed, not the whole entity.

Each link remembers the record version it agreed on and the mapping it was
agreed under; the push plans only records saved since, never linked, or
linked under another mapping, and ``--full`` visits everything. These tests
read the planner's ``considered`` count (what it looked at) and check the
CRMs for what actually arrived.
"""

from __future__ import annotations

from typing import Any

from prm_sync.model import new_id
from prm_sync.store import records
from prm_sync.sync.context import RunContext
from prm_sync.sync.push import PushPlan, plan_push
from prm_sync.sync.slice import Slice

BOTH = ("salesforce", "hubspot")


def plans(env: Any, entity: str, *, full: bool = False) -> dict[str, PushPlan]:
    """System -> the plan of the next push of ``entity`` (a dry run: nothing is written)."""
    runtime = env.runtime
    ctx = RunContext(store=runtime.store, config=runtime.config, mappings=runtime.mappings, connectors={},
                     run_id=new_id("run"), dry_run=True, full=full)
    out: dict[str, PushPlan] = {}
    try:
        with ctx.transaction() as session:
            for system in BOTH:
                mapping = runtime.mappings.for_entity(system, entity)
                assert mapping is not None
                out[system] = plan_push(ctx, session, Slice.of(mapping))
    finally:
        ctx.close()
    return out


def considered(env: Any, entity: str, *, full: bool = False) -> dict[str, int]:
    """System -> how many records the next push of ``entity`` would look at."""
    return {system: plan.considered for system, plan in plans(env, entity, full=full).items()}


def test_after_a_sync_only_edited_records_are_planned(make_sync_env) -> None:
    env = make_sync_env(systems=BOTH)
    env.run()
    env.run()  # reads back the first run's writes: every link now agrees with its record's version
    partners = len(env.data.partners)
    assert considered(env, "partner") == {"salesforce": 0, "hubspot": 0}
    assert considered(env, "partner", full=True) == {"salesforce": partners, "hubspot": partners}

    # an edit that forgets to touch updated_at is still seen: the store counts versions
    with env.runtime.store.session() as session:
        partner = records.list_records(session, "partner")[0]
        records.save_record(session, partner.model_copy(update={"phone": "+44 20 7946 0999"}))
    planned = plans(env, "partner")
    for plan in planned.values():
        assert plan.considered == 1
        # the records it did not visit still count as unchanged, as a full scan would report them
        assert plan.counts() == {"create": 0, "update": 1, "unchanged": partners - 1, "skipped": 0, "invalid": 0}

    report = env.run()

    assert report.slice("salesforce", "partner").updated == 1
    assert report.slice("hubspot", "partner").updated == 1
    account = env.apps["salesforce"].get_record("Account", partner.external_ids["salesforce"])
    assert account["Phone"] == "+44 20 7946 0999"
    assert considered(env, "partner") == {"salesforce": 0, "hubspot": 0}


def test_a_save_without_changes_and_an_unchanged_visit_leave_nothing_to_plan(make_sync_env) -> None:
    env = make_sync_env(systems=BOTH)
    env.run()
    env.run()
    with env.runtime.store.session() as session:
        for partner in records.list_records(session, "partner"):
            records.save_record(session, partner)  # the same values: no new version
    assert considered(env, "partner") == {"salesforce": 0, "hubspot": 0}


def test_a_mapping_change_rechecks_that_mapping_s_links_once(make_sync_env) -> None:
    env = make_sync_env(systems=BOTH)
    env.run()
    env.run()
    mappings = env.copy_mappings()
    path = mappings / "salesforce.yaml"
    line = "{prm: name, remote: Name, transform: trim, required: true}"
    assert line in path.read_text()
    path.write_text(path.read_text().replace(line, line[:-1] + ", rule: prefer_remote}", 1))
    env.reload_mappings(mappings)
    partners = len(env.data.partners)

    assert considered(env, "partner") == {"salesforce": partners, "hubspot": 0}
    report = env.run()
    assert report.totals()["updated"] == 0  # checked, found in agreement, nothing written
    assert considered(env, "partner") == {"salesforce": 0, "hubspot": 0}
