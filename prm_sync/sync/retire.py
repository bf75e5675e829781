"""``on_delete``: what a system's copy becomes when its PRM record goes.

A PRM record "goes" when it is deactivated (``CanonicalRecord.inactive``: a
terminated partner, whether a PRM user terminated it or another CRM deleted
it) or is no longer in the store at all (deleted, or merged into another).
Each system's mapping says what its copy becomes: ``archive`` (Salesforce's
Recycle Bin, HubSpot's archive: recoverable), ``delete`` (permanent where the
API can), ``mark`` (keep it, set fields such as ``Partner_Status__c``) or
``ignore``. An archived or deleted copy's link is marked ``remote_deleted``
so no later push re-creates it; a record that was never written there is
not created just to be removed. Every action is audited and a refused one
lands in the failed-records store (operation ``delete``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import UpsertRequest, WriteResult
from prm_sync.mapping.known_fields import REMOTE_ID_FIELD
from prm_sync.mapping.spec import MarkPolicy
from prm_sync.model import CanonicalRecord
from prm_sync.sync import repo
from prm_sync.sync.context import RunContext
from prm_sync.sync.linkstate import LinkState
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import SliceStats


@dataclass
class Retirement:
    """One copy to remove or mark: its link, and why (``inactive`` or ``gone`` from the PRM)."""

    state: LinkState
    action: str  # archive | delete | mark | detach
    why: str


def policy(sl: Slice) -> Any:
    return sl.mapping.spec.on_delete


def mark_fields(sl: Slice) -> dict[str, Any]:
    """The fields a ``mark`` policy sets on the copy ({} for the other policies)."""
    rule = policy(sl)
    return dict(rule.mark) if isinstance(rule, MarkPolicy) else {}


def for_inactive(sl: Slice, record: CanonicalRecord, state: LinkState | None) -> Retirement | None:
    """A deactivated record's retirement in this system, when its policy removes the copy (not mark/ignore)."""
    rule = policy(sl)
    if not record.inactive or rule not in ("archive", "delete") or state is None or not state.remote_id:
        return None
    return Retirement(state, str(rule), f"{record.entity} {record.id} is no longer active in the PRM")


def for_orphans(ctx: RunContext, session: Any, sl: Slice) -> list[Retirement]:
    """Copies of records no longer in the PRM store: each by the policy (``ignore`` only detaches the link)."""
    if not sl.creates_remote:
        return []
    rule = policy(sl)
    action = "mark" if isinstance(rule, MarkPolicy) else {"ignore": "detach"}.get(str(rule), str(rule))
    return [Retirement(s, action, f"{sl.entity} {s.record_id} is no longer in the PRM")
            for s in repo.orphan_links(session, sl.entity, sl.system)]


def retire(ctx: RunContext, sl: Slice, stats: SliceStats, items: list[Retirement]) -> None:
    """Apply the planned retirements; each outcome is committed with its link state, audit and failure."""
    if not items:
        return
    if ctx.dry_run:
        stats.deleted += sum(1 for r in items if r.action != "detach")
        return
    connector = ctx.connectors[sl.system]
    ctx.before_remote_write()
    results: dict[str, WriteResult] = {}
    for permanent in (False, True):
        ids = [str(r.state.remote_id) for r in items if r.action == ("delete" if permanent else "archive")]
        if ids:
            results.update(zip(ids, connector.delete(sl.remote_object, ids, permanent=permanent), strict=True))
    marks = [r for r in items if r.action == "mark"]
    if marks:
        fields = mark_fields(sl)
        requests = [UpsertRequest(key=str(r.state.remote_id), fields=fields) for r in marks]
        results.update(zip([str(r.state.remote_id) for r in marks],
                           connector.upsert(sl.remote_object, REMOTE_ID_FIELD[sl.system], requests), strict=True))
    with ctx.transaction() as session:
        for item in items:
            remote_id = str(item.state.remote_id)
            result = results.get(remote_id, WriteResult(key=remote_id, ok=True))
            if not result.ok:
                stats.failed += 1
                repo.record_write_failure(session, ctx, sl, item.state.record_id, {"action": item.action},
                                          result, stats, operation="delete")
                continue
            repo.put_state(session, item.state.model_copy(update={
                "remote_deleted": True, "record_version": None, "last_synced_at": ctx.clock(), "direction": "push"}))
            ctx.links.forget(sl.entity, sl.system, item.state.record_id)
            repo.resolve_failures_many(session, sl.system, sl.remote_object, [item.state.record_id], ("delete",))
            repo.audit(session, ctx, sl, action=item.action, record_id=item.state.record_id, remote_id=remote_id,
                       before={}, after={}, decisions={}, reason=f"on_delete {item.action}: {item.why}")
            if item.action != "detach":
                stats.deleted += 1
