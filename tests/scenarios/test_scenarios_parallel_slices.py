"""Salesforce and HubSpot synced at the same time, by two processes, on one PostgreSQL store.

What a Dagster deployment with the multiprocess executor does: the
Salesforce slices and the HubSpot slices run side by side. The story: a PRM
user adds partners; two `prm-sync sync` processes (one per CRM) push them
at once; then a rep edits a partner's phone in Salesforce while marketing
edits its city in HubSpot, and the two processes pull at once again.
Nothing may be refused, lost, written twice or overwritten: each CRM holds
every partner once, the store knows both remote ids of every partner (the
two pushes add them to the same rows), and both edits survive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.database import PostgresServer

from connectors.sandbox.http import FaultConfig
from prm_sync.model import Partner
from prm_sync.store import runs
from prm_sync.store.db import ENV_DATABASE_URL, Store, make_engine
from prm_sync.store.migrate import upgrade

PRM_SYNC = Path(sys.executable).parent / "prm-sync"
PARTNERS = 30


@pytest.fixture
def pg_store(postgres_server: PostgresServer) -> Iterator[Store]:
    """A migrated PostgreSQL store in a database of its own (other tests share the server)."""
    url = postgres_server.create_database("prm_sync_parallel")
    upgrade(url)
    store = Store(make_engine(url))
    yield store
    store.close()
    postgres_server.drop_database(url)


def sync_both_at_once(world, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    """``prm-sync sync --system salesforce`` and ``--system hubspot``, started together as two processes."""
    config = world.env.work_dir / "prm_sync.yaml"
    world.env.write_config(config)
    env = {**os.environ, ENV_DATABASE_URL: world.env.runtime.store.engine.url.render_as_string(hide_password=False)}
    procs = [
        subprocess.Popen([str(PRM_SYNC), "--config", str(config), "sync", "--system", system, "--json"],
                         env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for system in ("salesforce", "hubspot")
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def assert_overlapped(world, first_ids: set[str]) -> None:
    """The two runs were in progress at the same moment (neither waited for the other's lock)."""
    with world.env.runtime.store.session(readonly=True) as session:
        mine = [r for r in runs.list_runs(session, limit=50) if r.id not in first_ids][:2]
    assert len(mine) == 2 and all(r.status == "succeeded" for r in mine), mine
    a, b = mine
    assert a.started_at < b.finished_at and b.started_at < a.finished_at, f"the runs did not overlap: {mine}"


def test_salesforce_and_hubspot_sync_at_once_lose_nothing_and_write_nothing_twice(
    make_world, pg_store: Store, tmp_path: Path
) -> None:
    world = make_world(systems=("salesforce", "hubspot"), store=pg_store)
    partners = [
        Partner(id=f"ptn_par{i:03d}", name=f"Parallel Partner {i}", tier="registered", status="active",
                partner_type="reseller", domain=f"parallel{i}.example", country="DE")
        for i in range(PARTNERS)
    ]
    world.prm.save(*partners)
    for app in world.env.apps.values():  # a real API's round trip: long enough runs to be sure they overlap
        app.faults = FaultConfig(latency_ms=40)

    pushed = sync_both_at_once(world, tmp_path)
    assert [p.returncode for p in pushed] == [0, 0], [p.stderr for p in pushed]
    assert_overlapped(world, set())

    sf = {r["PRM_Id__c"]: r for r in world.salesforce_records("SELECT Id, PRM_Id__c, Name FROM Account")}
    hs_rows = world.hubspot.crm.companies.get_all(properties=["prm_id", "name"])
    hs_ids = [r.properties["prm_id"] for r in hs_rows if r.properties.get("prm_id")]
    assert sorted(sf) == sorted(hs_ids) == sorted(p.id for p in partners)  # each partner once in each CRM
    hs = {r.properties["prm_id"]: r for r in hs_rows if r.properties.get("prm_id")}
    for partner in world.prm.all("partner"):
        # both pushes added their id to the same rows at the same time: neither id was lost
        assert partner.external_ids == {"salesforce": sf[partner.id]["Id"], "hubspot": hs[partner.id].id}, partner

    # a rep edits the phone in Salesforce while marketing edits the city in HubSpot, same partner
    target = partners[0]
    world.salesforce.Account.update(sf[target.id]["Id"], {"Phone": "+49 30 1234567"})
    from hubspot.crm.companies import SimplePublicObjectInput

    world.hubspot.crm.companies.basic_api.update(hs[target.id].id, SimplePublicObjectInput(properties={"city": "Leipzig"}))
    with pg_store.session(readonly=True) as session:
        before = {r.id for r in runs.list_runs(session, limit=50)}

    pulled = sync_both_at_once(world, tmp_path)
    assert [p.returncode for p in pulled] == [0, 0], [p.stderr for p in pulled]
    assert_overlapped(world, before)
    stored = world.prm.get("partner", target.id)
    assert (stored.phone, stored.city) == ("+49 30 1234567", "Leipzig")  # neither pull overwrote the other's

    for app in world.env.apps.values():
        app.faults = FaultConfig()
    world.sync()  # each edit now reaches the other CRM
    assert world.salesforce_by_prm_id("Account", target.id, "BillingCity")["BillingCity"] == "Leipzig"
    assert world.hubspot_by_prm_id("companies", target.id, ["phone"])["phone"] == "+49 30 1234567"
    assert len(world.prm.all("partner")) == PARTNERS
    world.assert_settled()
