"""Conformance: the Salesforce sandbox driven by simple-salesforce itself (queries, REST records, describe)."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)


def _accounts(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"Name": f"Account {i:05d}", "PRM_Id__c": f"ptn_{i}", **extra} for i in range(n)]


def test_query_pages_with_next_records_url_over_2000_rows(salesforce_sandbox):
    salesforce_sandbox.app.insert_records("Account", _accounts(4500))
    sf = salesforce_sandbox.client()
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["records"][0]["attributes"]["type"] == "Account"
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name")
    names = [r["Name"] for r in everything["records"]]
    assert len(names) == 4500 and names == sorted(names)


def test_batch_size_header_is_honoured_within_200_to_2000(salesforce_sandbox):
    salesforce_sandbox.app.insert_records("Account", _accounts(450))
    sf = salesforce_sandbox.client()
    small = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(small["records"]) == 200  # the API raises batchSize to its minimum of 200
    big = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=300"})
    assert len(big["records"]) == 300


def test_query_all_includes_deleted_rows_and_query_does_not(salesforce_sandbox):
    ids = salesforce_sandbox.app.insert_records("Account", _accounts(3))
    sf = salesforce_sandbox.client()
    sf.Account.delete(ids[0])
    live = sf.query("SELECT Id FROM Account")
    every = sf.query_all("SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true", include_deleted=True)
    assert live["totalSize"] == 2
    assert [r["Id"] for r in every["records"]] == [ids[0]]


def test_count_query_returns_total_without_records(salesforce_sandbox):
    salesforce_sandbox.app.insert_records("Account", _accounts(7))
    result = salesforce_sandbox.client().query("SELECT COUNT() FROM Account WHERE Name LIKE 'Account 0000%'")
    assert result == {"totalSize": 7, "done": True, "records": []}


@pytest.fixture
def soql_rows(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.clock = None
    rows = [
        {"Name": "Acme", "Type": "Partner", "BillingCity": "Berlin", "PRM_Id__c": "a", "Partner_Tier__c": "Gold"},
        {"Name": "O'Brien & Co", "Type": "Customer", "BillingCity": "Dublin", "PRM_Id__c": "b"},
        {"Name": "back\\slash", "Type": "Prospect", "PRM_Id__c": "c", "IsPartner": True},
        {"Name": "Zürich AG", "Type": "Partner", "BillingCity": "Zürich", "PRM_Id__c": "d", "Partner_Tier__c": "Silver"},
        {"Name": "100%_done", "Type": "Other", "PRM_Id__c": "e"},
    ]
    app.insert_records("Account", rows)
    return salesforce_sandbox.client()


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param("Name = 'acme'", {"a"}, id="equals-is-case-insensitive"),
        pytest.param("Name != 'Acme'", {"b", "c", "d", "e"}, id="not-equals"),
        pytest.param("Name <> 'Acme'", {"b", "c", "d", "e"}, id="angle-not-equals"),
        pytest.param("Name = 'O\\'Brien & Co'", {"b"}, id="escaped-quote"),
        pytest.param("Name = 'back\\\\slash'", {"c"}, id="escaped-backslash"),
        pytest.param("Name = 'Zürich AG'", {"d"}, id="unicode-literal"),
        pytest.param("Name LIKE 'a%'", {"a"}, id="like-percent"),
        pytest.param("Name LIKE '_cme'", {"a"}, id="like-underscore"),
        pytest.param("Name LIKE '100\\%\\_done'", {"e"}, id="like-escaped-wildcards"),
        pytest.param("Type IN ('Partner', 'Other')", {"a", "d", "e"}, id="in"),
        pytest.param("Type NOT IN ('Partner', 'Other')", {"b", "c"}, id="not-in"),
        pytest.param("BillingCity = null", {"c", "e"}, id="equals-null"),
        pytest.param("BillingCity != null AND Type = 'Partner'", {"a", "d"}, id="and"),
        pytest.param("Type = 'Customer' OR IsPartner = true", {"b", "c"}, id="or-boolean"),
        pytest.param("NOT Type = 'Partner'", {"b", "c", "e"}, id="not"),
        pytest.param("(Type = 'Partner' OR Type = 'Other') AND Name > 'B'", {"d"}, id="parentheses-and-greater"),
        pytest.param("Name < 'B'", {"a", "e"}, id="less-than"),
        pytest.param("Partner_Tier__c <= 'Gold'", {"a"}, id="less-or-equal"),
        pytest.param("Partner_Tier__c >= 'Silver'", {"d"}, id="greater-or-equal"),
        pytest.param("CreatedDate > 2000-01-01T00:00:00Z", {"a", "b", "c", "d", "e"}, id="datetime-utc"),
        pytest.param("CreatedDate < 2000-01-01T00:00:00.123+02:00", set(), id="datetime-offset-fraction"),
    ],
)
def test_soql_operators(soql_rows, where, expected):
    result = soql_rows.query_all(f"SELECT PRM_Id__c FROM Account WHERE {where}")
    assert {r["PRM_Id__c"] for r in result["records"]} == expected


def test_order_by_multiple_fields_limit_offset_and_nulls(soql_rows):
    result = soql_rows.query("SELECT PRM_Id__c FROM Account ORDER BY Type DESC, Name ASC LIMIT 3 OFFSET 1")
    assert [r["PRM_Id__c"] for r in result["records"]] == ["a", "d", "e"]
    nulls = soql_rows.query("SELECT PRM_Id__c FROM Account ORDER BY BillingCity NULLS LAST, PRM_Id__c")
    assert [r["PRM_Id__c"] for r in nulls["records"]] == ["a", "b", "d", "c", "e"]


def test_date_comparison_on_date_fields(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.insert_records("Opportunity", [
        {"Name": "early", "StageName": "Prospecting", "CloseDate": "2024-01-31"},
        {"Name": "late", "StageName": "Closed Won", "CloseDate": "2024-03-01"},
    ])
    result = salesforce_sandbox.client().query("SELECT Name, IsWon FROM Opportunity WHERE CloseDate > 2024-02-01")
    assert [(r["Name"], r["IsWon"]) for r in result["records"]] == [("late", True)]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        pytest.param("SELECT Id FROM", "MALFORMED_QUERY", id="missing-object"),
        pytest.param("SELECT Id FROM Account WHERE Name = 'x", "MALFORMED_QUERY", id="unterminated-string"),
        pytest.param("SELECT Id FROM Account WHERE A = 1 AND B = 2 OR C = 3", "MALFORMED_QUERY", id="and-or-unparenthesised"),
        pytest.param("SELECT Id FROM Account WHERE Name = 'x' LIMIT", "MALFORMED_QUERY", id="limit-without-number"),
        pytest.param("SELECT Id FROM Account WHERE Name = 'bad \\q'", "MALFORMED_QUERY", id="bad-escape"),
        pytest.param("SELECT Id FROM Account WHERE CreatedDate > 2024-13-45", "MALFORMED_QUERY", id="impossible-date"),
        pytest.param("SELECT Nope__c FROM Account", "INVALID_FIELD", id="unknown-field"),
        pytest.param("SELECT Id FROM Account WHERE Amount__c = 1", "INVALID_FIELD", id="unknown-filter-field"),
        pytest.param("SELECT Id FROM Account WHERE IsPartner = 'yes'", "INVALID_FIELD", id="wrong-literal-type"),
        pytest.param("SELECT Id FROM Widget__c", "INVALID_TYPE", id="unknown-object"),
    ],
)
def test_bad_soql_is_a_400_with_the_api_error_code(salesforce_sandbox, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as info:
        salesforce_sandbox.client().query(soql)
    assert info.value.status == 400
    assert info.value.content[0]["errorCode"] == code


def test_create_get_update_delete_round_trip(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    created = sf.Account.create({"Name": "Acme", "Type": "Partner"})
    assert created["success"] is True and created["id"].startswith("001") and len(created["id"]) == 18
    record = sf.Account.get(created["id"])
    assert record["Name"] == "Acme" and record["IsDeleted"] is False
    assert record["SystemModstamp"].endswith("+0000") and record["PRM_Id__c"] is None
    assert sf.Account.get(created["id"][:15])["Id"] == created["id"]  # 15-char ids work too
    assert sf.Account.update(created["id"], {"BillingCity": "Berlin"}) == 204
    after = sf.Account.get(created["id"], params={"fields": "BillingCity,SystemModstamp"})
    assert after["BillingCity"] == "Berlin" and after["SystemModstamp"] >= record["SystemModstamp"]
    assert set(after) == {"attributes", "BillingCity", "SystemModstamp"}
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])
    assert salesforce_sandbox.app.get_record("Account", created["id"])["IsDeleted"] is True


def test_upsert_by_external_id_creates_201_then_updates_200(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    first = sf.Account.upsert("PRM_Id__c/ptn-1", {"Name": "Acme"}, raw_response=True)
    assert first.status_code == 201 and first.json()["created"] is True
    again = sf.Account.upsert("PRM_Id__c/ptn-1", {"Name": "Acme Inc"}, raw_response=True)
    assert again.status_code == 200 and again.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.Account.get_by_custom_id("PRM_Id__c", "ptn-1")["Name"] == "Acme Inc"


def test_upsert_on_a_field_that_is_not_an_external_id_is_404(salesforce_sandbox):
    with pytest.raises(SalesforceResourceNotFound) as info:
        salesforce_sandbox.client().Account.upsert("Name/Acme", {"Type": "Partner"})
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_with_several_matches_on_a_non_unique_external_id_is_300(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    sf.toolingexecute("sobjects/CustomField/", method="POST", data={
        "FullName": "Account.Legacy_Key__c", "Metadata": {"type": "Text", "length": 20, "label": "Legacy", "externalId": True},
    })
    salesforce_sandbox.grant("Account.Legacy_Key__c")
    salesforce_sandbox.app.insert_records("Account", [{"Name": "a", "Legacy_Key__c": "K"}, {"Name": "b", "Legacy_Key__c": "K"}])
    response = sf.session.request("PATCH", sf.base_url + "sobjects/Account/Legacy_Key__c/K", json={"Name": "c"},
                                  headers=sf.headers)
    assert response.status_code == 300 and len(response.json()) == 2


def test_describe_reports_fields_with_types_and_picklists(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    describe = sf.Account.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "001"
    assert fields["Name"]["nillable"] is False and fields["Name"]["length"] == 255
    assert fields["PRM_Id__c"]["externalId"] is True and fields["PRM_Id__c"]["unique"] is True
    assert [p["value"] for p in fields["Partner_Tier__c"]["picklistValues"]] == ["Registered", "Silver", "Gold", "Platinum"]
    assert set(fields["Type"]["picklistValues"][0]) >= {"value", "label", "active", "defaultValue"}
    assert fields["SystemModstamp"]["createable"] is False and fields["Id"]["defaultedOnCreate"] is True
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opportunity["Registered_Partner__c"]["referenceTo"] == ["Account"]
    assert opportunity["Registered_Partner__c"]["relationshipName"] == "Registered_Partner__r"
    assert opportunity["IsWon"]["updateable"] is False
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Opportunity", "OpportunityPartner", "Deal_Registration__c"} <= names


def test_wrong_token_is_401_invalid_session_id(salesforce_sandbox):
    with pytest.raises(SalesforceExpiredSession) as info:
        salesforce_sandbox.client(access_token="wrong").query("SELECT Id FROM Account")
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_spent_daily_budget_is_403_request_limit_exceeded(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.daily_limit = 3
    sf = salesforce_sandbox.client()
    for _ in range(3):
        sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 3 and sf.api_usage["api-usage"].total == 3
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert info.value.content[0]["message"] == "TotalRequests Limit exceeded."


def test_fault_quota_remaining_also_exhausts(salesforce_sandbox):
    salesforce_sandbox.app.faults.quota_remaining = 1
    sf = salesforce_sandbox.client()
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Account")


def test_unimplemented_path_is_501_json_and_recorded(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    with pytest.raises(SalesforceGeneralError) as info:
        sf.restful("analytics/reports")
    assert info.value.status == 501 and "does not implement" in info.value.content["message"]
    assert salesforce_sandbox.app.unimplemented == ["GET /services/data/v59.0/analytics/reports"]
    salesforce_sandbox.app.unimplemented.clear()  # expected here; the fixture asserts it is empty


def test_unknown_object_is_404(salesforce_sandbox):
    with pytest.raises(SalesforceResourceNotFound):
        salesforce_sandbox.client().Widget__c.describe()
