"""Salesforce: custom objects and fields through the Tooling API, and field-level security for the API user.

What exists is read the way the integration user sees it: the global
describe lists the objects, each object's describe the fields it may read.
Creation uses the documented Tooling API requests through simple-salesforce
(``toolingexecute``): ``POST tooling/sobjects/CustomObject`` and ``POST
tooling/sobjects/CustomField`` with ``{"FullName", "Metadata"}``; lookups
come after the objects they point at.

A field created through the API is invisible to every user until
field-level security grants it, so setup then makes sure of a permission
set (``systems.salesforce.permission_set``, created if missing), that it is
assigned to the integration user (``PermissionSetAssignment``; the user is
the session's identity URL), and that it grants read and edit on every
mapped custom field (``FieldPermissions``, one sObject Collections call per
object). A field that exists but is hidden from the user plans as a create;
Salesforce answers ``DUPLICATE_DEVELOPER_NAME`` and the grant that follows
makes it visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simple_salesforce.exceptions import SalesforceError

from connectors.salesforce_soql import soql_literal
from prm_sync.setup.plan import SetupItem, SetupItemError, item_for
from prm_sync.setup.wants import Want

if TYPE_CHECKING:
    from connectors.salesforce import SalesforceConnector

PERMISSION_SET = "PRM_Sync_Integration"


def _refusal(exc: SalesforceError) -> SetupItemError:
    content = exc.content if isinstance(exc.content, list) else []
    parts = [f"{e.get('errorCode', 'ERROR')}: {e.get('message', '')}" for e in content if isinstance(e, dict)]
    return SetupItemError("; ".join(parts) or f"HTTP {exc.status}")


def _code(exc: SalesforceError) -> str:
    content = exc.content if isinstance(exc.content, list) else []
    return str(content[0].get("errorCode", "")) if content and isinstance(content[0], dict) else ""


class SalesforceSetup:
    system = "salesforce"

    def __init__(self, connector: SalesforceConnector, *, permission_set: str = PERMISSION_SET) -> None:
        self.connector = connector
        self.sf = connector.sf
        self.permission_set = permission_set
        self._permission_set_id: str | None = None
        self._grants: dict[str, list[dict[str, Any]]] = {}  # object -> FieldPermissions rows to create or update

    # -- reading ------------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SalesforceError as exc:
            raise _refusal(exc) from None

    def _objects(self) -> set[str]:
        body = self._call(self.sf.describe) or {}
        return {str(o["name"]) for o in body.get("sobjects", [])}

    def _user_id(self) -> str:
        """The integration user: the last part of the session's identity URL (``/id/<org>/<user>``)."""
        identity = str((self._call(self.sf.restful, "") or {}).get("identity") or "")
        user_id = identity.rstrip("/").rsplit("/", 1)[-1]
        if not user_id.startswith("005"):
            msg = "the org did not say who the session's user is (no identity URL)"
            raise SetupItemError(msg)
        return user_id

    def _query(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call(self.sf.query_all, soql).get("records", []))

    # -- planning -----------------------------------------------------------------------------
    def plan(self, wants: list[Want]) -> list[SetupItem]:
        if not wants:
            return []
        self.connector.forget_describe()
        objects = self._objects()
        items: list[SetupItem] = []
        fields: dict[str, set[str]] = {}
        for want in wants:
            if want.kind == "object":
                if want.object not in objects:
                    items.append(item_for(want))
                continue
            if want.object not in objects:
                items.append(item_for(want, needs=f"salesforce:{want.object}"))
                continue
            if want.object not in fields:
                fields[want.object] = {f.name for f in self.connector.describe(want.object)}
            if want.name not in fields[want.object]:
                target = (want.body.get("Metadata") or {}).get("referenceTo")
                needs = f"salesforce:{target}" if target and target not in objects else None
                items.append(item_for(want, needs=needs))
        items.extend(self._plan_access([w for w in wants if w.kind == "field"]))
        return items

    def _plan_access(self, field_wants: list[Want]) -> list[SetupItem]:
        """The permission set, its assignment to the integration user, and missing read/edit grants per object."""
        items: list[SetupItem] = []
        found = self._query(f"SELECT Id FROM PermissionSet WHERE Name = {soql_literal(self.permission_set)}")
        self._permission_set_id = str(found[0]["Id"]) if found else None
        needs = None
        if self._permission_set_id is None:
            needs = f"salesforce:{self.permission_set}"
            items.append(SetupItem(system="salesforce", kind="permission set", object=self.permission_set, name="",
                                   summary="create it and assign it to the integration user"))
        else:
            user = self._user_id()
            assigned = self._query(
                "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = "
                f"{soql_literal(user)} AND PermissionSetId = {soql_literal(self._permission_set_id)}"
            )
            if not assigned:
                items.append(SetupItem(system="salesforce", kind="permission set", object=self.permission_set,
                                       name="", action="assign", summary="assign it to the integration user"))
        granted: dict[str, dict[str, Any]] = {}
        if self._permission_set_id is not None:
            rows = self._query(
                "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE ParentId = "
                f"{soql_literal(self._permission_set_id)}"
            )
            granted = {str(r["Field"]).lower(): r for r in rows}
        self._grants = {}
        for want in field_wants:
            full = f"{want.object}.{want.name}"
            row = granted.get(full.lower())
            if row is not None and row.get("PermissionsRead") and row.get("PermissionsEdit"):
                continue
            grant: dict[str, Any] = {"SobjectType": want.object, "Field": full, "PermissionsRead": True,
                                     "PermissionsEdit": True}
            if row is not None:
                grant["Id"] = row["Id"]
            self._grants.setdefault(want.object, []).append(grant)
        for object_name, grants in self._grants.items():
            names = ", ".join(g["Field"].split(".", 1)[1] for g in grants)
            items.append(SetupItem(system="salesforce", kind="access", object=object_name, name="", action="grant",
                                   summary=f"read/edit: {names}", needs=needs))
        return items

    # -- applying -----------------------------------------------------------------------------
    def apply(self, item: SetupItem, want: Want | None) -> None:
        if item.kind == "permission set":
            self._apply_permission_set(item)
        elif item.kind == "access":
            self._apply_grants(item.object)
        else:
            assert want is not None
            resource = {"object": "CustomObject", "field": "CustomField"}[item.kind]
            try:
                self.sf.toolingexecute(f"sobjects/{resource}/", method="POST", data=want.body)
            except SalesforceError as exc:
                if item.kind != "field" or _code(exc) != "DUPLICATE_DEVELOPER_NAME":
                    raise _refusal(exc) from None
                item.message = "already in the org, hidden from the integration user until access is granted"
        self.connector.forget_describe()

    def _apply_permission_set(self, item: SetupItem) -> None:
        if item.action == "create":
            label = self.permission_set.replace("_", " ")
            created = self._call(self.sf.PermissionSet.create, {"Name": self.permission_set, "Label": label})
            self._permission_set_id = str(created["id"])
        assert self._permission_set_id is not None
        self._call(self.sf.PermissionSetAssignment.create,
                   {"AssigneeId": self._user_id(), "PermissionSetId": self._permission_set_id})

    def _apply_grants(self, object_name: str) -> None:
        """One sObject Collections call for new rows and one for rows that lacked edit; per-row errors named."""
        if self._permission_set_id is None:
            msg = f"no permission set {self.permission_set} to grant access through"
            raise SetupItemError(msg)
        grants = self._grants.get(object_name, [])
        new = [{"attributes": {"type": "FieldPermissions"}, "ParentId": self._permission_set_id, **g}
               for g in grants if "Id" not in g]
        changed = [{"attributes": {"type": "FieldPermissions"}, **g} for g in grants if "Id" in g]
        refused: list[str] = []
        for method, records in (("POST", new), ("PATCH", changed)):
            if not records:
                continue
            answer = self._call(self.sf.restful, "composite/sobjects", method=method,
                                json={"allOrNone": False, "records": records})
            for record, result in zip(records, answer, strict=True):
                if not result.get("success"):
                    errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors", []))
                    refused.append(f"{record['Field']}: {errors}")
        if refused:
            raise SetupItemError("; ".join(refused))
