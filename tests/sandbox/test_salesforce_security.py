"""Conformance: object permissions on custom objects, and the Tooling API's view of the org's metadata.

Checked through simple-salesforce, as a setup tool or an admin's script would
call them: a custom object created through the Tooling API is out of the
integration user's reach until an ``ObjectPermissions`` row of a permission
set assigned to them grants it (each flag with the ones it depends on, as
the object reference documents); the Tooling API lists objects and fields
the user cannot see; a ``CustomField``'s metadata is read and replaced by id.
"""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

THING = {"label": "Thing", "pluralLabel": "Things", "nameField": {"label": "Name", "type": "Text"}}


def _permission_set(sf: Any) -> str:
    [row] = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'PRM_Sync_Integration'")["records"]
    return str(row["Id"])


def _tooling(sf: Any, soql: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "attributes"}
            for r in sf.toolingexecute("query/", params={"q": soql})["records"]]


def test_a_custom_object_is_unreachable_until_object_permissions_grant_it(salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox.client()
    made = sf.toolingexecute("sobjects/CustomObject/", method="POST", data={"FullName": "Thing__c", "Metadata": THING})
    assert "Thing__c" not in {o["name"] for o in sf.describe()["sobjects"]}
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_TYPE"):
        sf.query("SELECT Id FROM Thing__c")
    with pytest.raises(SalesforceResourceNotFound):
        sf.Thing__c.describe()
    # the Tooling API sees it all the same, by the id its create answered
    assert _tooling(sf, "SELECT Id, DeveloperName FROM CustomObject WHERE DeveloperName = 'Thing'") == [
        {"Id": made["id"], "DeveloperName": "Thing"}]

    parent = _permission_set(sf)
    granted = sf.ObjectPermissions.create({"ParentId": parent, "SobjectType": "Thing__c", "PermissionsRead": True})
    assert sf.query("SELECT COUNT() FROM Thing__c")["totalSize"] == 0  # readable now
    described = sf.Thing__c.describe()
    assert (described["createable"], described["updateable"], described["deletable"]) == (False, False, False)
    with pytest.raises(SalesforceMalformedRequest, match="INSUFFICIENT_ACCESS_OR_READONLY"):
        sf.Thing__c.create({"Name": "first"})

    sf.ObjectPermissions.update(granted["id"], {"PermissionsCreate": True, "PermissionsEdit": True})
    created = sf.Thing__c.create({"Name": "first"})
    sf.Thing__c.update(created["id"], {"Name": "renamed"})
    with pytest.raises(SalesforceMalformedRequest, match="INSUFFICIENT_ACCESS_OR_READONLY"):
        sf.Thing__c.delete(created["id"])
    assert [r["Name"] for r in sf.query("SELECT Name FROM Thing__c")["records"]] == ["renamed"]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        pytest.param({"PermissionsEdit": True}, "Permission Edit depends on permission(s): Read", id="edit-without-read"),
        pytest.param({"PermissionsRead": True, "PermissionsModifyAllRecords": True},
                     "Permission ModifyAllRecords depends on permission(s): Delete, Edit, ViewAllRecords",
                     id="modify-all-alone"),
        pytest.param({}, "at least one permission", id="nothing-enabled"),
    ],
)
def test_object_permissions_need_what_each_flag_depends_on(
    salesforce_sandbox: Any, flags: dict[str, bool], said: str
) -> None:
    sf = salesforce_sandbox.client()
    sf.toolingexecute("sobjects/CustomObject/", method="POST", data={"FullName": "Thing__c", "Metadata": THING})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.ObjectPermissions.create({"ParentId": _permission_set(sf), "SobjectType": "Thing__c", **flags})
    assert caught.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION" and said in str(caught.value.content)


def test_object_permissions_name_an_object_of_the_org(salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox.client()
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        sf.ObjectPermissions.create({"ParentId": _permission_set(sf), "SobjectType": "Nothing__c",
                                     "PermissionsRead": True})


def test_tooling_lists_custom_fields_the_user_cannot_see(salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox.client()
    made = sf.toolingexecute("sobjects/CustomField/", method="POST", data={
        "FullName": "Account.Hidden_Note__c", "Metadata": {"label": "Hidden note", "type": "Text", "length": 40}})
    assert "Hidden_Note__c" not in {f["name"] for f in sf.Account.describe()["fields"]}  # no field-level security
    rows = _tooling(sf, "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId = 'Account'")
    assert {"Id": made["id"], "DeveloperName": "Hidden_Note", "TableEnumOrId": "Account"} in rows
    assert "PRM_Id" in {r["DeveloperName"] for r in rows}  # setup's own field, visible, is listed too
    [registrations] = _tooling(sf, "SELECT Id FROM CustomObject WHERE DeveloperName = 'Deal_Registration'")
    on_custom = _tooling(sf, "SELECT DeveloperName FROM CustomField WHERE TableEnumOrId = "
                             f"'{registrations['Id']}'")  # a custom object's fields go by its id
    assert "Customer_Name" in {r["DeveloperName"] for r in on_custom}
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_TYPE"):
        _tooling(sf, "SELECT Id FROM ApexClass")


def test_a_picklist_gets_values_by_replacing_its_metadata(salesforce_sandbox: Any) -> None:
    sf = salesforce_sandbox.client()
    [row] = _tooling(sf, "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account' "
                         "AND DeveloperName = 'Partner_Tier'")
    field = sf.toolingexecute(f"sobjects/CustomField/{row['Id']}")
    assert field["FullName"] == "Account.Partner_Tier__c" and field["Metadata"]["type"] == "Picklist"
    values = field["Metadata"]["valueSet"]["valueSetDefinition"]["value"]
    values.append({"fullName": "Diamond", "label": "Diamond", "default": False})
    sf.toolingexecute(f"sobjects/CustomField/{row['Id']}", method="PATCH",
                      data={"FullName": field["FullName"], "Metadata": field["Metadata"]})
    tier = next(f for f in sf.Account.describe()["fields"] if f["name"] == "Partner_Tier__c")
    assert [v["value"] for v in tier["picklistValues"]] == ["Registered", "Silver", "Gold", "Platinum", "Diamond"]
    sf.Account.create({"Name": "Shiny", "Partner_Tier__c": "Diamond"})

    changed = {**field["Metadata"], "type": "Text", "length": 20}
    changed.pop("valueSet")
    with pytest.raises(SalesforceMalformedRequest, match="Cannot change the type"):
        sf.toolingexecute(f"sobjects/CustomField/{row['Id']}", method="PATCH",
                          data={"FullName": field["FullName"], "Metadata": changed})
