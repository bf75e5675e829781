"""The conflict check's account index across syncs: built once, then caught up with what people change.

Customers live in Salesforce (accounts that are not partners); partners
register deals in the PRM. A rep renames a customer, adds one, deletes one
and merges two duplicates through Salesforce's own APIs; an admin merges two
duplicate partner accounts. The next registrations are checked against what
the CRM holds now, and the stored index after those syncs is exactly what a
rebuild from scratch would make. Rebuilds and profiles are counted, not timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sandbox_fixtures.salesforce_soap import soap_merge
from sqlalchemy import select

from prm_sync.model import DealRegistration, Partner
from prm_sync.rules import account_index
from prm_sync.rules.account_index import RefreshStats
from prm_sync.store import Store
from prm_sync.store import conflict_index as index_store
from prm_sync.store.conflicts import latest_conflict_check

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CUSTOMER = {"Type": "Customer", "BillingCountry": "US"}


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RefreshStats]]:
    """Every catch-up of the stored index a run makes, with what it read and profiled."""
    seen: list[RefreshStats] = []
    real = account_index.refresh_index

    def counting(*args: Any, **kwargs: Any) -> RefreshStats:
        stats = real(*args, **kwargs)
        seen.append(stats)
        return stats

    monkeypatch.setattr(account_index, "refresh_index", counting)
    yield seen


def _index(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The stored index as data: (kind, record id) -> (profile, status, partner, blocking keys)."""
    with store.session(readonly=True) as session:
        keys: dict[int, set[int]] = {}
        for key_hash, entry_id in session.execute(select(index_store.KEY.c.key_hash, index_store.KEY.c.entry_id)):
            keys.setdefault(entry_id, set()).add(key_hash)
        rows = session.execute(select(index_store.ENTRY)).all()
    return {(r.kind, r.record_id): (r.profile, r.status, r.partner_id, r.label, frozenset(keys.get(r.id, ())))
            for r in rows}


def _rebuilt(store: Store, rules: Any) -> dict[tuple[str, str], tuple[Any, ...]]:
    with store.session() as session:
        index_store.set_meta(session, "fingerprint", "stale")  # as after an upgrade that changes the format
        assert account_index.refresh_index(session, rules).rebuilt
    return _index(store)


def _decision(world: Any, reg_id: str) -> tuple[str, list[str]]:
    with world.env.runtime.store.session(readonly=True) as session:
        check = latest_conflict_check(session, reg_id)
    assert check is not None, f"{reg_id} was not checked"
    return str(check.decision), [m["record_id"] for m in check.matches]


def _sync(world: Any, at: datetime) -> Any:
    world.clock.set(at)
    return world.sync()


def test_the_index_is_built_once_and_follows_renames_deletes_and_merges(make_world: Any, store: Store,
                                                                        refreshes: list[RefreshStats]) -> None:
    world = make_world(systems=("salesforce",), store=store)
    sf = world.salesforce
    contoso = sf.Account.create({**CUSTOMER, "Name": "Contoso Pharma", "BillingCity": "Boston", "Phone": "617-555-0101",
                                 "BillingStreet": "71 Newbury St."})["id"]
    northwind = sf.Account.create({**CUSTOMER, "Name": "Northwind Traders", "BillingCity": "Seattle",
                                   "Phone": "206-555-0142", "BillingStreet": "1400 Fifth Ave."})["id"]
    northwind_dupe = sf.Account.create({**CUSTOMER, "Name": "Northwind Traders", "BillingCity": "Seattle"})["id"]
    wingtip = sf.Account.create({**CUSTOMER, "Name": "Wingtip Aerospace", "BillingCity": "Denver",
                                 "Phone": "303-555-0177"})["id"]
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators", domain="alpha.example"),
                   Partner(id="ptn_alpha_dupe", name="Alpha Integrators", domain="alpha.example"),
                   Partner(id="ptn_beta", name="Beta Solutions", domain="beta.example"),
                   DealRegistration(id="reg_fabrikam", partner_id="ptn_alpha_dupe", customer_name="Fabrikam Foods",
                                    customer_city="Portland", customer_country="US", submitted_at=T0))
    first = _sync(world, T0)
    assert first.rule_decisions.get("clear") == 1
    assert [(s.rebuilt, s.profiled) for s in refreshes] == [(True, 5)]  # four customers and a registration
    customer_of = {sf_id: world.prm.find("end_customer", "salesforce", sf_id).id
                   for sf_id in (contoso, northwind, northwind_dupe, wingtip)}

    # a quiet run with nothing to check does not touch the index
    _sync(world, T0 + timedelta(minutes=5))
    assert len(refreshes) == 1

    # what people change in Salesforce
    sf.Account.update(contoso, {"Name": "Contoso Biotech"})  # a rename
    sf.Account.delete(wingtip)  # a customer deleted
    tailspin = sf.Account.create({**CUSTOMER, "Name": "Tailspin Toys", "BillingCity": "Austin"})["id"]  # a new one
    assert soap_merge(sf, "Account", northwind, [northwind_dupe]).success  # duplicates merged
    alpha = world.salesforce_by_prm_id("Account", "ptn_alpha", "Id")["Id"]
    alpha_dupe = world.salesforce_by_prm_id("Account", "ptn_alpha_dupe", "Id")["Id"]
    assert soap_merge(sf, "Account", alpha, [alpha_dupe]).success  # duplicate partners merged
    # and the registrations partners file meanwhile
    world.prm.save(
        DealRegistration(id="reg_contoso", partner_id="ptn_beta", customer_name="Contoso Biotech Inc",
                         customer_city="Boston", customer_country="US", submitted_at=T0 + timedelta(hours=1)),
        DealRegistration(id="reg_northwind", partner_id="ptn_beta", customer_name="Northwind Traders",
                         customer_city="Seattle", customer_phone="(206) 555-0142", customer_country="US",
                         submitted_at=T0 + timedelta(hours=1)),
        DealRegistration(id="reg_wingtip", partner_id="ptn_beta", customer_name="Wingtip Aerospace",
                         customer_city="Denver", customer_phone="303-555-0177", customer_country="US",
                         submitted_at=T0 + timedelta(hours=1)),
        DealRegistration(id="reg_tailspin", partner_id="ptn_beta", customer_name="Tailspin Toys",
                         customer_city="Austin", customer_country="US", submitted_at=T0 + timedelta(hours=1)),
        DealRegistration(id="reg_fabrikam_again", partner_id="ptn_alpha", customer_name="Fabrikam Foods",
                         customer_city="Portland", customer_country="US", submitted_at=T0 + timedelta(hours=1)),
    )
    second = _sync(world, T0 + timedelta(hours=2))

    assert [p.id for p in world.prm.all("partner") if p.id.startswith("ptn_alpha")] == ["ptn_alpha"]
    survivor = customer_of[northwind]
    assert world.prm.get("end_customer", customer_of[northwind_dupe]) is None
    assert _decision(world, "reg_contoso") == ("conflict", [customer_of[contoso]])  # found by its new name
    assert _decision(world, "reg_northwind") == ("conflict", [survivor])  # the survivor only, never the merged-away
    assert _decision(world, "reg_wingtip")[0] == "clear"  # a deleted customer claims nothing
    assert _decision(world, "reg_tailspin") == ("conflict", [world.prm.find("end_customer", "salesforce", tailspin).id])
    # Alpha's own earlier registration (filed by the duplicate that became Alpha) is no channel conflict
    assert _decision(world, "reg_fabrikam_again")[0] == "clear"
    assert second.rule_decisions.get("conflict") == 3

    # caught up, not rebuilt: read and profiled again are the 5 new registrations, the one whose partner
    # was merged into Alpha, the renamed and the new customer; removed, the deleted and the merged-away one
    assert [(s.rebuilt, s.examined, s.profiled, s.removed) for s in refreshes[1:]] == [(False, 8, 8, 2)]
    rules = world.env.config.rules.conflict
    with store.session() as session:  # the decisions just saved are the next check's catch-up
        assert not account_index.refresh_index(session, rules).rebuilt
    assert _index(store) == _rebuilt(store, rules)
    world.assert_settled()
