"""A setup plan: what each CRM lacks, and the outcome of creating it, item by item.

``plan_setup`` compares what the mappings want (``wants.py``) with what the
org and portal have (read through the connectors), and lists only the
missing items; ``apply_setup`` creates them in order. An item that fails
does not stop the others, except those that need it (a field of an object
that could not be created is ``skipped``, with that reason). Running setup
again plans nothing: every item is read back from the CRM, never remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from prm_sync.errors import PrmSyncError
from prm_sync.exit_codes import ExitCode
from prm_sync.setup.wants import Want

Outcome = Literal["planned", "created", "failed", "skipped"]


class SetupItem(BaseModel):
    """One planned creation (or grant) and, once applied, how it went."""

    system: str
    kind: str
    object: str
    name: str
    summary: str
    action: str = "create"  # create | grant (field access for the integration user)
    outcome: Outcome = "planned"
    message: str | None = None
    needs: str | None = Field(None, description="the item (object) this one cannot go without")

    @property
    def label(self) -> str:
        """How tables name the item: ``Account.PRM_Id__c``, ``companies.prm_sync``, ``Deal_Registration__c``."""
        if self.kind == "label":
            return f"{self.object}: {self.name}"
        return f"{self.object}.{self.name}" if self.name else self.object


class SetupPlan(BaseModel):
    items: list[SetupItem] = Field(default_factory=list)
    checked: dict[str, int] = Field(default_factory=dict, description="system -> items checked")

    @property
    def empty(self) -> bool:
        return not self.items

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.outcome] = out.get(item.outcome, 0) + 1
        return out

    def exit_code(self) -> ExitCode:
        """OK when everything planned was created; PARTIAL when some items failed; FAILED when none succeeded."""
        counts = self.counts()
        bad = counts.get("failed", 0) + counts.get("skipped", 0)
        if not bad:
            return ExitCode.OK
        return ExitCode.PARTIAL if counts.get("created", 0) else ExitCode.FAILED


class SystemSetup(Protocol):
    """Per-CRM planner and applier (``salesforce_setup.py``, ``hubspot_setup.py``)."""

    system: str

    def plan(self, wants: list[Want]) -> list[SetupItem]: ...

    def apply(self, item: SetupItem, want: Want | None) -> None:
        """Create one item; raise ``SetupItemError`` (or a connector error) when the CRM refuses it."""
        ...


class SetupItemError(Exception):
    """The CRM refused one item; the message says what it answered."""


def item_for(want: Want, *, action: str = "create", needs: str | None = None) -> SetupItem:
    return SetupItem(system=want.system, kind=want.kind, object=want.object, name=want.name,
                     summary=want.summary, action=action, needs=needs)


def plan_setup(setups: list[SystemSetup], wants: list[Want]) -> SetupPlan:
    plan = SetupPlan()
    for setup in setups:
        mine = [w for w in wants if w.system == setup.system]
        plan.checked[setup.system] = len(mine)
        plan.items.extend(setup.plan(mine))
    return plan


def apply_setup(
    setups: list[SystemSetup],
    wants: list[Want],
    plan: SetupPlan,
    *,
    on_item: Callable[[SetupItem], None] | None = None,
) -> SetupPlan:
    """Create every planned item in order; each failure is recorded on its item and the rest go on."""
    by_system = {s.system: s for s in setups}
    by_key = {w.key: w for w in wants}
    failed: set[str] = set()
    for item in plan.items:
        if item.needs and item.needs in failed:
            item.outcome, item.message = "skipped", f"needs {item.needs}, which was not created"
            failed.add(f"{item.system}:{item.object}")
        else:
            want = by_key.get((item.system, item.kind, item.object, item.name))  # None: the planner's own item
            try:
                by_system[item.system].apply(item, want)
            except (SetupItemError, PrmSyncError) as exc:  # a refusal is this item's outcome; the rest go on
                item.outcome, item.message = "failed", _one_line(exc)
                if item.kind in ("object", "schema", "permission set"):
                    failed.add(f"{item.system}:{item.object}")
            else:
                item.outcome = "created"
        if on_item is not None:
            on_item(item)
    return plan


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
