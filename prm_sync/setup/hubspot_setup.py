"""HubSpot: the custom object schema, property groups, properties and association labels.

Read first, through hubspot-api-client: ``GET /crm/v3/schemas`` (which custom
objects exist), ``GET /crm/v3/properties/{type}`` and ``.../groups``, and
``GET /crm/v4/associations/{from}/{to}/labels``. Then create what is missing
with the documented requests: ``POST /crm/v3/schemas`` (the custom object
with its properties in one request), ``POST /crm/v3/properties/{type}/groups``,
``POST /crm/v3/properties/{type}`` and ``POST
/crm/v4/associations/{from}/{to}/labels``. Every call goes through the
connector's retries and error translation; a refusal (``MISSING_SCOPES``,
a name in use) is that item's outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prm_sync.setup.plan import SetupItem, item_for
from prm_sync.setup.wants import Want

if TYPE_CHECKING:
    from connectors.hubspot import HubSpotConnector


class HubSpotSetup:
    system = "hubspot"

    def __init__(self, connector: HubSpotConnector) -> None:
        self.connector = connector
        crm = connector.client.crm
        self._schemas = crm.schemas.core_api
        self._groups = crm.properties.groups_api
        self._properties = crm.properties.core_api
        self._labels = crm.associations.v4.schema.definitions_api

    def _existing_schemas(self) -> set[str]:
        result = self.connector.call("list custom objects", self._schemas.get_all, on_4xx="record")
        names: set[str] = set()
        for schema in result.results:
            names.update({f"p_{schema.name}", str(schema.fully_qualified_name), str(schema.object_type_id)})
        return names

    def plan(self, wants: list[Want]) -> list[SetupItem]:
        if not wants:
            return []
        call = self.connector.call
        schemas = self._existing_schemas()
        new_objects = {w.object for w in wants if w.kind == "schema" and w.object not in schemas}
        groups: dict[str, set[str]] = {}
        props: dict[str, set[str]] = {}
        labels: dict[tuple[str, str], set[str]] = {}
        items: list[SetupItem] = []
        pending_groups: list[Want] = []
        for want in wants:
            if want.kind == "schema":
                if want.object in new_objects:
                    items.append(item_for(want))
                continue
            if want.kind == "label":
                source, _, target = want.object.partition(" -> ")
                needs = f"hubspot:{source}" if source in new_objects else None
                if needs is None:
                    pair = (source, target)
                    if pair not in labels:
                        found = call("association labels", self._labels.get_all, source, target, on_4xx="record")
                        labels[pair] = {(r.label or "").lower() for r in found.results}
                    if want.name.lower() in labels[pair]:
                        continue
                items.append(item_for(want, needs=needs))
                continue
            if want.object in new_objects:  # the schema request creates its properties
                continue
            if want.kind == "group":
                pending_groups.append(want)  # only needed when a property of this object is created
                continue
            if want.object not in props:
                props[want.object] = {f.name: f.picklist_values for f in self.connector.describe(want.object)}
            if want.name in props[want.object]:
                items.extend(self._plan_options(want, props[want.object][want.name]))
                continue
            group = next((g for g in pending_groups if g.object == want.object), None)
            if group is not None:
                if want.object not in groups:
                    found = call("property groups", self._groups.get_all, want.object, on_4xx="record")
                    groups[want.object] = {g.name for g in found.results}
                if group.name not in groups[want.object]:
                    items.append(item_for(group))
                    groups[want.object].add(group.name)
            items.append(item_for(want))
        return items

    @staticmethod
    def _plan_options(want: Want, existing: list[str]) -> list[SetupItem]:
        """A dropdown or checkboxes property the mapping writes values to that it lacks: add those options."""
        if want.body.get("type") != "enumeration":
            return []
        have = {v.lower() for v in existing}
        missing = [str(o["value"]) for o in want.body.get("options", []) if str(o["value"]).lower() not in have]
        if not missing:
            return []
        item = item_for(want, action="add options")
        item.summary = f"add options: {', '.join(missing)}"
        return [item]

    def _apply_options(self, item: SetupItem, want: Want) -> None:
        """``PATCH`` the property with its options plus ours: the list sent replaces the property's options."""
        call = self.connector.call
        current = call(f"read property {item.label}", self._properties.get_by_name, want.object, want.name,
                       on_4xx="record")
        options = [{"label": o.label, "value": o.value, "displayOrder": o.display_order, "hidden": bool(o.hidden)}
                   for o in current.options or []]
        have = {str(o["value"]).lower() for o in options}
        for option in want.body.get("options", []):
            if str(option["value"]).lower() not in have:
                options.append({**option, "displayOrder": len(options)})
        call(f"add options to {item.label}", self._properties.update, want.object, want.name,
             {"options": options}, on_4xx="record")

    def apply(self, item: SetupItem, want: Want) -> None:
        call = self.connector.call
        what = f"create {item.kind} {item.label}"
        if item.action == "add options":
            self._apply_options(item, want)
        elif item.kind == "schema":
            call(what, self._schemas.create, want.body, on_4xx="record")
        elif item.kind == "group":
            call(what, self._groups.create, want.object, want.body, on_4xx="record")
        elif item.kind == "property":
            call(what, self._properties.create, want.object, want.body, on_4xx="record")
        elif item.kind == "label":
            source, _, target = want.object.partition(" -> ")
            call(what, self._labels.create, source, target, want.body, on_4xx="record")
