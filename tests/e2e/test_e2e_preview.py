"""A dry run previews what the channel rules would do, and writes nothing anywhere, on SQLite and PostgreSQL.

After a first sync, RevOps lower the silver bar (no certified people
needed) and a rep moves a partner to another territory in Salesforce. The
dry run shows the rule's decision (registered -> silver, with its reason),
the territory coming in from Salesforce and the pushes both cause, field by
field; the
store (every table, cursors included) and both CRMs are exactly as before.
The real run then makes the same change, read back from the CRMs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from prm_sync.config.settings import TierRequirement
from prm_sync.store.orm import Base

CRM_OBJECTS = {"salesforce": ("Account", "Contact", "Deal_Registration__c", "Opportunity"),
               "hubspot": ("companies", "contacts", "deals", "p_deal_registrations")}


def _store_dump(env) -> dict[str, list[Any]]:
    """Every row of every table, in key order: equal dumps mean nothing was written (cursors, runs, audit included)."""
    dump: dict[str, list[Any]] = {}
    with env.runtime.store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            dump[table.name] = [tuple(str(v) for v in row) for row in rows]
    return dump


def _crm_dump(env) -> dict[str, list[dict[str, Any]]]:
    return {f"{system}.{name}": sorted(env.apps[system].all_records(name), key=lambda r: str(sorted(r.items())))
            for system, names in CRM_OBJECTS.items() for name in names}


def _account(sf: Any, prm_id: str, fields: str) -> dict[str, Any]:
    """The partner's account, through simple-salesforce."""
    [account] = sf.query_all(f"SELECT {fields} FROM Account WHERE PRM_Id__c = '{prm_id}'")["records"]
    return account


def test_dry_run_previews_a_tier_promotion_and_writes_nothing(sync_env_any_db, monkeypatch: pytest.MonkeyPatch) -> None:
    env = sync_env_any_db
    assert env.run().status in ("succeeded", "succeeded_with_failures")
    tiers = env.runtime.config.rules.tiers
    lowered = tiers.model_copy(update={"requirements": {**tiers.requirements,
                                                         "silver": TierRequirement(certified_people=0)}})
    env.runtime.config = env.runtime.config.model_copy(update={"rules": env.runtime.config.rules.model_copy(
        update={"tiers": lowered})})
    # and a rep moves a partner to another territory in Salesforce: a change coming in, then going on to HubSpot
    moved_id = env.data.partners[-1]["id"]
    sf, hs = env.salesforce(), env.hubspot()
    account = _account(sf, moved_id, "Id, Territory__c")
    old_territory = account["Territory__c"]
    sf.Account.update(account["Id"], {"Territory__c": "EMEA-North"})
    store_before, crm_before = _store_dump(env), _crm_dump(env)
    calls_before = {s: env.apps[s].total_calls() for s in CRM_OBJECTS}

    preview = env.run(dry_run=True)

    assert _store_dump(env) == store_before  # not a row: no record, link, cursor, run, audit or failure
    assert _crm_dump(env) == crm_before
    decisions = [c for c in preview.preview.changes if c.direction == "rule" and c.action == "partner.tier"]
    promoted = {c.record_id: c for c in decisions if any(f.field == "tier" for f in c.changes)}
    assert promoted, [(c.action, c.changes) for c in preview.preview.changes if c.direction == "rule"]
    partner_id, decision = next(iter(promoted.items()))
    tier = next(f for f in decision.changes if f.field == "tier")
    assert (tier.before, tier.after, decision.rule) == ("registered", "silver", "tiers.eligibility")
    assert decision.reason
    pushed = {(c.system, c.record_id): c for c in preview.preview.changes if c.direction == "push"}
    for system in CRM_OBJECTS:
        change = pushed[(system, partner_id)]
        assert change.action == "update"
        assert {(f.field, f.before, f.after) for f in change.changes} >= {("tier", "registered", "silver")}
    assert preview.rule_decisions["tier_changes"] == len(promoted)
    # the other direction: the territory pulled from Salesforce, field by field, and the push it causes in HubSpot
    pulled = next(c for c in preview.preview.changes if c.direction == "pull" and c.record_id == moved_id)
    assert (pulled.system, pulled.entity, pulled.action) == ("salesforce", "partner", "update")
    assert [(f.field, f.before, f.after) for f in pulled.changes if f.field == "territory"] == [
        ("territory", old_territory, "EMEA-North")]
    assert ("territory", old_territory, "EMEA-North") in {
        (f.field, f.before, f.after) for f in pushed[("hubspot", moved_id)].changes}
    assert ("salesforce", moved_id) not in pushed or not any(
        f.field == "territory" for f in pushed[("salesforce", moved_id)].changes)  # not echoed back to where it came from
    # the dry run read the CRMs (both directions) and wrote nothing to them
    assert all(env.apps[s].total_calls() > calls_before[s] for s in CRM_OBJECTS)

    # the same through the CLI (pointed at this store): the changes printed, and still nothing written
    monkeypatch.setenv("PRM_SYNC_DATABASE_URL", env.runtime.store.engine.url.render_as_string(hide_password=False))
    shown = env.cli("sync", "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert f"rule partner {partner_id}: partner.tier [tiers.eligibility]" in shown.stdout
    assert f"push salesforce/partner {partner_id}" in shown.stdout and "tier: 'registered' -> 'silver'" in shown.stdout
    assert f"pull salesforce/partner {moved_id}" in shown.stdout and f"territory: {old_territory!r} -> 'EMEA-North'" in (
        shown.stdout)
    planned = env.cli("mappings", "plan", "--json", "--record", partner_id)
    assert {(c["direction"], c.get("system")) for c in planned.json()["changes"]} >= {
        ("rule", None), ("push", "salesforce"), ("push", "hubspot")}
    assert _store_dump(env) == store_before and _crm_dump(env) == crm_before

    real = env.run()
    assert real.rule_decisions["tier_changes"] == len(promoted)
    account = _account(sf, partner_id, "Partner_Tier__c")
    company = hs.crm.companies.basic_api.get_by_id(partner_id, id_property="prm_id", properties=["partner_tier"])
    assert (account["Partner_Tier__c"], company.properties["partner_tier"]) == ("Silver", "silver")
    moved = hs.crm.companies.basic_api.get_by_id(moved_id, id_property="prm_id", properties=["territory"])
    assert moved.properties["territory"] == "EMEA-North"
