"""``prm-sync setup``: create in each CRM what the mappings write and a new org or portal lacks.

``wants.py`` derives the wanted objects, fields, properties, groups and
labels from the mapping files; ``plan.py`` holds the plan and its per-item
outcomes; ``salesforce_setup.py`` and ``hubspot_setup.py`` read what exists
and create the rest through the real client libraries. ``run_setup`` is the
one entry point the CLI, the demo and the test fixtures share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prm_sync.mapping.apply import MappingSet
from prm_sync.setup.plan import SetupItem, SetupPlan, SystemSetup, apply_setup, plan_setup
from prm_sync.setup.wants import SETUP_SYSTEMS, Want, wants_for

__all__ = ["SETUP_SYSTEMS", "SetupItem", "SetupPlan", "Want", "run_setup", "setups_for"]


def setups_for(connectors: Mapping[str, Any], *, permission_set: str | None = None) -> list[SystemSetup]:
    """A planner per CRM among ``connectors`` (the LMS and ERP need nothing created)."""
    out: list[SystemSetup] = []
    if "salesforce" in connectors:
        from prm_sync.setup.salesforce_setup import PERMISSION_SET, SalesforceSetup

        out.append(SalesforceSetup(connectors["salesforce"], permission_set=permission_set or PERMISSION_SET))
    if "hubspot" in connectors:
        from prm_sync.setup.hubspot_setup import HubSpotSetup

        out.append(HubSpotSetup(connectors["hubspot"]))
    return out


def run_setup(
    mappings: MappingSet,
    connectors: Mapping[str, Any],
    *,
    dry_run: bool = False,
    on_item: Callable[[SetupItem], None] | None = None,
    permission_set: str | None = None,
    before_apply: Callable[[SetupPlan], None] | None = None,
) -> SetupPlan:
    """Plan what each CRM lacks and, unless ``dry_run``, create it; the plan carries each item's outcome.

    ``permission_set``: the Salesforce permission set that carries the integration user's field access.
    ``before_apply`` sees the plan first (the CLI prints it), so what is applied is exactly what was shown.
    """
    setups = setups_for(connectors, permission_set=permission_set)
    wants = wants_for(mappings, tuple(s.system for s in setups))
    plan = plan_setup(setups, wants)
    if before_apply is not None:
        before_apply(plan)
    if not dry_run and not plan.empty:
        apply_setup(setups, wants, plan, on_item=on_item)
    return plan
