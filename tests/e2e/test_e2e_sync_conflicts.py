"""An edit on both sides follows the field's rule: prefer_prm, prefer_remote, manual_review.

The rule of Salesforce ``Account.Name`` is changed in a tmp copy of
``mappings/`` (HubSpot keeps its own), then the partner's name is edited in
the PRM store and in Salesforce between two runs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from prm_sync.model import utcnow
from prm_sync.store import records, review


def _with_name_rule(env: Any, rule: str) -> None:
    mappings = env.copy_mappings()
    path = mappings / "salesforce.yaml"
    text = path.read_text()
    line = "{prm: name, remote: Name, transform: trim, required: true}"
    assert line in text
    path.write_text(text.replace(line, f"{{prm: name, remote: Name, transform: trim, required: true, rule: {rule}}}", 1))
    env.reload_mappings(mappings)


def _edit_both_sides(env: Any) -> tuple[Any, str, str]:
    with env.runtime.store.session() as session:
        partner = records.list_records(session, "partner")[0]
        records.save_record(session, partner.model_copy(update={"name": "Name From PRM", "updated_at": utcnow()}))
    env.apps["salesforce"].update_record("Account", partner.external_ids["salesforce"], {"Name": "Name From CRM"})
    return partner, "Name From PRM", "Name From CRM"


def _names(env: Any, partner: Any) -> tuple[str, str, str]:
    with env.runtime.store.session(readonly=True) as session:
        prm = records.get_record(session, "partner", partner.id).name
    sf = env.apps["salesforce"].get_record("Account", partner.external_ids["salesforce"])["Name"]
    hs = env.apps["hubspot"].get_record("companies", partner.external_ids["hubspot"])["name"]
    return prm, sf, hs


@pytest.mark.parametrize(("rule", "winner"), [("prefer_prm", "prm"), ("prefer_remote", "remote")])
def test_edit_on_both_sides_follows_the_rule(make_sync_env, rule: str, winner: str) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    env.run()
    _with_name_rule(env, rule)
    partner, prm_value, crm_value = _edit_both_sides(env)

    report = env.run()

    assert report.slice("salesforce", "partner").conflicts == 1
    assert report.mapping_version == env.runtime.mappings.version
    expected = prm_value if winner == "prm" else crm_value
    assert _names(env, partner) == (expected, expected, expected)
    again = env.run()
    assert again.totals()["created"] + again.totals()["updated"] == 0
    assert again.totals()["conflicts"] == 0


def test_manual_review_parks_the_field_until_review_resolve(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    env.run()
    _with_name_rule(env, "manual_review")
    partner, prm_value, crm_value = _edit_both_sides(env)

    parked = env.run()

    assert parked.slice("salesforce", "partner").conflicts == 1
    # the PRM keeps its value, Salesforce keeps its own (the field is held), HubSpot follows the PRM
    assert _names(env, partner) == (prm_value, crm_value, prm_value)
    listed = env.cli("review", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    items = [i for i in listed.json() if i["record_id"] == partner.id]
    assert [(i["field"], i["prm_value"], i["remote_value"]) for i in items] == [("name", prm_value, crm_value)]
    held = env.run()
    assert held.slice("salesforce", "partner").updated == 0 and _names(env, partner)[1] == crm_value

    resolved = env.cli("review", "resolve", str(items[0]["id"]), "--take", "remote")

    assert resolved.exit_code == 0, resolved.stderr
    assert re.search(r"= 'Name From CRM'", resolved.stdout)
    with env.runtime.store.session(readonly=True) as session:
        assert review.list_open_reviews(session) == []
    settled = env.run()
    assert _names(env, partner) == (crm_value, crm_value, crm_value)
    assert settled.totals()["conflicts"] == 0
    quiet = env.run()
    assert quiet.totals()["created"] + quiet.totals()["updated"] == 0
    audit = env.cli("audit", partner.id)
    assert audit.exit_code == 0
    assert "review.resolve" in audit.stdout and "took remote" in audit.stdout


def test_review_resolve_with_a_typed_value_and_bad_input(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    env.run()
    _with_name_rule(env, "manual_review")
    partner, _, _ = _edit_both_sides(env)
    env.run()
    item = env.cli("review", "list", "--json").json()[0]

    unknown = env.cli("review", "resolve", "999999", "--take", "prm")
    missing_value = env.cli("review", "resolve", str(item["id"]), "--take", "value")
    typed = env.cli("review", "resolve", str(item["id"]), "--take", "value", "--value", "Typed By Admin")
    twice = env.cli("review", "resolve", str(item["id"]), "--take", "prm")

    assert unknown.exit_code == 2 and unknown.stderr.strip().count("\n") == 0
    assert "no review item with id 999999" in unknown.stderr
    assert missing_value.exit_code == 2
    assert typed.exit_code == 0, typed.stderr
    assert twice.exit_code == 2 and "already resolved" in twice.stderr
    env.run()
    assert _names(env, partner) == ("Typed By Admin", "Typed By Admin", "Typed By Admin")
