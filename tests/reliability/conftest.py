"""The invariants every reliability test ends on, as one fixture.

After a failure and a clean re-run the world must have converged: no
record written twice (counted in the CRMs by our external id), nothing the
PRM owns missing from a CRM unless it sits in ``failed_record`` with a
reason, no change lost, and a further run that writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from prm_sync.store import failures, records

# PRM-owned entities and where each lives in a CRM: (system, remote object, external id field)
OWNED = {
    "partner": [("salesforce", "Account", "PRM_Id__c"), ("hubspot", "companies", "prm_id")],
    "partner_contact": [("salesforce", "Contact", "PRM_Id__c"), ("hubspot", "contacts", "prm_id")],
    "deal_registration": [("salesforce", "Deal_Registration__c", "PRM_Id__c"), ("hubspot", "p_deal_registrations", "prm_id")],
}


def remote_rows(env: Any, system: str, remote_object: str) -> list[dict[str, Any]]:
    app = env.apps[system]
    return app.all_records(remote_object)


def check_converged(env: Any) -> dict[str, int]:
    """Assert the invariants; returns the number of records checked per entity."""
    with env.runtime.store.session(readonly=True) as session:
        open_failures = failures.list_failures(session)
        owned = {entity: records.list_records(session, entity) for entity in OWNED}
    failed_keys = {(f.system, f.record_key) for f in open_failures}
    assert all(f.error_message and f.error_code for f in open_failures), "a failure without a reason"
    checked: dict[str, int] = {}
    for entity, places in OWNED.items():
        for system, remote_object, key in places:
            if system not in env.apps:
                continue
            counts = Counter(str(r[key]) for r in remote_rows(env, system, remote_object) if r.get(key))
            duplicates = {k: n for k, n in counts.items() if n > 1}
            assert not duplicates, f"{system} {remote_object} written twice: {duplicates}"
            for record in owned[entity]:
                assert counts.get(record.id) == 1 or (system, record.id) in failed_keys, (
                    f"{entity} {record.id} is neither in {system} nor in failed_record"
                )
        checked[entity] = len(owned[entity])
    return checked


@pytest.fixture
def converged() -> Callable[[Any], dict[str, int]]:
    """``converged(env)``: assert no duplicates, no loss, every record synced or failed with a reason."""
    return check_converged
