"""A new customer connects a fresh Salesforce org and HubSpot portal: ``prm-sync setup`` comes first.

The org and the portal start as real ones do, without our custom fields,
properties and objects. Without setup the first sync fails, naming the
missing field and the command; ``validate --remote`` lists what is missing.
``setup --dry-run`` prints the plan as a table, ``setup`` creates it (read
back through simple-salesforce and hubspot-api-client), the first sync then
has no failure, and a second setup finds nothing to do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.sandbox.seeding import seed_sandboxes
from prm_sync.demo import seed_store
from prm_sync.model import Partner

SYSTEMS = ("salesforce", "hubspot")


def _fresh(make_world: Any, systems: tuple[str, ...] = SYSTEMS) -> Any:
    return make_world(systems=systems, bare=True, provision=False)


def _account_fields(world: Any) -> set[str]:
    return {f["name"] for f in world.salesforce.Account.describe()["fields"]}


def _company_properties(world: Any) -> set[str]:
    return {p.name for p in world.hubspot.crm.properties.core_api.get_all("companies").results}


# the sandbox routes that create or change something (everything else setup calls only reads)
WRITES = ("create", "update", "upsert", "delete", "collections.", "tooling.", "bulk.", "properties.create",
          "properties.groups.create", "properties.update", "schemas.create", "associations.labels.create")


def _remote_writes(world: Any, before: dict[str, dict[str, int]]) -> dict[str, int]:
    """Calls that wrote to a CRM since ``before`` (a snapshot of each sandbox's call counter)."""
    out: dict[str, int] = {}
    for system in SYSTEMS:
        for route, count in world.env.apps[system].calls.items():
            grown = count - before[system].get(route, 0)
            if grown and route.startswith(WRITES):
                out[f"{system}:{route}"] = grown
    return out


def _calls(world: Any) -> dict[str, dict[str, int]]:
    return {s: dict(world.env.apps[s].calls) for s in SYSTEMS}


def test_setup_on_a_fresh_org_and_portal_then_the_first_sync_has_no_failures(make_world: Any, monkeypatch: Any) -> None:
    world = _fresh(make_world)
    assert "Partner_Tier__c" not in _account_fields(world) and "partner_tier" not in _company_properties(world)

    monkeypatch.setenv("COLUMNS", "80")
    planned = world.cli("setup", "--dry-run")
    assert planned.exit_code == 0, planned.output
    lines = planned.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, planned.stdout
    assert "Account.PRM_Id__c" in planned.stdout and "Deal_Registration__c" in planned.stdout
    assert "companies.partner_tier" in planned.stdout and "Registering partner" in planned.stdout
    assert "Partner_Tier__c" not in _account_fields(world)  # a dry run creates nothing

    done = world.cli("setup", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["counts"] == {"created": len(result["items"])} and len(result["items"]) > 40

    account = {f["name"]: f for f in world.salesforce.Account.describe()["fields"]}
    assert account["PRM_Id__c"]["externalId"] and account["PRM_Id__c"]["unique"]
    assert [p["value"] for p in account["Partner_Tier__c"]["picklistValues"]] == ["Registered", "Silver", "Gold",
                                                                                 "Platinum"]
    registration = {f["name"]: f for f in world.salesforce.Deal_Registration__c.describe()["fields"]}
    assert registration["Partner__c"]["referenceTo"] == ["Account"]
    tier = world.hubspot.crm.properties.core_api.get_by_name("companies", "partner_tier")
    assert [o.value for o in tier.options] == ["registered", "silver", "gold", "platinum"]
    assert tier.group_name == "prm_sync"  # in the property group setup made for it
    groups = world.hubspot.crm.properties.groups_api.get_all("companies").results
    assert "prm_sync" in {g.name for g in groups}
    assert world.hubspot.crm.properties.core_api.get_by_name("p_deal_registrations", "prm_id").has_unique_value
    labels = world.hubspot.crm.associations.v4.schema.definitions_api.get_all("p_deal_registrations", "companies")
    assert {"Registering partner", "End customer"} <= {r.label for r in labels.results}

    seed_sandboxes(world.env.cluster, world.env.data)
    seed_store(world.env.runtime, world.env.data)
    report = world.sync()  # fails the test on any failed record
    assert report.totals()["created"] > 0
    partner = world.prm.all("partner")[0]
    assert world.salesforce_by_prm_id("Account", partner.id, "Partner_Tier__c")["Partner_Tier__c"]

    before = _calls(world)
    fields_before = _account_fields(world)
    grants_before = world.salesforce_records("SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions")
    again = world.cli("setup")
    assert again.exit_code == 0, again.output
    assert "nothing to create" in again.stdout
    assert _remote_writes(world, before) == {}  # the second run only read: no create, grant or update call
    assert _account_fields(world) == fields_before
    assert world.salesforce_records(
        "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions") == grants_before
    assert json.loads(world.cli("setup", "--dry-run", "--json").stdout)["items"] == []


def test_a_first_sync_without_setup_fails_naming_the_field_and_the_command(make_world: Any) -> None:
    world = _fresh(make_world)
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators", tier="gold"))
    ran = world.cli("sync")
    assert ran.exit_code == 2, ran.output  # bad configuration of the remote side, not a success
    assert "prm-sync setup" in ran.output
    assert "is_partner" in ran.output or "Deal_Registration__c" in ran.output or "PRM_Id__c" in ran.output
    runs = json.loads(world.cli("runs", "list", "--json").stdout)
    assert runs and all(r["status"] != "succeeded" for r in runs)


def test_missing_fields_stop_the_salesforce_sync_naming_every_one_and_setup(make_world: Any) -> None:
    """Salesforce's own answer names the first unknown column only; the sync names all of them in one line."""
    world = _fresh(make_world, systems=("salesforce",))
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators"))
    ran = world.cli("sync", "--system", "salesforce", "--entity", "partner")
    assert ran.exit_code == 2, ran.output
    words = " ".join(ran.output.split())
    missing = ["PRM_Id__c", "Partner_Tier__c", "Partner_Status__c", "Partner_Type__c", "Domain__c"]
    assert all(name in words for name in missing), ran.output
    assert "on Account" in words and "prm-sync setup" in words
    assert world.salesforce_records("SELECT Id FROM Account") == []


def test_a_run_whose_every_record_is_refused_for_a_missing_property_is_not_succeeded(make_world: Any) -> None:
    """The issue's fresh portal: the key and the filter property exist, the tier property does not."""
    world = _fresh(make_world, systems=("hubspot",))
    properties = world.hubspot.crm.properties.core_api
    properties.create("companies", {"name": "prm_id", "label": "PRM id", "type": "string", "fieldType": "text",
                                    "groupName": "companyinformation", "hasUniqueValue": True})
    properties.create("companies", {"name": "is_partner", "label": "Partner", "type": "bool",
                                    "fieldType": "booleancheckbox", "groupName": "companyinformation",
                                    "options": [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                                                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]})
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators"), Partner(id="ptn_beta", name="Beta GmbH"))
    ran = world.cli("sync", "--system", "hubspot", "--entity", "partner")
    assert ran.exit_code == 7, ran.output  # failed: every record refused, nothing written
    [run] = json.loads(world.cli("runs", "list", "--json").stdout)
    assert run["status"] == "failed"
    causes = world.cli("failures")
    words = " ".join(causes.output.split())
    assert "partner_tier" in words and "prm-sync setup" in words, causes.output


def test_validate_remote_names_what_is_missing_and_points_to_setup(make_world: Any) -> None:
    world = _fresh(make_world)
    checked = world.cli("validate", "--remote")
    assert checked.exit_code == 2
    words = " ".join(checked.output.split())
    assert "salesforce has no field 'Partner_Tier__c' on Account yet" in words
    assert "hubspot has no property 'partner_tier' on companies yet" in words
    assert "salesforce Deal_Registration__c" in words and "no object Deal_Registration__c" in words
    assert "create it with `prm-sync setup`" in words
    assert "did you mean 'partner_type'" not in checked.output


def test_setup_reports_each_item_it_could_not_create_and_goes_on(make_world: Any, monkeypatch: Any) -> None:
    world = _fresh(make_world, systems=("hubspot",))
    properties = world.hubspot.crm.properties.core_api
    for n in range(10):  # the portal already spends HubSpot's ten unique-value properties on companies
        properties.create("companies", {"name": f"erp_key_{n}", "label": f"ERP key {n}", "type": "string",
                                        "fieldType": "text", "groupName": "companyinformation", "hasUniqueValue": True})

    monkeypatch.setenv("COLUMNS", "80")
    done = world.cli("setup")
    assert done.exit_code == 6, done.output  # partial: the rest was created, one item refused
    words = " ".join(done.stdout.split())
    assert "companies.prm_id" in words and "failed" in words and "limit of 10 unique value properties" in words
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert "partner_tier" in _company_properties(world)
    retry = json.loads(world.cli("setup", "--dry-run", "--json").stdout)
    assert [(i["object"], i["name"]) for i in retry["items"]] == [("companies", "prm_id")]


def test_a_field_an_admin_made_by_hand_is_invisible_until_setup_grants_it(make_world: Any) -> None:
    world = _fresh(make_world, systems=("salesforce",))
    world.salesforce.toolingexecute("sobjects/CustomField/", method="POST", data={
        "FullName": "Account.Territory__c", "Metadata": {"label": "Territory", "type": "Text", "length": 80}})
    assert "Territory__c" not in _account_fields(world)  # no field-level security for the integration user yet

    plan = json.loads(world.cli("setup", "--dry-run", "--json").stdout)["items"]
    assert not [i for i in plan if i["name"] == "Territory__c"]  # it exists: no create is planned for it
    [account] = [i for i in plan if (i["kind"], i["object"]) == ("access", "Account")]
    assert account["action"] == "grant" and "Territory__c" in account["summary"]
    done = world.cli("setup")
    assert done.exit_code == 0, done.output
    words = " ".join(done.stdout.split())
    assert "Territory__c already in the org, hidden from the integration user" in words
    assert {"Territory__c", "PRM_Id__c", "Partner_Tier__c"} <= _account_fields(world)
    grants = world.salesforce_records("SELECT Field, PermissionsRead, PermissionsEdit FROM FieldPermissions")
    assert {"Field": "Account.Territory__c", "PermissionsRead": True, "PermissionsEdit": True} in grants
    assert "nothing to create" in world.cli("setup").stdout


def test_an_object_an_admin_made_by_hand_is_unreachable_until_setup_grants_object_permissions(
    make_world: Any,
) -> None:
    """A custom object made in Setup (or deployed) is out of the integration user's reach without an object permission.

    The global describe does not list it and SOQL says the type is not supported;
    setup finds it through the Tooling API, plans a grant instead of a create,
    and the permission set then holds every object permission on it.
    """
    world = _fresh(make_world, systems=("salesforce",))
    world.salesforce.toolingexecute("sobjects/CustomObject/", method="POST", data={
        "FullName": "Deal_Registration__c", "Metadata": {
            "label": "Deal Registration", "pluralLabel": "Deal Registrations", "sharingModel": "ReadWrite",
            "deploymentStatus": "Deployed", "nameField": {"label": "Name", "type": "Text"}}})
    assert "Deal_Registration__c" not in {o["name"] for o in world.salesforce.describe()["sobjects"]}

    plan = json.loads(world.cli("setup", "--dry-run", "--json").stdout)["items"]
    assert not [i for i in plan if (i["kind"], i["object"]) == ("object", "Deal_Registration__c")]
    [access] = [i for i in plan if i["kind"] == "object access"]
    assert (access["object"], access["action"]) == ("Deal_Registration__c", "grant")
    assert "already in the org" in access["summary"]

    done = world.cli("setup")
    assert done.exit_code == 0, done.output
    assert "Customer_Name__c" in {f["name"] for f in world.salesforce.Deal_Registration__c.describe()["fields"]}
    [row] = world.salesforce_records(
        "SELECT SobjectType, PermissionsRead, PermissionsCreate, PermissionsEdit, PermissionsDelete, "
        "PermissionsViewAllRecords, PermissionsModifyAllRecords FROM ObjectPermissions")
    assert row == {"SobjectType": "Deal_Registration__c", **dict.fromkeys(
        ["PermissionsRead", "PermissionsCreate", "PermissionsEdit", "PermissionsDelete",
         "PermissionsViewAllRecords", "PermissionsModifyAllRecords"], True)}
    world.prm.save(Partner(id="ptn_alpha", name="Alpha Integrators", domain="alpha.example"))
    world.sync(systems=["salesforce"])  # partners, then registrations: the object is readable and writable now
    assert "nothing to create" in world.cli("setup").stdout


def _tier_values(world: Any) -> list[str]:
    tier = next(f for f in world.salesforce.Account.describe()["fields"] if f["name"] == "Partner_Tier__c")
    return [v["value"] for v in tier["picklistValues"]]


def test_setup_adds_the_values_a_mapping_writes_to_picklists_that_exist(make_world: Any) -> None:
    """An org and a portal that already have the tier field, with fewer values than the mapping writes.

    Setup adds the missing values (the org's own stay, in their order), whether the
    integration user can see the field yet or not; a Platinum partner then syncs to both.
    """
    world = _fresh(make_world)
    tooling = world.salesforce.toolingexecute
    tooling("sobjects/CustomField/", method="POST", data={"FullName": "Account.Partner_Tier__c", "Metadata": {
        "label": "Partner tier", "type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {
            "sorted": False, "value": [{"fullName": v, "label": v, "default": False}
                                       for v in ("Legacy", "Registered", "Silver", "Gold")]}}}})
    world.hubspot.crm.properties.core_api.create("companies", {
        "name": "partner_tier", "label": "Partner tier", "type": "enumeration", "fieldType": "select",
        "groupName": "companyinformation", "options": [
            {"label": label, "value": label.lower(), "displayOrder": i, "hidden": False}
            for i, label in enumerate(("Legacy", "Registered", "Silver"))]})

    plan = {(i["system"], i["object"], i["name"]): i
            for i in json.loads(world.cli("setup", "--dry-run", "--json").stdout)["items"]}
    assert plan[("salesforce", "Account", "Partner_Tier__c")]["action"] == "add values"
    assert plan[("salesforce", "Account", "Partner_Tier__c")]["summary"] == "add picklist values: Platinum"
    assert plan[("hubspot", "companies", "partner_tier")]["action"] == "add options"
    assert plan[("hubspot", "companies", "partner_tier")]["summary"] == "add options: gold, platinum"

    done = world.cli("setup")
    assert done.exit_code == 0, done.output
    assert _tier_values(world) == ["Legacy", "Registered", "Silver", "Gold", "Platinum"]
    tier = world.hubspot.crm.properties.core_api.get_by_name("companies", "partner_tier")
    assert [o.value for o in tier.options] == ["legacy", "registered", "silver", "gold", "platinum"]
    assert "nothing to create" in world.cli("setup").stdout

    # an admin later trims the org's picklist: the next setup reads the visible field and puts the value back
    [field] = tooling("query/", params={"q": "SELECT Id FROM CustomField WHERE TableEnumOrId = 'Account' "
                                              "AND DeveloperName = 'Partner_Tier'"})["records"]
    current = tooling(f"sobjects/CustomField/{field['Id']}")
    values = current["Metadata"]["valueSet"]["valueSetDefinition"]["value"]
    current["Metadata"]["valueSet"]["valueSetDefinition"]["value"] = [v for v in values if v["fullName"] != "Gold"]
    tooling(f"sobjects/CustomField/{field['Id']}", method="PATCH",
            data={"FullName": "Account.Partner_Tier__c", "Metadata": current["Metadata"]})
    assert "Gold" not in _tier_values(world)
    again = json.loads(world.cli("setup", "--json").stdout)
    assert [(i["object"], i["name"], i["action"], i["outcome"]) for i in again["items"]] == [
        ("Account", "Partner_Tier__c", "add values", "created")]
    assert _tier_values(world) == ["Legacy", "Registered", "Silver", "Platinum", "Gold"]

    world.prm.save(Partner(id="ptn_top", name="Top Partner", tier="platinum", domain="top.example"))
    world.sync(systems=["salesforce", "hubspot"], entities=["partner"])
    assert world.salesforce_by_prm_id("Account", "ptn_top", "Partner_Tier__c")["Partner_Tier__c"] == "Platinum"
    assert world.hubspot_by_prm_id("companies", "ptn_top", ["partner_tier"])["partner_tier"] == "platinum"



def test_a_picklist_on_a_global_value_set_fails_its_item_naming_the_set() -> None:
    """A field that shares a global value set has no value list of its own (the Tooling API says
    ``valueSetDefinition: null``): adding values fails that item, naming the set, not with an internal error."""
    from prm_sync.setup.plan import SetupItemError
    from prm_sync.setup.salesforce_setup import SalesforceSetup
    from prm_sync.setup.wants import Want

    class Org:
        sent: list[str] = []

        def toolingexecute(self, path: str, method: str = "GET", **_: Any) -> dict[str, Any]:
            self.sent.append(method)
            if path == "query/":
                return {"records": [{"Id": "00N000000000001"}]}
            return {"Metadata": {"type": "Picklist", "valueSet": {
                "restricted": True, "valueSetName": "Partner_Tiers", "valueSetDefinition": None}}}

    org = Org()
    setup = SalesforceSetup(type("Connector", (), {"sf": org})())  # type: ignore[arg-type]
    want = Want("salesforce", "field", "Account", "Partner_Tier__c", "Picklist: Platinum", {"Metadata": {
        "valueSet": {"valueSetDefinition": {"value": [{"fullName": "Platinum"}]}}}})
    with pytest.raises(SetupItemError, match="global value set Partner_Tiers"):
        setup._apply_values(want)
    assert "PATCH" not in org.sent  # nothing sent that would bind the field to a list of its own


def test_a_tooling_query_reads_every_page() -> None:
    """The Tooling API answers 2,000 rows at most and the rest behind ``nextRecordsUrl``: setup reads them all,
    so an object or field past the first page is not planned as a create that Salesforce refuses."""
    from prm_sync.setup.salesforce_setup import SalesforceSetup

    class Org:
        asked: list[str] = []

        def toolingexecute(self, path: str, method: str = "GET", **_: Any) -> dict[str, Any]:
            self.asked.append(path)
            if path == "query/":
                return {"done": False, "nextRecordsUrl": "/services/data/v59.0/tooling/query/01g-2000",
                        "records": [{"Id": "a"}]}
            return {"done": True, "records": [{"Id": "b"}]}

    org = Org()
    setup = SalesforceSetup(type("Connector", (), {"sf": org})())  # type: ignore[arg-type]
    assert [r["Id"] for r in setup._tooling_query("SELECT Id FROM CustomObject")] == ["a", "b"]
    assert org.asked == ["query/", "query/01g-2000"]
