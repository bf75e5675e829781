"""Conformance: Bulk API 2.0 through simple-salesforce's bulk2 client, and sandbox speed at volume."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceOperationError


def test_bulk2_upsert_reports_successes_and_failures(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.insert_records("Account", [{"Name": "Old", "PRM_Id__c": "p1"}])
    bulk = salesforce_sandbox.client().bulk2.Account
    rows = [
        {"PRM_Id__c": "p1", "Name": "Renamed", "Partner_Tier__c": ""},
        {"PRM_Id__c": "p2", "Name": "New", "Partner_Tier__c": "Gold"},
        {"PRM_Id__c": "p3", "Name": "Bad", "Partner_Tier__c": "Diamond"},
    ]
    [job] = bulk.upsert(records=rows, external_id_field="PRM_Id__c", wait=0)
    assert job["numberRecordsProcessed"] == 3 and job["numberRecordsFailed"] == 1
    results = bulk.get_all_ingest_records(job["job_id"])
    created = {r["PRM_Id__c"]: r["sf__Created"] for r in results["successfulRecords"]}
    assert created == {"p1": "false", "p2": "true"}
    [failed] = results["failedRecords"]
    assert failed["PRM_Id__c"] == "p3" and failed["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert results["unprocessedRecords"] == []
    assert {r["Name"] for r in app.all_records("Account")} == {"Renamed", "New"}


def test_bulk2_insert_and_delete(salesforce_sandbox):
    app = salesforce_sandbox.app
    bulk = salesforce_sandbox.client().bulk2.Contact
    [job] = bulk.insert(records=[{"LastName": "A"}, {"LastName": "B"}], wait=0)
    assert job["numberRecordsFailed"] == 0
    ids = [r["Id"] for r in app.all_records("Contact")]
    [gone] = bulk.delete(records=[{"Id": i} for i in ids], wait=0)
    assert gone["numberRecordsProcessed"] == 2 and app.all_records("Contact") == []


def test_bulk2_job_with_an_unknown_column_fails(salesforce_sandbox):
    bulk = salesforce_sandbox.client().bulk2.Account
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        bulk.insert(records=[{"Name": "x", "Nope__c": "y"}], wait=0)


def test_bulk2_job_lifecycle_over_raw_http(salesforce_sandbox):
    sf = salesforce_sandbox.client()
    job = sf.restful("jobs/ingest", method="POST", json={"object": "Account", "operation": "insert", "contentType": "CSV",
                                                         "lineEnding": "LF"})
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"jobs/ingest/{job['id']}/batches")
    upload = sf.session.put(sf.base_url + f"jobs/ingest/{job['id']}/batches", data=b"Name\nOne\n",
                            headers={**sf.headers, "Content-Type": "text/csv"})
    assert upload.status_code == 201
    assert sf.restful(f"jobs/ingest/{job['id']}", method="PATCH", json={"state": "UploadComplete"})["state"] == "UploadComplete"
    states = [sf.restful(f"jobs/ingest/{job['id']}")["state"] for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]
    sf.restful(f"jobs/ingest/{job['id']}", method="DELETE")
    assert [j for j in sf.restful("jobs/ingest")["records"] if j["id"] == job["id"]] == []


def test_bulk2_query_pages_with_locator(salesforce_sandbox):
    app = salesforce_sandbox.app
    app.insert_records("Account", [{"Name": f"A{i:03d}", "IsPartner": i % 2 == 0} for i in range(250)])
    pages = list(salesforce_sandbox.client().bulk2.Account.query(
        "SELECT Id, Name, IsPartner FROM Account ORDER BY Name", max_records=100, wait=0))
    assert len(pages) == 3
    rows = [row for text in pages for row in csv.DictReader(io.StringIO(text))]
    assert len(rows) == 250 and rows[0]["Name"] == "A000" and rows[0]["IsPartner"] == "true"
    assert pages[0].startswith('"Id","Name","IsPartner"')


def test_sixty_thousand_records_take_collection_upserts_by_external_id(salesforce_sandbox):
    """At 60,000 records, upserts by external id still find every record (speed is the benchmarks' job)."""
    app = salesforce_sandbox.app
    app.insert_records("Account", [{"Name": f"Bulk {i}", "PRM_Id__c": f"k{i}"} for i in range(60_000)])
    sf = salesforce_sandbox.client()
    for call in range(30):
        start = call * 2000  # spread over the whole range, 200 records a call
        records = [{"attributes": {"type": "Account"}, "PRM_Id__c": f"k{start + i}", "BillingCity": "X"}
                   for i in range(200)]
        results = sf.restful("composite/sobjects/Account/PRM_Id__c", method="PATCH", json={"records": records})
        assert all(r["success"] and not r["created"] for r in results)
    count = sf.query("SELECT COUNT() FROM Account WHERE BillingCity = 'X'")["totalSize"]
    assert count == 6_000
