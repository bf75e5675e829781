"""Poison values: one record's bad value fails that record, never its batch, never the run.

Each story makes the records through the systems' own client libraries
(hubspot-api-client, simple-salesforce) or the PRM store, runs the real
``prm-sync sync`` entry point, and reads back what HubSpot, Salesforce and
the PRM store hold. A value a system or the store cannot keep becomes one
failed record whose reason names the field and the value; every other record
of the run lands, and the run exits 5 ("success with failed records"). A
re-run writes no duplicate, costs no runaway calls, and keeps one failure per
bad record (it exits 7 when the bad record was all it had to do: every record
it tried was refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sandbox_fixtures.cluster import MakeSyncEnv, SyncEnv

from connectors.base import UpsertRequest
from prm_sync.exit_codes import ExitCode
from prm_sync.model import DealRegistration, Partner
from prm_sync.store import failures, records
from prm_sync.store.db import Store
from prm_sync.store.records import UnstorableValue

PARTNER = Partner(id="ptn_poison", name="Poison Test Partners", domain="poison-partners.example", tier="gold")


# -- the PRM store --------------------------------------------------------------------------
def _save(env: SyncEnv, *items: Any) -> None:
    with env.runtime.store.session() as session:
        records.save_records(session, list(items))


def _open_failures(env: SyncEnv, system: str) -> list[Any]:
    with env.runtime.store.session(readonly=True) as session:
        return failures.list_failures(session, system=system)


def _registration(number: int, **values: Any) -> DealRegistration:
    defaults: dict[str, Any] = {
        "id": f"reg_poison_{number:03d}", "partner_id": PARTNER.id, "customer_name": f"Customer {number:03d}",
        "customer_domain": f"customer-{number:03d}.example", "amount": Decimal(1000 + number),
        "submitted_at": datetime(2026, 10, 1, 9, 0, tzinfo=UTC),
    }
    return DealRegistration(**{**defaults, **values})


# -- HubSpot numbers are decimal text, exponent notation included ---------------------------
GOOD_AMOUNTS = {  # what a HubSpot deal's amount holds -> what the PRM opportunity must hold
    "exponent notation": ("1.5E7", Decimal("15000000.00")),
    "lower-case exponent": ("2.5e3", Decimal("2500.00")),
    "negative exponent": ("125E-2", Decimal("1.25")),
    "plain decimal": ("1234.5", Decimal("1234.50")),
}


@dataclass(frozen=True)
class Poison:
    amount: str  # as the rep typed it into HubSpot
    shown: str  # how the failed record's reason shows the value


POISON_AMOUNTS = [
    pytest.param(Poison("123456789012345678901234567890", "123456789012345678901234567890"), id="a 30-digit amount"),
    pytest.param(Poison("1e30", "1000000000000000000000000000000"), id="1e30"),
    pytest.param(Poison("12345678901234567", "12345678901234567"), id="one digit past Numeric(18,2)"),
]


@pytest.mark.parametrize("poison", POISON_AMOUNTS)
def test_a_hubspot_deal_amount_the_store_cannot_hold_fails_that_deal_alone(
    make_sync_env: MakeSyncEnv, poison: Poison
) -> None:
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    deals = env.hubspot().crm.deals.basic_api
    good = {
        name: deals.create({"properties": {"dealname": f"Deal {name}", "amount": text, "dealstage": "appointmentscheduled"}}).id
        for name, (text, _) in GOOD_AMOUNTS.items()
    }
    bad = deals.create({"properties": {"dealname": "Deal poison", "amount": poison.amount,
                                       "dealstage": "appointmentscheduled"}}).id

    first = env.cli("sync", "--system", "hubspot")

    assert first.exit_code == ExitCode.FAILED_RECORDS, first.output
    with env.runtime.store.session(readonly=True) as session:
        for name, (_, expected) in GOOD_AMOUNTS.items():
            found = records.find_by_external_id(session, "opportunity", "hubspot", good[name])
            assert found is not None and found.amount == expected, name
        assert records.find_by_external_id(session, "opportunity", "hubspot", bad) is None
    [failure] = _open_failures(env, "hubspot")
    assert (failure.record_key, failure.operation, failure.error_fields) == (bad, "read", ["amount"])
    assert failure.error_code == "VALUE_OUT_OF_RANGE" and poison.shown in failure.error_message

    again = env.cli("sync", "--system", "hubspot", "--full")  # re-reads every deal, the bad one included

    assert again.exit_code == ExitCode.FAILED, again.output  # it tried only the bad record(s): refused again
    [still] = _open_failures(env, "hubspot")
    assert still.id == failure.id and still.attempts == 2
    with env.runtime.store.session(readonly=True) as session:
        assert records.count_records(session, "opportunity") == len(GOOD_AMOUNTS)

    deals.update(bad, {"properties": {"amount": "9.9E5"}})  # the rep corrects it
    fixed = env.cli("sync", "--system", "hubspot")

    assert fixed.exit_code == ExitCode.OK, fixed.output
    assert _open_failures(env, "hubspot") == []
    with env.runtime.store.session(readonly=True) as session:
        found = records.find_by_external_id(session, "opportunity", "hubspot", bad)
        assert found is not None and found.amount == Decimal("990000.00")


# -- Salesforce: an opportunity amount the org keeps and the store cannot ----------------------
def test_a_salesforce_opportunity_amount_the_store_cannot_hold_fails_that_opportunity_alone(
    make_sync_env: MakeSyncEnv,
) -> None:
    """Opportunity.Amount is Currency(18, 2): 16 digits before the point; the SQLite store keeps 13."""
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    sf = env.salesforce()
    opportunity = {"StageName": "Qualification", "CloseDate": "2027-01-15"}
    good = {sf.Opportunity.create({**opportunity, "Name": f"Deal {n}", "Amount": 1000 * n})["id"]: Decimal(1000 * n)
            for n in range(1, 6)}
    bad = sf.Opportunity.create({**opportunity, "Name": "Deal huge", "Amount": 99_999_999_999_999})["id"]

    first = env.cli("sync", "--system", "salesforce")

    assert first.exit_code == ExitCode.FAILED_RECORDS, first.output
    with env.runtime.store.session(readonly=True) as session:
        for remote_id, amount in good.items():
            found = records.find_by_external_id(session, "opportunity", "salesforce", remote_id)
            assert found is not None and found.amount == amount
        assert records.find_by_external_id(session, "opportunity", "salesforce", bad) is None
    [failure] = _open_failures(env, "salesforce")
    assert (failure.record_key, failure.operation, failure.error_fields) == (bad, "read", ["amount"])
    assert failure.error_code == "VALUE_OUT_OF_RANGE" and "99999999999999" in failure.error_message

    sf.Opportunity.update(bad, {"Amount": 2_500_000})  # the rep corrects it
    fixed = env.cli("sync", "--system", "salesforce")

    assert fixed.exit_code == ExitCode.OK, fixed.output
    assert _open_failures(env, "salesforce") == []
    with env.runtime.store.session(readonly=True) as session:
        found = records.find_by_external_id(session, "opportunity", "salesforce", bad)
        assert found is not None and found.amount == Decimal("2500000.00")


# -- Salesforce: a poison record among 199 good ones in one Collections call ----------------
@dataclass(frozen=True)
class SalesforcePoison:
    values: dict[str, Any]
    field: str
    shown: str  # how the value appears in the reason
    amount_precision: int | None = None  # the org's Amount__c precision, when the story narrows it
    rule: bool = False  # a validation rule in the org refuses the value: it goes on the wire and fails there


SALESFORCE_POISON = [
    pytest.param(SalesforcePoison({"submitted_at": datetime(1, 1, 1, tzinfo=UTC)}, "Submitted_At__c", "0001-01-01"),
                 id="a registration dated year 1"),
    pytest.param(SalesforcePoison({"expires_at": datetime(4001, 1, 1, tzinfo=UTC)}, "Expires_At__c", "4001-01-01"),
                 id="an expiry past 4000-12-31"),
    pytest.param(SalesforcePoison({"amount": Decimal("123456789.00")}, "Amount__c", "123456789",
                                  amount_precision=10), id="an amount past the org's Currency(8, 2) field"),
    pytest.param(SalesforcePoison({"customer_name": "Refused Co"}, "Customer_Name__c", "Refused Co", rule=True),
                 id="a value the org's validation rule refuses, sent in the batch"),
]


@pytest.mark.parametrize("poison", SALESFORCE_POISON)
def test_a_poison_registration_among_199_leaves_199_in_salesforce_and_one_failed_record(
    make_sync_env: MakeSyncEnv, poison: SalesforcePoison
) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    app = env.apps["salesforce"]
    if poison.amount_precision is not None:
        app.store.objects["Deal_Registration__c"].fields["Amount__c"].precision = poison.amount_precision
    if poison.rule:
        app.faults.invalid_values = {poison.field: [poison.shown]}
    bad = _registration(77, **poison.values)
    _save(env, PARTNER, *[_registration(n) for n in range(200) if n != 77], bad)

    first = env.cli("sync", "--system", "salesforce")

    assert first.exit_code == ExitCode.FAILED_RECORDS, first.output
    sf = env.salesforce()
    landed = {r["PRM_Id__c"] for r in sf.query_all("SELECT PRM_Id__c FROM Deal_Registration__c")["records"]}
    assert len(landed) == 199 and bad.id not in landed
    [failure] = _open_failures(env, "salesforce")
    assert (failure.record_key, failure.operation, failure.error_fields) == (bad.id, "upsert", [poison.field])
    assert poison.field in failure.error_message and poison.shown in failure.error_message
    # one Collections call for the 200 registrations (199 when the bad value is caught before the wire), one for
    # the partner
    assert app.calls["collections.upsert"] == 2

    again = env.cli("sync", "--system", "salesforce")

    assert again.exit_code == ExitCode.FAILED, again.output  # it tried only the bad record(s): refused again
    [still] = _open_failures(env, "salesforce")
    assert still.id == failure.id and still.attempts == 2
    assert sf.query("SELECT COUNT() FROM Deal_Registration__c")["totalSize"] == 199  # no duplicate
    # no call spent on it again, unless only the org can judge it: then one call for that record alone
    assert app.calls["collections.upsert"] == 2 + poison.rule


# -- HubSpot: a batch refused whole for one input is halved until that input stands alone ----
HUBSPOT_POISON = [
    pytest.param([40], id="one value a portal validation rule refuses"),
    pytest.param([3, 96], id="two of them at both ends of the batch"),
]


@pytest.mark.parametrize("poisoned", HUBSPOT_POISON)
def test_a_poison_registration_in_a_hubspot_batch_fails_alone_and_the_rest_land(
    make_sync_env: MakeSyncEnv, poisoned: list[int]
) -> None:
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    app = env.apps["hubspot"]
    app.faults.invalid_values = {"customer_name": [f"Refused {n:03d}" for n in poisoned]}
    regs = [_registration(n, customer_name=f"Refused {n:03d}") if n in poisoned else _registration(n)
            for n in range(100)]
    _save(env, PARTNER, *regs)

    first = env.cli("sync", "--system", "hubspot")

    assert first.exit_code == ExitCode.FAILED_RECORDS, first.output
    stored = {r["prm_id"] for r in app.all_records("p_deal_registrations")}
    assert stored == {r.id for r in regs if int(r.id[-3:]) not in poisoned}
    failed = {f.record_key: f for f in _open_failures(env, "hubspot")}
    assert set(failed) == {f"reg_poison_{n:03d}" for n in poisoned}
    for n in poisoned:
        failure = failed[f"reg_poison_{n:03d}"]
        assert failure.error_fields == ["customer_name"] and f"Refused {n:03d}" in failure.error_message
    calls = app.calls["objects.batch.upsert"]
    assert 2 < calls <= 2 + 2 * 7 * len(poisoned)  # the partner, the batch refused whole, two calls per halving

    again = env.cli("sync", "--system", "hubspot")

    assert again.exit_code == ExitCode.FAILED, again.output  # it tried only the bad record(s): refused again
    assert len(app.all_records("p_deal_registrations")) == 100 - len(poisoned)  # no duplicate
    assert {f.record_key: f.attempts for f in _open_failures(env, "hubspot")} == dict.fromkeys(failed, 2)
    assert app.calls["objects.batch.upsert"] - calls <= 1 + 2 * 7 * len(poisoned)  # only the bad ones retried


def test_a_text_past_hubspots_limit_fails_alone_before_its_batch_is_sent(make_sync_env: MakeSyncEnv) -> None:
    """HubSpot keeps 65,536 characters in a text property and refuses a batch holding a longer one whole."""
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    connector = env.runtime.connectors(["hubspot"])["hubspot"]
    rows = [UpsertRequest(key=f"reg_{n}", fields={"customer_name": f"C{n}"}) for n in range(5)]
    rows[3] = UpsertRequest(key="reg_3", fields={"customer_name": "L" * 65_537})
    rows[4] = UpsertRequest(key="reg_4", fields={"customer_name": "K" * 65_536})  # exactly the limit: kept

    results = connector.upsert("p_deal_registrations", "prm_id", rows)

    assert [(r.key, r.error_code, r.error_fields) for r in results if not r.ok] == [
        ("reg_3", "VALUE_OUT_OF_RANGE", ["customer_name"])]
    assert "65,537 characters" in (results[3].error_message or "")
    page = env.hubspot().crm.objects.basic_api.get_page("p_deal_registrations", limit=100,
                                                        properties=["prm_id", "customer_name"])
    landed = {r.properties["prm_id"]: r.properties["customer_name"] for r in page.results}
    assert sorted(landed) == ["reg_0", "reg_1", "reg_2", "reg_4"] and len(landed["reg_4"]) == 65_536
    assert env.apps["hubspot"].calls["objects.batch.upsert"] == 1  # no refused batch, no halving


# -- Salesforce's own answers, when the connector has no describe to check against ----------
SALESFORCE_ANSWERS = [
    pytest.param({"Amount__c": 1e30}, "NUMBER_OUTSIDE_VALID_RANGE", id="1e30 in a Currency(16, 2) field"),
    pytest.param({"Submitted_At__c": "0001-01-01T00:00:00.000+0000"}, "FIELD_INTEGRITY_EXCEPTION",
                 id="a datetime in year 1"),
    pytest.param({"Submitted_At__c": "1-01-01T00:00:00.000+0000"}, "JSON_PARSER_ERROR",
                 id="a year Salesforce cannot parse refuses the whole call"),
]


@pytest.mark.parametrize(("fields", "code"), SALESFORCE_ANSWERS)
def test_salesforce_refusals_reach_only_the_record_that_earned_them(
    make_sync_env: MakeSyncEnv, fields: dict[str, Any], code: str
) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    connector = env.runtime.connectors(["salesforce"])["salesforce"]  # nothing described yet
    rows = [UpsertRequest(key=f"reg_{n}", fields={"Customer_Name__c": f"C{n}"}) for n in range(8)]
    rows[5] = UpsertRequest(key="reg_5", fields={"Customer_Name__c": "C5", **fields})

    results = connector.upsert("Deal_Registration__c", "PRM_Id__c", rows)

    assert [r.key for r in results if not r.ok] == ["reg_5"]
    assert results[5].error_code == code
    assert len(env.apps["salesforce"].all_records("Deal_Registration__c")) == 7
    calls = env.apps["salesforce"].calls["collections.upsert"]
    assert calls == (1 if code != "JSON_PARSER_ERROR" else 1 + 2 * 3)  # eight records: three halvings


# -- the PRM store refuses what it cannot keep with a clear error, before the database sees it
STORE_AMOUNTS = [
    pytest.param(Decimal("1e30"), id="1e30"),
    pytest.param(Decimal("12345678901234567"), id="17 digits"),
]


@pytest.mark.parametrize("amount", STORE_AMOUNTS)
def test_the_store_names_an_amount_it_cannot_hold_and_stays_usable(store: Store, amount: Decimal) -> None:
    with pytest.raises(UnstorableValue) as refused, store.session() as session:
        records.save_records(session, [PARTNER, _registration(1, amount=amount)])

    assert refused.value.field == "amount" and "deal_registration.amount" in str(refused.value)
    with store.session() as session:
        records.save_records(session, [PARTNER, _registration(2)])
    with store.session(readonly=True) as session:
        assert [r.id for r in records.list_records(session, "deal_registration")] == ["reg_poison_002"]


BULK_ANSWERS = [
    pytest.param({"Amount__c": "1e30"}, "NUMBER_OUTSIDE_VALID_RANGE", id="1e30 in a Currency(16, 2) field"),
    pytest.param({"Submitted_At__c": "1-01-01T00:00:00.000+0000"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
                 id="a year Salesforce cannot parse fails its row alone"),
]


@pytest.mark.parametrize(("fields", "code"), BULK_ANSWERS)
def test_bulk_api_rows_fail_alone(make_sync_env: MakeSyncEnv, fields: dict[str, Any], code: str) -> None:
    """Bulk API 2.0 reads CSV: a value it cannot take fails its row, never the job."""
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    connector = env.runtime.connectors(["salesforce"])["salesforce"]
    connector.settings = connector.settings.model_copy(update={"bulk_threshold": 5})
    rows = [UpsertRequest(key=f"reg_{n}", fields={"Customer_Name__c": f"C{n}"}) for n in range(8)]
    rows[2] = UpsertRequest(key="reg_2", fields={"Customer_Name__c": "C2", **fields})

    results = connector.upsert("Deal_Registration__c", "PRM_Id__c", rows)

    assert [(r.key, r.error_code) for r in results if not r.ok] == [("reg_2", code)]
    assert len(env.apps["salesforce"].all_records("Deal_Registration__c")) == 7
    assert env.apps["salesforce"].calls["collections.upsert"] == 0  # it went through a bulk job


def test_a_bulk_job_failed_whole_for_one_record_is_resent_so_each_record_gets_its_own_answer(
    make_sync_env: MakeSyncEnv,
) -> None:
    """Salesforce fails a whole ingest job when one of its batches cannot be processed; the rest still land."""
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    app = env.apps["salesforce"]
    app.faults.stalled_bulk_values = {"Customer_Name__c": ["C2"]}  # its batch never finishes: the job fails
    app.faults.invalid_values = {"Customer_Name__c": ["C2"]}  # and a validation rule refuses it alone
    connector = env.runtime.connectors(["salesforce"])["salesforce"]
    connector.settings = connector.settings.model_copy(update={"bulk_threshold": 5})
    rows = [UpsertRequest(key=f"reg_{n}", fields={"Customer_Name__c": f"C{n}"}) for n in range(8)]

    results = connector.upsert("Deal_Registration__c", "PRM_Id__c", rows)

    assert [r.key for r in results if not r.ok] == ["reg_2"]
    assert results[2].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and "Customer_Name__c" in results[2].error_fields
    landed = env.salesforce().query_all("SELECT PRM_Id__c FROM Deal_Registration__c")["records"]
    assert sorted(r["PRM_Id__c"] for r in landed) == [f"reg_{n}" for n in range(8) if n != 2]
    calls = app.calls
    assert (calls["bulk.ingest_create"], calls["collections.upsert"]) == (1, 1)  # one job, then one Collections call


def test_a_registration_born_in_hubspot_with_an_amount_the_store_cannot_hold_is_not_adopted(
    make_sync_env: MakeSyncEnv,
) -> None:
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    _save(env, PARTNER)
    objects = env.hubspot().crm.objects.basic_api
    fine = objects.create("p_deal_registrations", {"properties": {
        "customer_name": "Fine Co", "partner_prm_id": PARTNER.id, "amount": "2.5E4"}}).id
    bad = objects.create("p_deal_registrations", {"properties": {
        "customer_name": "Huge Co", "partner_prm_id": PARTNER.id, "amount": "1e30"}}).id

    result = env.cli("sync", "--system", "hubspot", "--json")

    assert result.exit_code == ExitCode.FAILED_RECORDS, result.output
    registrations = next(s for s in result.json()["slices"] if s["entity"] == "deal_registration")
    assert (registrations["adopted"], registrations["failed"]) == (1, 1)
    with env.runtime.store.session(readonly=True) as session:
        adopted = records.find_by_external_id(session, "deal_registration", "hubspot", fine)
        assert adopted is not None and adopted.amount == Decimal("25000.00")
        assert records.find_by_external_id(session, "deal_registration", "hubspot", bad) is None
    [failure] = _open_failures(env, "hubspot")
    assert (failure.record_key, failure.error_fields) == (bad, ["amount"])
    assert (env.apps["hubspot"].get_record("p_deal_registrations", bad) or {}).get("prm_id") in (None, "")


def test_a_crm_text_holding_a_nul_character_never_stops_a_run_on_either_store(
    make_sync_env: MakeSyncEnv, store: Store
) -> None:
    """PostgreSQL text cannot hold U+0000 (psycopg refuses the statement, and with it the whole page).

    HubSpot keeps it; on PostgreSQL that record fails alone naming the field,
    on SQLite (which keeps it) it lands as written. Either way the rest land.
    """
    env = make_sync_env(systems=("hubspot",), seed_data=False, store=store)
    hubspot = env.hubspot()
    deals, companies = hubspot.crm.deals.basic_api, hubspot.crm.companies.basic_api
    stage = {"amount": "10", "dealstage": "appointmentscheduled"}
    good_deal = deals.create({"properties": {"dealname": "Good deal", **stage}}).id
    bad_deal = deals.create({"properties": {"dealname": "Bad \x00 deal", **stage}}).id
    good_partner = companies.create({"properties": {"name": "Fine Partners", "is_partner": "true",
                                                    "domain": "fine.example"}}).id
    bad_partner = companies.create({"properties": {"name": "Nul\x00 Partners", "is_partner": "true",
                                                   "domain": "nul.example"}}).id

    report = env.run(systems=["hubspot"])

    on_postgres = store.engine.dialect.name == "postgresql"
    assert report.status == ("succeeded_with_failures" if on_postgres else "succeeded"), report
    with env.runtime.store.session(readonly=True) as session:
        for entity, good, bad, name in (("opportunity", good_deal, bad_deal, "Bad \x00 deal"),
                                        ("partner", good_partner, bad_partner, "Nul\x00 Partners")):
            assert records.find_by_external_id(session, entity, "hubspot", good) is not None
            landed = records.find_by_external_id(session, entity, "hubspot", bad)
            assert (landed is None) if on_postgres else (landed is not None and landed.name == name)
    failed = {f.record_key: f for f in _open_failures(env, "hubspot")}
    assert set(failed) == ({bad_deal, bad_partner} if on_postgres else set())
    for failure in failed.values():
        assert failure.error_code == "VALUE_OUT_OF_RANGE" and failure.error_fields == ["name"]
        assert "\\x00" in failure.error_message and "NUL" in failure.error_message
