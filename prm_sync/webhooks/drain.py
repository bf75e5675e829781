"""Drain the webhook inbox with a targeted sync, from the CLI or anything else that is not Dagster.

``prm-sync webhooks serve`` writes HubSpot webhook deliveries and Salesforce
outbound messages to the inbox; Dagster's ``inbox_sensor`` turns them into
targeted runs. Without Dagster, ``drain_inbox`` does the same in-process:
one sync for exactly the entities and records the pending events name
(``InboxBatch.targets``), after which the events are marked processed.
``prm-sync sync`` calls it before its own run, ``prm-sync webhooks drain``
on its own.

Events are marked only after the run returns: a run that raises leaves them
pending for the next drain, and a run that stops early (quota) has still
advanced nothing it did not commit, so the next incremental sync picks up
the rest (the records are newer than their cursors). Events naming objects
no mapping syncs are marked done without a run, as the sensor does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from prm_sync.sync.engine import SyncScope
from prm_sync.sync.progress import ProgressCallback
from prm_sync.sync.stats import RunReport
from prm_sync.webhooks.targets import pending_targets

if TYPE_CHECKING:
    from prm_sync.runtime import Runtime

INBOX_LIMIT = 1000  # events per targeted run, as the sensor takes them


class InboxDrain(BaseModel):
    """What a drain did: how many events it consumed and the targeted run's report (None: no run needed)."""

    events: int
    invalid_events: int = 0  # rows that were no valid notification: marked done, kept for inspection
    targets: dict[str, int] = {}  # entity -> records named for the push
    report: RunReport | None = None


def drain_inbox(
    runtime: Runtime,
    *,
    systems: list[str] | None = None,
    dry_run: bool = False,
    limit: int = INBOX_LIMIT,
    progress: ProgressCallback | None = None,
) -> InboxDrain | None:
    """One targeted sync of up to ``limit`` pending events; None when the inbox is empty."""
    with runtime.store.session(readonly=True) as session:
        batch = pending_targets(session, limit=limit)
    if not batch and not batch.invalid_event_ids:
        return None
    targets = batch.targets()
    drained = InboxDrain(events=len(batch.event_ids) + len(batch.invalid_event_ids),
                         invalid_events=len(batch.invalid_event_ids),
                         targets={entity: len(ids) for entity, ids in targets.items()})
    if targets:
        engine = runtime.engine(systems)
        scope = SyncScope(systems=systems, entities=sorted(targets), record_ids=targets,
                          deletes_announced=batch.deletes_announced())
        drained.report = engine.run(scope, dry_run=dry_run, trigger="inbox", progress=progress)
    if not dry_run:
        with runtime.store.session() as session:
            batch.mark_done(session)
    return drained
