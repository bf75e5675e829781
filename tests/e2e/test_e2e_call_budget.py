"""The API budget of a sync, counted by the sandboxes (issue 20): calls, not time.

A first sync of 450 partners and 1,050 registrations writes them with the
fewest calls their batches allow (Salesforce sObject Collections carry 200
records, HubSpot batch calls 100; association calls one per 100 links); the
sync after the one that reads back its own writes finds nothing to do and
makes one read per object and system. Both are what keeps a large sync at
the CRMs' rate limits instead of beyond them, so they are checked by count.

The overlap window is set to 0 here: with it, every run deliberately reads
the last ``overlap_seconds`` again (clock skew between the CRM's modstamps
and its search index), which right after a 1,500-record sync is all of them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prm_sync.config import AppConfig
from prm_sync.model import DealRegistration, Partner, new_id
from prm_sync.store import records

PARTNERS, REGISTRATIONS = 450, 1_050
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WRITE_ROUTES = {
    "salesforce": ("collections.", "upsert", "update", "create", "bulk.ingest"),
    "hubspot": ("objects.batch.", "objects.create", "objects.update", "associations.batch."),
}


def _world() -> list[Partner | DealRegistration]:
    partners = [Partner(id=new_id("ptn"), name=f"Budget Partner {i} Ltd", tier="gold", partner_type="reseller",
                        status="active", domain=f"budget{i}.example", country="US", created_at=NOW, updated_at=NOW)
                for i in range(PARTNERS)]
    registrations = [DealRegistration(
        id=new_id("reg"), partner_id=partners[j % PARTNERS].id, customer_name=f"Customer {j} Inc",
        customer_domain=f"customer{j}.example", amount=Decimal(10_000 + j), status="submitted",
        submitted_at=NOW - timedelta(days=3), created_at=NOW, updated_at=NOW,
    ) for j in range(REGISTRATIONS)]
    return [*partners, *registrations]


def _no_overlap(config: AppConfig) -> AppConfig:
    return config.model_copy(update={"sync": config.sync.model_copy(update={"overlap_seconds": 0})})


def _calls(env) -> dict[str, dict[str, int]]:
    out = {system: dict(app.calls) for system, app in env.apps.items()}
    for app in env.apps.values():
        with app.lock:
            app.calls.clear()
    return out


def _writes(routes: dict[str, int], system: str) -> dict[str, int]:
    return {route: n for route, n in routes.items() if route.startswith(WRITE_ROUTES[system])}


def test_a_full_sync_writes_at_the_batch_minimum_and_a_quiet_one_reads_once_per_object(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"), seed_data=False, config_update=_no_overlap)
    with env.runtime.store.session() as session:
        records.save_records(session, _world())
    entities = ["partner", "deal_registration"]
    _calls(env)

    first = env.run(entities=entities)

    assert first.status == "succeeded" and first.totals()["created"] == 2 * (PARTNERS + REGISTRATIONS)
    calls = _calls(env)
    salesforce, hubspot = _writes(calls["salesforce"], "salesforce"), _writes(calls["hubspot"], "hubspot")
    assert salesforce == {"collections.upsert": math.ceil(PARTNERS / 200) + math.ceil(REGISTRATIONS / 200)}
    assert hubspot == {"objects.batch.upsert": math.ceil(PARTNERS / 100) + math.ceil(REGISTRATIONS / 100),
                       "associations.batch.create": math.ceil(REGISTRATIONS / 100)}  # registration -> company

    env.run(entities=entities)  # reads back the first run's own writes: all found unchanged
    _calls(env)
    quiet = env.run(entities=entities)

    assert quiet.status == "succeeded"
    totals = quiet.totals()
    assert totals["created"] == totals["updated"] == totals["failed"] == 0
    calls = _calls(env)
    assert not _writes(calls["salesforce"], "salesforce") and not _writes(calls["hubspot"], "hubspot")
    # one read per object and system: an empty page each
    assert {(s.system, s.entity): s.api_calls for s in quiet.slices} == {
        (system, entity): 1 for system in ("salesforce", "hubspot") for entity in entities}
    assert sum(sum(routes.values()) for routes in calls.values()) == 4
