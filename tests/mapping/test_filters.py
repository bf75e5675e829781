"""Mapping filters parsed in the system's syntax: what a SOQL or HubSpot filter may and may not say."""

from __future__ import annotations

import pytest

from prm_sync.config.settings import HubSpotConfig, SalesforceConfig, WebhooksConfig, salesforce_id_checksum
from prm_sync.mapping.filters import hubspot_filter_problem, odoo_domain_problem, soql_filter_problem


@pytest.mark.parametrize(
    "soql",
    [
        pytest.param("IsPartner = true", id="comparison"),
        pytest.param("Account.IsPartner = true", id="relationship-field"),
        pytest.param("Type IN ('Partner', 'Reseller') AND NOT (Name LIKE 'Test%')", id="in-not-like"),
        pytest.param("Id IN (SELECT AccountId FROM Contact WHERE Email != null)", id="semi-join"),
        pytest.param("CreatedDate = LAST_N_DAYS:30 OR CloseDate >= 2026-01-01", id="date-literals"),
        pytest.param("Name = 'O\\'Brien' AND Amount > 1000.5", id="escaped-quote-and-decimal"),
        pytest.param("Tags__c INCLUDES ('gold')", id="multi-select"),
    ],
)
def test_soql_conditions_a_mapping_may_use(soql: str) -> None:
    assert soql_filter_problem(soql) is None


@pytest.mark.parametrize(
    ("soql", "why"),
    [
        pytest.param("IsPartner = true) OR (Name != ''", "never opened", id="escapes-the-wrapper"),
        pytest.param("Name = 'Acme", "unterminated quote", id="unterminated-quote"),
        pytest.param("IsPartner = true ORDER BY Name LIMIT 1", "'ORDER'", id="extra-clause"),
        pytest.param("IsPartner = true; DELETE", "';'", id="second-statement"),
        pytest.param("(IsPartner = true", "expected", id="unclosed-parenthesis"),
        pytest.param("IsPartner = true OR", "field name", id="dangling-or"),
        pytest.param("(" * 30 + "a = 1" + ")" * 30, "nest", id="deep-nesting"),
        pytest.param("  ", "empty", id="blank"),
    ],
)
def test_soql_filters_refused(soql: str, why: str) -> None:
    problem = soql_filter_problem(soql)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("clause", "why"),
    [
        pytest.param({"propertyName": "is_partner", "operator": "EQ", "value": "true"}, None, id="eq"),
        pytest.param({"propertyName": "tier", "operator": "IN", "values": ["gold", "platinum"]}, None, id="in"),
        pytest.param({"propertyName": "is_partner", "operator": "EQ OR 1", "value": "true"}, "operator", id="operator"),
        pytest.param({"propertyName": "is_partner", "operator": "EQ", "value": {"or": [1]}}, "value", id="nested-value"),
        pytest.param({"propertyName": "a b", "operator": "EQ", "value": "x"}, "propertyName", id="property-name"),
        pytest.param({"propertyName": "a", "operator": "EQ", "filters": []}, "unknown key", id="extra-key"),
        pytest.param(["is_partner", "EQ"], "object", id="not-an-object"),
    ],
)
def test_hubspot_filters(clause: object, why: str | None) -> None:
    problem = hubspot_filter_problem(clause)
    assert (problem is None) if why is None else (problem is not None and why in problem)


@pytest.mark.parametrize(
    ("id15", "suffix"),
    [("001A0000006Vm9r", "IAC"), ("00D000000000001", "EAA"), ("00D5g000004ABCD", "EA4")],
)
def test_salesforce_case_safe_checksum(id15: str, suffix: str) -> None:
    assert salesforce_id_checksum(id15) == suffix
    if not id15.startswith("00D"):  # an account id: only org ids are configured
        return
    WebhooksConfig(salesforce={"organization_ids": [id15 + suffix, id15 + suffix.lower(), id15]})
    with pytest.raises(ValueError, match="wrong checksum"):
        WebhooksConfig(salesforce={"organization_ids": [id15 + ("AAB" if suffix != "AAB" else "AAC")]})


def test_plain_http_only_to_this_machine_unless_allowed() -> None:
    for url in ("http://127.0.0.1:8443", "http://localhost:1", "http://[::1]:9", "https://api.hubapi.com"):
        HubSpotConfig(base_url=url)
    with pytest.raises(ValueError, match="clear text"):
        HubSpotConfig(base_url="http://api.hubapi.com")
    with pytest.raises(ValueError, match="clear text"):
        SalesforceConfig(instance_url="http://acme.my.salesforce.com", auth={"method": "static_token"})
    assert HubSpotConfig(base_url="http://10.0.0.5", allow_insecure_http=True).allow_insecure_http


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        pytest.param([["move_type", "in", ["out_invoice", "out_refund"]]], None, id="in-list"),
        pytest.param(["|", ["state", "=", "posted"], ["state", "=", "cancel"], ["partner_id.x_prm_id", "!=", None]],
                     None, id="or-and-implicit-and"),
        pytest.param(["!", ["state", "=", "draft"]], None, id="not"),
        pytest.param(["|", ["state", "=", "posted"]], "two terms", id="or-missing-a-term"),
        pytest.param([["state", "= 1 or", "posted"]], "operator", id="bad-operator"),
        pytest.param([["state", "=", {"x": 1}]], "value", id="nested-value"),
        pytest.param([["State; drop", "=", "x"]], "field name", id="bad-field"),
        pytest.param([["state", "="]], "each Odoo domain term", id="two-item-term"),
    ],
)
def test_odoo_domains(domain: list[object], why: str | None) -> None:
    problem = odoo_domain_problem(domain)
    assert (problem is None) if why is None else (problem is not None and why in problem[1])
