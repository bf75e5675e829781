"""Hostile and odd data through a real sync: SOQL escaping, TLS, partner isolation, bad input.

Nothing here may crash a run: a value a system cannot take ends as a failed
record with a clear reason, everything else round-trips exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce_soql import soql_quote
from prm_sync.errors import ConfigError
from prm_sync.model import DealRegistration, Partner, PartnerContact
from prm_sync.store import failures, records

INJECTION = "O'Brien \\ Sons' OR Name != '"
ODD_NAMES = {
    "injection": INJECTION,
    "quotes": 'Say "hi" \'there\'',
    "backslashes": "C:\\partners\\new\\",
    "emoji": "Rocket 🚀 Partners",
    "rtl": "شركة الشركاء",
    "combining": "Cafe\u0301 Cre\u0300me",
    "newline_tab": "Line\tone\nline two",
}


def _add(env: Any, *rows: Any) -> None:
    with env.runtime.store.session() as session:
        records.save_records(session, list(rows))


def _partner(pid: str, name: str, **extra: Any) -> Partner:
    return Partner(id=pid, name=name, **extra)


def test_odd_names_round_trip_and_soql_stays_intact(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    _add(env, *[_partner(f"ptn_odd_{key}", name) for key, name in ODD_NAMES.items()])

    report = env.run()

    assert report.slice("salesforce", "partner").failed == 0 and report.slice("hubspot", "partner").failed == 0
    sf, hs = env.apps["salesforce"], env.apps["hubspot"]
    accounts = {a["PRM_Id__c"]: a for a in sf.all_records("Account") if a.get("PRM_Id__c")}
    companies = {c["prm_id"]: c for c in hs.all_records("companies") if c.get("prm_id")}
    for key, name in ODD_NAMES.items():
        expected = name.strip()
        assert accounts[f"ptn_odd_{key}"]["Name"] == expected, key
        assert companies[f"ptn_odd_{key}"]["name"] == expected, key
    # the pull that follows reads them back unchanged: nothing bounces
    assert env.run().totals()["updated"] == 0
    with env.runtime.store.session(readonly=True) as session:
        assert records.get_record(session, "partner", "ptn_odd_injection").name == INJECTION
    # a query built with the escaping finds exactly that record, and the injection finds nothing extra
    connector = env.runtime.connectors(["salesforce"])["salesforce"]
    found = list(connector.read_all("Account", ["Name"], where=f"Name = {soql_quote(INJECTION)}"))
    assert [r.fields["Name"] for r in found] == [INJECTION]
    sneaky = list(connector.read_all("Account", ["Name"], where=f"Name = {soql_quote(chr(39) + ' OR Name != ' + chr(39))}"))
    assert sneaky == []


def test_tls_is_verified_by_default(make_sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url = env.runtime.config.systems.salesforce.instance_url
    token = SecretStr(env.cluster.tokens["salesforce"])
    assert url.startswith("https://")
    trusting = SalesforceConnector(SalesforceSettings(instance_url=url, access_token=token, ca_bundle=str(
        env.runtime.config.systems.salesforce.ca_bundle), max_retries=0))
    assert trusting.describe("Account")  # with the sandbox's CA it works

    default = SalesforceConnector(SalesforceSettings(instance_url=url, access_token=token, max_retries=0))
    with pytest.raises(ConfigError) as raised:
        default.describe("Account")

    message = str(raised.value)
    assert "TLS verification" in message and "ca_bundle" in message
    assert token.get_secret_value() not in message
    # the environment's CA bundle variable does not switch verification off either
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(ConfigError):
        SalesforceConnector(SalesforceSettings(instance_url=url, access_token=token, max_retries=0)).describe("Account")


def test_near_identical_partners_keep_their_own_records(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    twins = [
        _partner("ptn_twin_a", "Acme Partners", domain="acme-partners.com", tier="gold", phone="+1 555 0001"),
        _partner("ptn_twin_b", "Acme Partners.", domain="acmepartners.com", tier="silver", phone="+1 555 0002"),
        _partner("ptn_twin_c", "ACME Partners", domain="acme-partners.co", tier="platinum", phone="+1 555 0003"),
    ]
    _add(env, *twins, *[PartnerContact(id=f"pco_{p.id}", partner_id=p.id, last_name="Same", email="same@acme.test")
                        for p in twins])

    env.run()
    env.run()

    accounts = {a["PRM_Id__c"]: a for a in env.apps["salesforce"].all_records("Account") if a.get("PRM_Id__c")}
    companies = {c["prm_id"]: c for c in env.apps["hubspot"].all_records("companies") if c.get("prm_id")}
    contacts = {c["PRM_Id__c"]: c for c in env.apps["salesforce"].all_records("Contact") if c.get("PRM_Id__c")}
    ids = {p.id for p in twins}
    assert len({accounts[i]["Id"] for i in ids}) == 3 and len({companies[i]["hs_object_id"] for i in ids}) == 3
    for p in twins:
        assert (accounts[p.id]["Name"], accounts[p.id]["Domain__c"], accounts[p.id]["Phone"]) == (p.name, p.domain, p.phone)
        assert accounts[p.id]["Partner_Tier__c"] == p.tier.capitalize()
        assert (companies[p.id]["name"], companies[p.id]["domain"], companies[p.id]["partner_tier"]) == (p.name, p.domain, p.tier)
        assert contacts[f"pco_{p.id}"]["AccountId"] == accounts[p.id]["Id"]  # each person under their own partner
    with env.runtime.store.session(readonly=True) as session:
        stored = {p.id: records.get_record(session, "partner", p.id) for p in twins}
    assert {i: (s.name, s.tier) for i, s in stored.items()} == {p.id: (p.name, p.tier) for p in twins}


def test_bad_input_ends_as_failed_records_with_reasons(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    host = env.data.partners[0]["id"]
    bad = {
        "pco_bad_email": PartnerContact(id="pco_bad_email", partner_id=host, last_name="Mail", email="not-an-email"),
        "pco_too_long": PartnerContact(id="pco_too_long", partner_id=host, last_name="Long", first_name="F" * 60),
        "pco_nul": PartnerContact(id="pco_nul", partner_id=host, last_name="Nul\x00Byte"),
    }
    odd_ok = PartnerContact(id="pco_unicode", partner_id=host, last_name="Ña\u0301ñez 🚀", first_name="עִבְרִית")
    registration = DealRegistration(id="reg_bad_line", partner_id=host, customer_name="Picklist Co",
                                    product_lines=["platform", "quantum"])
    _add(env, *bad.values(), odd_ok, registration)
    hubspot = env.apps["hubspot"]
    deal = hubspot.all_records("deals")[0]
    hubspot.update_record("deals", deal["hs_object_id"], {"dealname": "D" * 500})  # too long for the PRM
    neighbour = hubspot.all_records("deals")[1]

    report = env.run()

    assert report.status in ("succeeded_with_failures", "partial")
    with env.runtime.store.session(readonly=True) as session:
        open_failures = failures.list_failures(session)
    by_key: dict[str, list[Any]] = {}
    for f in open_failures:
        by_key.setdefault(f.record_key, []).append(f)
        assert f.error_code and len(f.error_message) > 5, f
    sf_reasons = {k: " ".join(f.error_message for f in fs if f.system == "salesforce") for k, fs in by_key.items()}
    assert "email" in sf_reasons["pco_bad_email"].lower()
    assert "too large" in sf_reasons["pco_too_long"].lower() or "too long" in sf_reasons["pco_too_long"].lower()
    assert "pco_nul" in by_key or _contact_named(env, "Nul\x00Byte")  # refused with a reason, or stored exactly
    assert "reg_bad_line" in by_key and "quantum" in " ".join(f.error_message for f in by_key["reg_bad_line"])
    assert deal["hs_object_id"] in by_key and "120" in by_key[deal["hs_object_id"]][0].error_message
    assert neighbour["hs_object_id"] not in by_key  # the rest of the page went through
    sf_contact = next(c for c in env.apps["salesforce"].all_records("Contact") if c.get("PRM_Id__c") == "pco_unicode")
    assert (sf_contact["LastName"], sf_contact["FirstName"]) == (odd_ok.last_name, odd_ok.first_name)
    assert env.run().status in ("succeeded_with_failures", "partial", "failed")  # failing again is still not a crash


def _contact_named(env: Any, last_name: str) -> bool:
    return any(c.get("LastName") == last_name for c in env.apps["salesforce"].all_records("Contact"))
