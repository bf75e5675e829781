"""Salesforce: custom objects and fields through the Tooling API, as an admin would create them.

What exists is read the way the integration user sees it: the global
describe lists the objects, each object's describe its fields. Creation uses
the documented Tooling API requests through simple-salesforce
(``toolingexecute``): ``POST tooling/sobjects/CustomObject`` and
``POST tooling/sobjects/CustomField`` with ``{"FullName", "Metadata"}``.
Lookups are created after the objects they point at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simple_salesforce.exceptions import SalesforceError

from prm_sync.setup.plan import SetupItem, SetupItemError, item_for
from prm_sync.setup.wants import Want

if TYPE_CHECKING:
    from connectors.salesforce import SalesforceConnector


def _refusal(exc: SalesforceError) -> SetupItemError:
    content = exc.content if isinstance(exc.content, list) else []
    parts = [f"{e.get('errorCode', 'ERROR')}: {e.get('message', '')}" for e in content if isinstance(e, dict)]
    return SetupItemError("; ".join(parts) or f"HTTP {exc.status}")


class SalesforceSetup:
    system = "salesforce"

    def __init__(self, connector: SalesforceConnector) -> None:
        self.connector = connector
        self.sf = connector.sf

    def _objects(self) -> set[str]:
        try:
            body = self.sf.describe() or {}
        except SalesforceError as exc:
            raise _refusal(exc) from None
        return {str(o["name"]) for o in body.get("sobjects", [])}

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
            if want.object not in objects:  # created by this plan (or reported as missing if it is not wanted)
                items.append(item_for(want, needs=f"salesforce:{want.object}"))
                continue
            if want.object not in fields:
                fields[want.object] = {f.name for f in self.connector.describe(want.object)}
            if want.name not in fields[want.object]:
                target = (want.body.get("Metadata") or {}).get("referenceTo")
                needs = f"salesforce:{target}" if target and target not in objects else None
                items.append(item_for(want, needs=needs))
        return items

    def apply(self, item: SetupItem, want: Want) -> None:
        resource = {"object": "CustomObject", "field": "CustomField"}[item.kind]
        body: dict[str, Any] = want.body
        try:
            self.sf.toolingexecute(f"sobjects/{resource}/", method="POST", data=body)
        except SalesforceError as exc:
            raise _refusal(exc) from None
        self.connector.forget_describe()
