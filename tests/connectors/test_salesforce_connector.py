"""SalesforceConnector against the TLS sandbox: reads, writes, retries, quota, TLS and SOQL escaping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Connector, Cursor, UpsertRequest
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce_soql import soql_literal, soql_quote
from connectors.sandbox.tls import make_sandbox_ca
from prm_sync.errors import AuthError, ConfigError, QuotaExhausted, TransientError

T0 = datetime(2024, 1, 31, 10, 0, tzinfo=UTC)


def _connector(handle, **overrides) -> SalesforceConnector:
    return SalesforceConnector(handle.settings(**overrides))


def test_connector_satisfies_the_protocol(salesforce_sandbox):
    assert isinstance(_connector(salesforce_sandbox), Connector)


def test_incremental_read_breaks_modstamp_ties_by_id(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.clock = lambda: T0
    ids = app.insert_records("Account", [{"Name": f"tie {i}"} for i in range(3)])
    app.clock = lambda: T0 + timedelta(seconds=1)
    [later] = app.insert_records("Account", [{"Name": "later"}])
    connector = _connector(salesforce_sandbox)
    everything = list(connector.read_changes("Account", ["Name"], Cursor()))
    assert [r.id for r in everything] == [*ids, later]
    assert everything[0].modstamp == T0 and everything[0].fields["Name"] == "tie 0"
    assert "attributes" not in everything[0].fields
    resumed = list(connector.read_changes("Account", ["Name"], Cursor(modstamp=T0, last_id=ids[0])))
    assert [r.id for r in resumed] == [ids[1], ids[2], later]
    window = list(connector.read_changes("Account", ["Name"], Cursor(modstamp=T0, last_id=ids[0]), until=T0))
    assert [r.id for r in window] == [ids[1], ids[2]]


def test_late_commit_is_found_by_an_overlap_window(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.clock = lambda: T0 + timedelta(seconds=10)
    [seen] = app.insert_records("Account", [{"Name": "seen"}])
    app.clock = lambda: T0 + timedelta(seconds=5)  # committed late, stamped earlier than the cursor
    [late] = app.insert_records("Account", [{"Name": "late"}])
    connector = _connector(salesforce_sandbox)
    cursor = Cursor(modstamp=T0 + timedelta(seconds=10), last_id=seen)
    assert list(connector.read_changes("Account", ["Name"], cursor)) == []
    overlap = Cursor(modstamp=cursor.modstamp - timedelta(seconds=30))
    assert [r.id for r in connector.read_changes("Account", ["Name"], overlap)] == [late, seen]


def test_read_changes_reports_deletes_and_merges(salesforce_sandbox):
    app = salesforce_sandbox.app
    master, loser, doomed = app.insert_records("Account", [{"Name": "m"}, {"Name": "l"}, {"Name": "d"}])
    app.merge("Account", master, [loser])
    connector = _connector(salesforce_sandbox)
    connector.delete("Account", [doomed])
    records = {r.id: r for r in connector.read_changes("Account", ["Name"], Cursor())}
    assert records[loser].deleted and records[loser].merged_into == master
    assert records[doomed].deleted and records[doomed].merged_into is None
    live_only = {r.id for r in connector.read_changes("Account", ["Name"], Cursor(), include_deleted=False)}
    assert live_only == {master}


def test_upsert_collapses_duplicates_and_reports_per_record_errors(salesforce_sandbox):
    connector = _connector(salesforce_sandbox)
    results = connector.upsert("Account", "PRM_Id__c", [
        UpsertRequest(key="p1", fields={"Name": "first"}),
        UpsertRequest(key="p2", fields={"Name": "bad", "Partner_Tier__c": "Diamond"}),
        UpsertRequest(key="p1", fields={"Name": "second"}),
    ])
    assert [r.key for r in results] == ["p1", "p2", "p1"]
    assert results[0].ok and results[0] == results[2] and results[0].created is True
    assert results[1].ok is False and results[1].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1].error_fields == ["Partner_Tier__c"]
    assert [r["Name"] for r in salesforce_sandbox.app.all_records("Account")] == ["second"]


def test_upsert_passes_relationship_lookups_and_python_dates(salesforce_sandbox):
    app = salesforce_sandbox.app
    salesforce_sandbox.add_external_id("Opportunity")
    [partner] = app.insert_records("Account", [{"Name": "Partner", "PRM_Id__c": "ptn_1"}])
    connector = _connector(salesforce_sandbox)
    [result] = connector.upsert("Opportunity", "PRM_Id__c", [UpsertRequest(key="opp_1", fields={
        "Name": "Deal", "StageName": "Proposal", "CloseDate": datetime(2024, 5, 1).date(),
        "Protection_Expires__c": T0, "Registered_Partner__r": {"PRM_Id__c": "ptn_1"},
    })])
    record = app.get_record("Opportunity", result.remote_id)
    assert record["Registered_Partner__c"] == partner and record["CloseDate"] == "2024-05-01"
    assert record["Protection_Expires__c"] == "2024-01-31T10:00:00.000+0000"


def test_a_call_refused_whole_for_one_record_is_halved_until_that_record_fails_alone(salesforce_sandbox):
    connector = _connector(salesforce_sandbox)
    results = connector.upsert("Account", "PRM_Id__c", [
        UpsertRequest(key="a", fields={"Name": "a"}), UpsertRequest(key="b", fields={"Name": "b", "Nope__c": 1}),
    ])
    assert [(r.ok, r.error_code) for r in results] == [(True, None), (False, "INVALID_FIELD")]
    assert salesforce_sandbox.app.calls["collections.upsert"] == 3  # the pair, then each alone
    assert [a["Name"] for a in salesforce_sandbox.app.all_records("Account")] == ["a"]


def test_fields_the_org_lacks_are_named_all_at_once_for_a_read_and_a_write(salesforce_sandbox):
    """Salesforce names the first unknown column (or the missing external id) only; the connector names them all."""
    connector = _connector(salesforce_sandbox)
    with pytest.raises(ConfigError) as read:
        list(connector.read_all("Lead", ["LastName", "Partner_Tier__c", "Territory__c"]))
    with pytest.raises(ConfigError) as write:
        connector.upsert("Lead", "PRM_Id__c", [
            UpsertRequest(key="l1", fields={"LastName": "Lee", "Partner_Tier__c": "Gold"}),
            UpsertRequest(key="l2", fields={"LastName": "Ng", "Domain__c": "ng.example"}),
        ])
    for caught, missing in ((read, "Partner_Tier__c, Territory__c"), (write, "PRM_Id__c, Partner_Tier__c, Domain__c")):
        line = str(caught.value)
        assert f"no field {missing} on Lead" in line and "prm-sync setup" in line, line
    assert salesforce_sandbox.app.all_records("Lead") == []


def test_lost_confirmation_is_retried_without_a_duplicate(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.faults.drop_after_write = 1
    connector = _connector(salesforce_sandbox)
    [result] = connector.upsert("Account", "PRM_Id__c", [UpsertRequest(key="p1", fields={"Name": "once"})])
    assert result.ok and connector.api_calls == 2
    assert [r["PRM_Id__c"] for r in app.all_records("Account")] == ["p1"]


def test_large_upsert_goes_through_bulk_api_and_maps_results(salesforce_sandbox):
    connector = _connector(salesforce_sandbox, bulk_threshold=2)
    requests = [UpsertRequest(key=f"p{i}", fields={"Name": f"n{i}", "IsPartner": True}) for i in range(4)]
    requests.append(UpsertRequest(key="bad", fields={"Name": None}))
    results = connector.upsert("Account", "PRM_Id__c", requests)
    assert [r.ok for r in results] == [True, True, True, True, False]
    assert results[4].error_code == "REQUIRED_FIELD_MISSING"
    assert salesforce_sandbox.app.bulk_jobs.jobs  # the ingest path was used
    assert {r["PRM_Id__c"] for r in salesforce_sandbox.app.all_records("Account")} == {"p0", "p1", "p2", "p3"}


def test_read_all_uses_rest_when_small_and_bulk_when_large(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.insert_records("Account", [{"Name": f"n{i}", "IsPartner": i == 0, "PRM_Id__c": f"p{i}"} for i in range(5)])
    small = list(_connector(salesforce_sandbox).read_all("Account", ["Name", "IsPartner", "Type"]))
    large = list(_connector(salesforce_sandbox, bulk_threshold=2).read_all("Account", ["Name", "IsPartner", "Type"]))
    assert [j.kind for j in app.bulk_jobs.jobs.values()] == ["query"]  # only the large read used bulk
    assert sorted((r.id, r.fields["IsPartner"], r.fields["Type"]) for r in large) == \
        sorted((r.id, r.fields["IsPartner"], r.fields["Type"]) for r in small)
    assert small[0].fields["IsPartner"] is True and small[0].fields["Type"] is None


def test_describe_maps_fields_and_is_cached(salesforce_sandbox):
    connector = _connector(salesforce_sandbox)
    fields = {f.name: f for f in connector.describe("Opportunity")}
    calls = connector.api_calls
    connector.describe("Opportunity")
    assert connector.api_calls == calls
    assert fields["Name"].required_on_create and not fields["Amount"].required_on_create
    assert fields["Registered_Partner__c"].type == "reference" and fields["StageName"].picklist_values[-1] == "Closed Lost"
    assert {f.name: f for f in connector.describe("Account")}["PRM_Id__c"].external_id
    assert fields["IsWon"].updateable is False


def test_503_then_success_is_retried(salesforce_sandbox):
    salesforce_sandbox.app.faults.fail_next_5xx = 2
    connector = _connector(salesforce_sandbox)
    assert list(connector.read_changes("Account", ["Name"], Cursor())) == []
    assert connector.api_calls == 4  # two 503s, then describe and query


def test_concurrency_403_is_retried_as_transient(salesforce_sandbox):
    salesforce_sandbox.app.faults.burst_429 = 1
    connector = _connector(salesforce_sandbox)
    assert list(connector.read_all("Account", ["Name"])) == []


def test_exhausted_retries_raise_transient_error(salesforce_sandbox):
    salesforce_sandbox.app.faults.fail_next_5xx = 10
    connector = _connector(salesforce_sandbox, max_retries=2)
    with pytest.raises(TransientError) as info:
        connector.describe("Account")
    assert info.value.info.code == "SERVER_UNAVAILABLE" and connector.api_calls == 3


def test_quota_reserve_stops_before_the_last_ten_percent(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.daily_limit, app.api_used = 100, 85
    connector = _connector(salesforce_sandbox)
    with pytest.raises(QuotaExhausted) as info:
        for _ in range(20):
            connector.quota()
            list(connector.read_all("Account", ["Name"]))
    assert info.value.info.code == "QUOTA_RESERVE_REACHED"
    assert app.api_used == 90 and connector.quota().remaining == 10


def test_remote_quota_exhaustion_is_quota_exhausted(salesforce_sandbox):
    salesforce_sandbox.app.daily_limit = 0
    with pytest.raises(QuotaExhausted) as info:
        _connector(salesforce_sandbox).describe("Account")
    assert info.value.info.code == "REQUEST_LIMIT_EXCEEDED"


def test_wrong_token_is_auth_error_without_the_token_in_the_message(salesforce_sandbox):
    with pytest.raises(AuthError) as info:
        _connector(salesforce_sandbox, access_token="s3cret-wrong").describe("Account")
    assert info.value.info.code == "INVALID_SESSION_ID" and "s3cret" not in str(info.value)


def test_bad_where_clause_is_a_config_error(salesforce_sandbox):
    connector = _connector(salesforce_sandbox)
    with pytest.raises(ConfigError, match="INVALID_FIELD"):
        list(connector.read_changes("Account", ["Name"], Cursor(), where="Nope__c = 1"))


def test_client_side_rate_limit_spaces_requests(salesforce_sandbox):
    connector = _connector(salesforce_sandbox, max_requests_per_second=50)
    started = time.perf_counter()
    for _ in range(5):
        connector.quota()
        connector.sf.limits()
    assert time.perf_counter() - started >= 4 / 50


def test_tls_verifies_against_our_ca_even_with_env_bundles(salesforce_sandbox, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert _connector(salesforce_sandbox).describe("Account")
    other_ca = make_sandbox_ca(tmp_path / "other")
    with pytest.raises(ConfigError, match="TLS verification"):
        _connector(salesforce_sandbox, ca_bundle=str(other_ca.ca_bundle)).describe("Account")
    with pytest.raises(ConfigError, match="TLS verification"):
        _connector(salesforce_sandbox, ca_bundle=None).describe("Account")


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="instance_url"):
        SalesforceSettings(instance_url="not a url", access_token="t")
    with pytest.raises(ValueError, match="api_version"):
        SalesforceSettings(instance_url="https://x.my.salesforce.com", access_token="t", api_version="v59")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain", "'plain'", id="plain"),
        pytest.param("O'Brien", "'O\\'Brien'", id="quote"),
        pytest.param("back\\slash", "'back\\\\slash'", id="backslash"),
        pytest.param("two\nlines\r\tend", "'two\\nlines\\r\\tend'", id="control-chars"),
        pytest.param("Zürich 東京", "'Zürich 東京'", id="unicode-passes-through"),
        pytest.param("x' OR Name != '", "'x\\' OR Name != \\''", id="injection"),
    ],
)
def test_soql_quote(value, expected):
    assert soql_quote(value) == expected


def test_soql_literals():
    assert soql_literal(None) == "null" and soql_literal(True) == "true" and soql_literal(3) == "3"
    assert soql_literal(T0) == "2024-01-31T10:00:00.000Z" and soql_literal(T0.date()) == "2024-01-31"
    assert soql_literal(["a", "b'"]) == "('a', 'b\\'')"
    with pytest.raises(ValueError):
        soql_literal(float("nan"))


@pytest.mark.parametrize(
    "name",
    ["x' OR Name != '", "back\\slash' OR '1'='1", "multi\nline", "quote\"double", "Zürich"],
    ids=["or-injection", "backslash-injection", "newline", "double-quote", "unicode"],
)
def test_quoted_values_match_exactly_one_record_in_the_sandbox(salesforce_sandbox, name):
    app = salesforce_sandbox.app
    app.insert_records("Account", [{"Name": name}, {"Name": "victim"}, {"Name": "x"}])
    connector = _connector(salesforce_sandbox)
    rows = list(connector.read_changes("Account", ["Name"], Cursor(), where=f"Name = {soql_quote(name)}"))
    assert [r.fields["Name"] for r in rows] == [name]


def test_request_bodies_carry_money_and_refuse_what_json_cannot_say() -> None:
    import json
    from decimal import Decimal

    from connectors.salesforce import _json_body, _to_json

    row = {k: _to_json(v) for k, v in {"Amount__c": Decimal("1234.50"), "Name": "Acme", "At__c": datetime(2024, 3, 1, tzinfo=UTC)}.items()}
    assert json.loads(_json_body({"records": [row]})) == {
        "records": [{"Amount__c": 1234.5, "Name": "Acme", "At__c": "2024-03-01T00:00:00.000Z"}]
    }
    assert json.loads(_json_body({"n": 2**70})) == {"n": 2**70}  # past orjson's 64 bits: the standard library
    for bad in (float("nan"), Decimal("Infinity")):
        with pytest.raises(ValueError, match="not a number"):
            _to_json(bad)
