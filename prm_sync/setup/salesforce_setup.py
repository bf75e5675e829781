"""Salesforce: custom objects and fields through the Tooling API, and field-level security for the API user.

What exists is read the way the integration user sees it: the global
describe lists the objects, each object's describe the fields it may read.
Creation uses the documented Tooling API requests through simple-salesforce
(``toolingexecute``): ``POST tooling/sobjects/CustomObject`` and ``POST
tooling/sobjects/CustomField`` with ``{"FullName", "Metadata"}``; lookups
come after the objects they point at.

A field created through the API is invisible to every user until
field-level security grants it, and a custom object unreachable until an
object permission does, so setup then makes sure of a permission set
(``systems.salesforce.permission_set``, created if missing), that it is
assigned to the integration user (``PermissionSetAssignment``; the user is
the session's identity URL), that it grants every permission on each mapped
custom object (``ObjectPermissions``: read, create, edit, delete, and view all
and modify all, because registrations belong to partner users and reps and
the sync reads, updates and archives them whatever the sharing rules say),
and read and edit on every mapped custom field (``FieldPermissions``, one
sObject Collections call per object).

What exists is told from what is hidden by the Tooling API, which lists
every custom object and field whoever may see them (``SELECT ... FROM
CustomObject`` / ``CustomField``): an object or field that exists but that
the user cannot see is planned as a grant of access, never as a create.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simple_salesforce.exceptions import SalesforceError

from connectors.salesforce_soql import soql_literal
from prm_sync.setup.plan import SetupItem, SetupItemError, item_for
from prm_sync.setup.wants import Want

if TYPE_CHECKING:
    from connectors.salesforce import SalesforceConnector

PERMISSION_SET = "PRM_Sync_Integration"
# every object permission, granted together on each mapped custom object (see the module docstring)
OBJECT_PERMISSIONS = ("PermissionsRead", "PermissionsCreate", "PermissionsEdit", "PermissionsDelete",
                      "PermissionsViewAllRecords", "PermissionsModifyAllRecords")


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
        self._object_grants: dict[str, dict[str, Any]] = {}  # object -> the ObjectPermissions row to create or update
        self._hidden: dict[str, set[str]] = {}  # object -> what exists but the user cannot see ('' the object itself)
        self._custom_objects: dict[str, str] = {}  # custom object name -> its CustomObject (01I) id

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

    def _tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """Every row, page after page: the Tooling API answers at most 2,000 and the rest behind ``nextRecordsUrl``
        (an org with packages holds more custom objects than that, and a row missed plans a create that fails)."""
        answer = self._call(self.sf.toolingexecute, "query/", params={"q": soql}) or {}
        rows = list(answer.get("records", []))
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            answer = self._call(self.sf.toolingexecute, str(answer["nextRecordsUrl"]).split("/tooling/", 1)[1]) or {}
            rows += answer.get("records", [])
        return rows

    def _in_org(self, object_names: set[str]) -> tuple[dict[str, str], dict[str, set[str]]]:
        """Every custom object (name -> ``01I`` id) and the custom fields of ``object_names``, hidden or not."""
        objects: dict[str, str] = {}
        for row in self._tooling_query("SELECT Id, DeveloperName, NamespacePrefix FROM CustomObject"):
            prefix = f"{row['NamespacePrefix']}__" if row.get("NamespacePrefix") else ""
            objects[f"{prefix}{row['DeveloperName']}__c"] = str(row["Id"])
        tables = {objects.get(name, name): name for name in object_names if name in objects or not name.endswith("__c")}
        fields: dict[str, set[str]] = {name: set() for name in tables.values()}
        if tables:
            listed = ", ".join(soql_literal(t) for t in sorted(tables))
            for row in self._tooling_query("SELECT DeveloperName, NamespacePrefix, TableEnumOrId FROM CustomField "
                                           f"WHERE TableEnumOrId IN ({listed})"):
                owner = tables.get(str(row.get("TableEnumOrId")))
                if owner is None:  # ids come back in their 18-character form
                    owner = next((n for t, n in tables.items() if t[:15] == str(row.get("TableEnumOrId"))[:15]), None)
                if owner is not None:
                    prefix = f"{row['NamespacePrefix']}__" if row.get("NamespacePrefix") else ""
                    fields[owner].add(f"{prefix}{row['DeveloperName']}__c")
        return objects, fields

    # -- planning -----------------------------------------------------------------------------
    def plan(self, wants: list[Want]) -> list[SetupItem]:
        if not wants:
            return []
        self.connector.forget_describe()
        visible = self._objects()
        custom_objects, custom_fields = self._in_org({w.object for w in wants})
        exists = visible | set(custom_objects)
        items: list[SetupItem] = []
        self._hidden = {}  # object -> names that exist but the integration user cannot see ('' for the object)
        self._custom_objects = custom_objects
        fields: dict[str, dict[str, Any]] = {}
        for want in wants:
            if want.kind == "object":
                if want.object not in exists:
                    items.append(item_for(want))
                elif want.object not in visible:
                    self._hidden.setdefault(want.object, set()).add("")
                continue
            if want.object not in exists:
                items.append(item_for(want, needs=f"salesforce:{want.object}"))
                continue
            if want.object not in fields:
                seen = self.connector.describe(want.object) if want.object in visible else []
                fields[want.object] = {f.name: f for f in seen}
            if want.name in fields[want.object]:
                shown = fields[want.object][want.name].picklist_values
                items.extend(self._plan_values(want, lambda shown=shown: shown))
                continue
            if want.name in custom_fields.get(want.object, set()):
                self._hidden.setdefault(want.object, set()).add(want.name)
                items.extend(self._plan_values(want, lambda want=want: self._picklist_of_hidden(want)))
                continue
            target = (want.body.get("Metadata") or {}).get("referenceTo")
            needs = f"salesforce:{target}" if target and target not in exists else None
            items.append(item_for(want, needs=needs))
        created = {i.object for i in items if i.kind == "object"}
        items.extend(self._plan_access(wants, created))
        return items

    @staticmethod
    def _wanted_values(want: Want) -> list[str]:
        value_set = (want.body.get("Metadata") or {}).get("valueSet") or {}
        return [str(v["fullName"]) for v in (value_set.get("valueSetDefinition") or {}).get("value", [])]

    def _plan_values(self, want: Want, existing: Callable[[], list[str]]) -> list[SetupItem]:
        """A picklist the mapping writes values to that it lacks: add them (never remove or reorder any)."""
        wanted = self._wanted_values(want)
        if not wanted:
            return []
        have = {v.lower() for v in existing()}
        missing = [v for v in wanted if v.lower() not in have]
        if not missing:
            return []
        item = item_for(want, action="add values")
        item.summary = f"add picklist values: {', '.join(missing)}"
        return [item]

    def _field_id(self, want: Want) -> str:
        """The Tooling ``CustomField`` id of a mapped field (its object by name, or a custom one by ``01I`` id)."""
        table = self._custom_objects.get(want.object, want.object)
        rows = self._tooling_query(
            "SELECT Id FROM CustomField WHERE TableEnumOrId = "
            f"{soql_literal(table)} AND DeveloperName = {soql_literal(want.name.removesuffix('__c'))}")
        if not rows:
            msg = f"the Tooling API lists no field {want.object}.{want.name}"
            raise SetupItemError(msg)
        return str(rows[0]["Id"])

    def _field_metadata(self, field_id: str) -> dict[str, Any]:
        return dict((self._call(self.sf.toolingexecute, f"sobjects/CustomField/{field_id}") or {}).get("Metadata") or {})

    def _picklist_of_hidden(self, want: Want) -> list[str]:
        """The values of a picklist the user cannot describe yet, from its metadata (asked only when values are wanted)."""
        meta = self._field_metadata(self._field_id(want))
        values = ((meta.get("valueSet") or {}).get("valueSetDefinition") or {}).get("value", [])
        return [str(v.get("fullName")) for v in values]

    def _apply_values(self, want: Want) -> None:
        """Add the mapping's missing values to an existing picklist: the whole metadata goes back, values appended.

        The Tooling API replaces a field's metadata with what is sent, so the existing
        values (and every other setting) are read first and sent again unchanged.
        """
        field_id = self._field_id(want)
        meta = self._field_metadata(field_id)
        definition = (meta.get("valueSet") or {}).get("valueSetDefinition")
        if not isinstance(definition, dict):  # the Tooling API says null for a list it does not hold here
            shared = (meta.get("valueSet") or {}).get("valueSetName")
            msg = (f"{want.object}.{want.name} takes its values from the global value set {shared}: add them "
                   "there (Setup > Picklist Value Sets)" if shared
                   else f"{want.object}.{want.name} has no list of values of its own to add to")
            raise SetupItemError(msg)
        values = list(definition.get("value") or [])
        have = {str(v.get("fullName", "")).lower() for v in values}
        values += [{"fullName": v, "label": v, "default": False}
                   for v in self._wanted_values(want) if v.lower() not in have]
        definition["value"] = values
        self._call(self.sf.toolingexecute, f"sobjects/CustomField/{field_id}", method="PATCH",
                   data={"FullName": f"{want.object}.{want.name}", "Metadata": meta})

    def _plan_access(self, wants: list[Want], created: set[str]) -> list[SetupItem]:
        """The permission set, its assignment, then missing object permissions and field grants, per object."""
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
        items.extend(self._plan_object_access([w for w in wants if w.kind == "object"], created, needs))
        items.extend(self._plan_field_access([w for w in wants if w.kind == "field"], needs))
        return items

    def _plan_object_access(self, object_wants: list[Want], created: set[str], needs: str | None) -> list[SetupItem]:
        rows: dict[str, dict[str, Any]] = {}
        if self._permission_set_id is not None and object_wants:
            flags = ", ".join(OBJECT_PERMISSIONS)
            rows = {str(r["SobjectType"]).lower(): r for r in self._query(
                f"SELECT Id, SobjectType, {flags} FROM ObjectPermissions WHERE ParentId = "
                f"{soql_literal(self._permission_set_id)}")}
        self._object_grants = {}
        items: list[SetupItem] = []
        for want in object_wants:
            row = rows.get(want.object.lower())
            if row is not None and all(row.get(flag) for flag in OBJECT_PERMISSIONS):
                continue
            grant: dict[str, Any] = {"SobjectType": want.object, **dict.fromkeys(OBJECT_PERMISSIONS, True)}
            if row is not None:
                grant["Id"] = row["Id"]
            self._object_grants[want.object] = grant
            summary = "read, create, edit, delete, view all, modify all"
            if "" in self._hidden.get(want.object, set()):
                summary = f"already in the org, hidden from the integration user: grant {summary}"
            items.append(SetupItem(system="salesforce", kind="object access", object=want.object, name="",
                                   action="grant", summary=summary,
                                   needs=f"salesforce:{want.object}" if want.object in created else needs))
        return items

    def _plan_field_access(self, field_wants: list[Want], needs: str | None) -> list[SetupItem]:
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
        items: list[SetupItem] = []
        for object_name, grants in self._grants.items():
            names = [g["Field"].split(".", 1)[1] for g in grants]
            hidden = [n for n in names if n in self._hidden.get(object_name, set())]
            summary = f"read/edit: {', '.join(names)}"
            if hidden:
                summary += f" ({', '.join(hidden)} already in the org, hidden from the integration user until now)"
            items.append(SetupItem(system="salesforce", kind="access", object=object_name, name="", action="grant",
                                   summary=summary, needs=needs))
        return items

    # -- applying -----------------------------------------------------------------------------
    def apply(self, item: SetupItem, want: Want | None) -> None:
        if item.kind == "permission set":
            self._apply_permission_set(item)
        elif item.kind == "object access":
            self._apply_object_grant(item.object)
        elif item.kind == "access":
            self._apply_grants(item.object)
        elif item.action == "add values":
            assert want is not None
            self._apply_values(want)
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

    def _apply_object_grant(self, object_name: str) -> None:
        """One ObjectPermissions row of our permission set for ``object_name``, created or completed."""
        if self._permission_set_id is None:
            msg = f"no permission set {self.permission_set} to grant access through"
            raise SetupItemError(msg)
        grant = dict(self._object_grants[object_name])
        row_id = grant.pop("Id", None)
        if row_id is None:
            self._call(self.sf.ObjectPermissions.create, {"ParentId": self._permission_set_id, **grant})
        else:
            grant.pop("SobjectType")
            self._call(self.sf.ObjectPermissions.update, row_id, grant)

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
