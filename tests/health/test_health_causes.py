"""Remote errors read into field, value and allowed values; failures grouped by cause; links; schedules; table fitting.

Error texts are the systems' own: HubSpot's ``Property values were not
valid`` with its JSON list (options as HubSpot prints them, protobuf text),
Salesforce's restricted picklist, missing field and missing parent messages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from prm_sync.cli.output import Col, fit_columns
from prm_sync.config import AppConfig
from prm_sync.config.settings import HubSpotConfig, SalesforceConfig, SchedulesConfig, SystemsConfig
from prm_sync.health.causes import group_failures, parse_error
from prm_sync.health.links import record_url
from prm_sync.health.schedule import freshness_window, next_ticks
from prm_sync.store.failures import FailedRecord

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

HUBSPOT_OPTIONS = (
    'approved was not one of the allowed options: [label: "Submitted"\nvalue: "submitted"\ndisplay_order: 0\n'
    'hidden: false\n, label: "Under review"\nvalue: "under_review"\ndisplay_order: 1\nhidden: false\n, '
    'label: "Won"\nvalue: "won"\n, label: "Lost"\nvalue: "lost"\n]'
)


def _hubspot_message(detail_message: str, code: str, name: str) -> str:
    return "Property values were not valid: " + json.dumps(
        [{"isValid": False, "message": detail_message, "error": code, "name": name, "localizedErrorMessage": detail_message}])


@pytest.mark.parametrize(
    ("code", "message", "fields", "expected"),
    [
        ("INVALID_OPTION", _hubspot_message(HUBSPOT_OPTIONS, "INVALID_OPTION", "status"), ["status"],
         ("status", "approved", ["submitted", "under_review", "won", "lost"], "picklist",
          "status: 'approved' is not one of submitted, under_review, won, lost")),
        ("INVALID_OPTION", _hubspot_message("Gold was not one of the allowed options: [bronze, silver]",
                                            "INVALID_OPTION", "partner_tier"), [],
         ("partner_tier", "Gold", ["bronze", "silver"], "picklist",
          "partner_tier: 'Gold' is not one of bronze, silver")),
        ("PROPERTY_DOESNT_EXIST", _hubspot_message('Property "prm_region" does not exist', "PROPERTY_DOESNT_EXIST",
                                                   "prm_region"), ["prm_region"],
         ("prm_region", None, [], "missing_field", "prm_region: the property does not exist in HubSpot")),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value for restricted picklist field: approved",
         ["Status__c"], ("Status__c", "approved", [], "picklist", "Status__c: 'approved' is not in the picklist")),
        ("INVALID_FIELD", "No such column 'Partner_Region__c' on sobject of type Account", [],
         ("Partner_Region__c", None, [], "missing_field", "Partner_Region__c: no such field in the CRM")),
        ("INVALID_FIELD", "Foreign key external ID: ptn_1 not found for field PRM_Id__c in entity Account",
         ["AccountId"], ("AccountId", "ptn_1", [], "missing_parent",
                         "AccountId: no Account with PRM_Id__c = ptn_1 in the CRM")),
        ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"],
         ("LastName", None, [], "required", "required and empty: LastName")),
        ("STRING_TOO_LONG", "Name: data value too large: " + "A" * 90 + " (max length=80)", ["Name"],
         ("Name", "A" * 59 + "…", [], "too_long", "Name: longer than 80 characters")),
        ("INVALID_OPTION", "batch upsert: " + _hubspot_message("Gold was not one of the allowed options: [bronze, silver]",
                                                                "INVALID_OPTION", "partner_tier"), [],
         ("partner_tier", "Gold", ["bronze", "silver"], "picklist", "partner_tier: 'Gold' is not one of bronze, silver")),
    ],
    ids=["hubspot-options-protobuf", "hubspot-options-short", "hubspot-missing-property", "salesforce-picklist",
         "salesforce-missing-field", "salesforce-missing-parent", "required", "too-long",
         "hubspot-behind-the-connectors-call-name"],
)
def test_remote_errors_are_read_into_field_value_and_allowed(code, message, fields, expected) -> None:
    detail = parse_error(code, message, fields)
    assert (detail.field, detail.value, detail.allowed, detail.kind, detail.problem) == expected


def _failure(failure_id: int, **changes) -> FailedRecord:
    base = {
        "id": failure_id, "run_id": "run_1", "system": "hubspot", "remote_object": "p_deal_registrations",
        "entity": "deal_registration", "record_key": f"reg_{failure_id}", "operation": "upsert",
        "payload": {"status": "approved"}, "error_code": "INVALID_OPTION",
        "error_message": _hubspot_message(HUBSPOT_OPTIONS, "INVALID_OPTION", "status"), "error_fields": ["status"],
        "attempts": 1, "first_seen": NOW - timedelta(hours=failure_id), "last_seen": NOW - timedelta(minutes=failure_id),
        "status": "open", "resolution": None, "resolved_at": None,
    }
    return FailedRecord.model_validate({**base, **changes})


def test_failures_group_by_cause_with_counts_example_and_next_commands() -> None:
    found = [_failure(1), _failure(2), _failure(3),
             _failure(4, system="salesforce", remote_object="Account", entity="partner", error_code="STRING_TOO_LONG",
                      error_message="Name: data value too large: x (max length=80)", error_fields=["Name"],
                      payload={"Name": "x"})]

    groups = group_failures(found, url_for=lambda f: f"https://crm.example/{f.record_key}",
                            prm_field_for=lambda f, remote: {"status": "status", "Name": "name"}.get(remote))

    first = groups[0]
    assert (first.count, first.error_code, first.field, first.ids) == (3, "INVALID_OPTION", "status", [1, 2, 3])
    assert first.problem == "status: 'approved' is not one of submitted, under_review, won, lost"
    assert (first.first_seen, first.last_seen) == (NOW - timedelta(hours=3), NOW - timedelta(minutes=1))
    assert first.example.id == 1 and first.example.url == "https://crm.example/reg_1"  # the latest one
    assert first.values == {"approved": 3} and "option" in first.guidance
    assert first.next_steps[:2] == ["prm-sync failures show 1", "prm-sync failures fix 1 --set status=VALUE"]
    assert first.next_steps[-1] == ("prm-sync failures replay --system hubspot --object p_deal_registrations "
                                    "--error-code INVALID_OPTION --dry-run")
    assert (groups[1].count, groups[1].system, groups[1].kind) == (1, "salesforce", "too_long")


def test_a_read_failure_is_fixed_in_the_crm_not_with_set() -> None:
    read = _failure(7, operation="read", record_key="12345")
    steps = group_failures([read], prm_field_for=lambda f, remote: "status")[0].next_steps
    assert "fix the record in hubspot, then: prm-sync failures replay 7" in steps
    assert not any("--set" in s for s in steps)


def test_crm_record_links() -> None:
    config = AppConfig(systems=SystemsConfig(
        salesforce=SalesforceConfig(instance_url="https://acme.my.salesforce.com/"),
        hubspot=HubSpotConfig(portal_id=4242),
    ))
    assert record_url(config, "salesforce", "Opportunity", "006A") == (
        "https://acme.my.salesforce.com/lightning/r/Opportunity/006A/view")
    assert record_url(config, "hubspot", "companies", "99") == "https://app.hubspot.com/contacts/4242/record/0-2/99"
    assert record_url(config, "hubspot", "p_deal_registrations", "99") is None  # its type id is not configured
    assert record_url(config, "salesforce", "Account", None) is None  # a failed create has no record yet
    no_portal = AppConfig(systems=SystemsConfig(hubspot=HubSpotConfig()))
    assert record_url(no_portal, "hubspot", "companies", "99") is None


def test_schedules_next_ticks_and_freshness_window() -> None:
    hourly = SchedulesConfig(timezone="Europe/Berlin", incremental_cron="5 * * * *")
    assert next_ticks("5 * * * *", "Europe/Berlin", NOW, 2)[0].astimezone(UTC) == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert freshness_window(hourly, NOW) == timedelta(minutes=130)  # two missed hourly ticks, plus the run
    assert freshness_window(hourly, NOW, override_minutes=45) == timedelta(minutes=45)


def test_columns_are_dropped_by_priority_until_the_table_fits() -> None:
    cols = [Col("id"), Col("message", wrap=True, min_width=20), Col("object", priority=1), Col("seen", priority=2)]
    rows = [("42", "x" * 200, "Deal_Registration__c", "2026-11-23 09:30")]
    assert fit_columns(cols, rows, 120) == [0, 1, 2, 3]
    assert fit_columns(cols, rows, 60) == [0, 1, 2]  # the highest priority number goes first
    assert fit_columns(cols, rows, 30) == [0, 1]
