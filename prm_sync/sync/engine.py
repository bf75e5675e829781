"""A sync run: which slices, in which order, under their slice locks, recorded as a run.

Order follows the data: partners before the records that reference them,
customers before opportunities, registrations before the opportunity
write-back that shows them in the CRM. For each entity every system is
pulled first and pushed second, so an edit made in one CRM reaches the PRM
store and the other CRM in the same run.

A run locks each (system, entity) slice it touches, taken in that same
dependency order, so a Salesforce run and a HubSpot run (two Dagster steps,
two processes) go at the same time while two runs of one slice never do.
The locks are renewed by a heartbeat thread, and every batch transaction
re-checks them (``LockSet.fence``): a run presumed dead and taken over
stops before it writes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from connectors.base import Connector
from prm_sync.config import AppConfig
from prm_sync.errors import AuthError, QuotaExhausted, TransientError
from prm_sync.mapping.apply import MappingSet
from prm_sync.model import new_id
from prm_sync.store import locks
from prm_sync.store.db import Store
from prm_sync.sync import repo
from prm_sync.sync.context import CrashHook, RunContext
from prm_sync.sync.gc_pacing import paced_gc
from prm_sync.sync.preview import DEFAULT_SAMPLE, Preview
from prm_sync.sync.progress import ProgressCallback, ProgressEvent
from prm_sync.sync.pull import pull_slice
from prm_sync.sync.push import push_slice
from prm_sync.sync.slice import Slice
from prm_sync.sync.stats import RunReport, SliceStats

ENTITY_ORDER = [
    "partner",
    "partner_contact",
    "end_customer",
    "deal_registration",  # before opportunity: the opportunity write-back references it
    "opportunity",
    "course_completion",
    "certification",
    "invoice",
    "payment",
    "closure",
    "attribution",
    "payout",
]

RuleHook = Callable[[RunContext, RunReport], None]


@dataclass
class SyncScope:
    systems: list[str] | None = None
    entities: list[str] | None = None
    full: bool = False
    record_ids: dict[str, set[str]] | None = None  # entity -> PRM ids, for targeted runs (replay, inbox)
    # (system, remote object) whose deletes a webhook announced: their delete sweep runs now, not at its interval
    deletes_announced: set[tuple[str, str]] | None = None


@dataclass
class SyncEngine:
    store: Store
    config: AppConfig
    mappings: MappingSet
    connectors: dict[str, Connector]
    crash_hook: CrashHook | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    rule_hooks: list[RuleHook] = field(default_factory=list)  # called once, between pulls and pushes

    def slices(self, scope: SyncScope, *, require_connectors: bool = True) -> list[Slice]:
        chosen: list[Slice] = []
        for entity in ENTITY_ORDER:
            if scope.entities and entity not in scope.entities:
                continue
            for system in self.mappings.systems_for(entity):
                if require_connectors and system not in self.connectors:
                    continue
                if scope.systems and system not in scope.systems:
                    continue
                mapping = self.mappings.for_entity(system, entity)
                if mapping is not None:
                    chosen.append(Slice.of(mapping))
        return chosen

    def lock_scopes(self, scope: SyncScope) -> list[str]:
        """The slice locks a run over ``scope`` takes, in dependency order (then by system)."""
        chosen = self.slices(scope)
        chosen.sort(key=lambda sl: (ENTITY_ORDER.index(sl.entity), sl.system))
        return list(dict.fromkeys(locks.slice_scope(sl.system, sl.entity) for sl in chosen))

    def run(
        self,
        scope: SyncScope | None = None,
        *,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: ProgressCallback | None = None,
        preview_sample: int = DEFAULT_SAMPLE,
    ) -> RunReport:
        """One run over ``scope``; ``dry_run`` does it all in a transaction that is rolled back, and
        ``report.preview`` then lists what would change (at most ``preview_sample`` records per step)."""
        scope = scope or SyncScope()
        run_id = new_id("run")
        ctx = RunContext(
            store=self.store,
            config=self.config,
            mappings=self.mappings,
            connectors=self.connectors,
            run_id=run_id,
            dry_run=dry_run,
            full=scope.full,
            sweep_now=frozenset(scope.deletes_announced or ()),
            crash_hook=self.crash_hook,
            clock=self.clock,
            preview=Preview(sample=preview_sample) if dry_run else None,
        )
        report = RunReport(
            run_id=run_id,
            status="running",
            dry_run=dry_run,
            started_at=self.clock(),
            mapping_version=self.mappings.version,
            preview=ctx.preview,
        )
        held = None
        if not dry_run:
            def reset(session: Session) -> None:
                repo.reset_cursors(session, scope.systems, scope.entities)

            held = repo.open_run(ctx, report, self.lock_scopes(scope), trigger=trigger, scope=scope.__dict__,
                                 before=reset if scope.full else None)
        try:
            with paced_gc():
                self._run_slices(ctx, scope, report, progress)
            report.settle()
        except BaseException as exc:  # KeyboardInterrupt and Dagster's termination too: the row must not stay running
            report.status = "failed"
            report.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            report.finished_at = self.clock()
            ctx.close()
            repo.close_run(ctx, report, held)
        return report

    def _run_slices(
        self, ctx: RunContext, scope: SyncScope, report: RunReport, progress: ProgressCallback | None
    ) -> None:
        """Pull every slice, apply the channel rules once, then push every slice.

        In a dry run the rules run too, inside the run's one rolled-back
        session: the preview shows what they would change (a tier promotion, a
        conflict decision, the write-back it causes) and nothing stays.
        """
        stopped_systems: dict[str, str] = {}
        slices = self.slices(scope)
        for sl in slices:
            report.slices.append(
                SliceStats(system=sl.system, entity=sl.entity, remote_object=sl.remote_object)
            )
        pulls = [sl for sl in slices if sl.can_pull and (scope.record_ids is None or sl.entity in scope.record_ids)]
        pushes = [sl for sl in slices if sl.can_push and (scope.record_ids is None or sl.entity in scope.record_ids)]
        steps = len(pulls) + (1 if self.rule_hooks else 0) + len(pushes)
        step = 0

        def announce(phase: str, sl: Slice | None) -> None:
            nonlocal step
            step += 1
            if progress is None:
                return
            here = step
            system, entity = (sl.system, sl.entity) if sl is not None else (None, None)
            progress(ProgressEvent(phase, system, entity, here, steps))
            ctx.on_progress = lambda done, total: progress(ProgressEvent(phase, system, entity, here, steps, done, total))

        for phase, chosen in (("pull", pulls), ("push", pushes)):
            if phase == "push" and self.rule_hooks:
                announce("rules", None)
                for hook in self.rule_hooks:
                    hook(ctx, report)
                if ctx.preview is not None:
                    with ctx.transaction() as session:
                        ctx.preview.rules(session, ctx.run_id)
            for sl in chosen:
                stats = report.slice(sl.system, sl.entity)
                announce(phase, sl)
                if sl.system in stopped_systems:
                    stats.stopped_reason = stats.stopped_reason or stopped_systems[sl.system]
                    continue
                reason = self._run_phase(ctx, sl, stats, phase, scope)
                if reason:
                    stopped_systems[sl.system] = reason
                    stats.stopped_reason = reason
        ctx.on_progress = None

    def _run_phase(
        self, ctx: RunContext, sl: Slice, stats: SliceStats, phase: str, scope: SyncScope
    ) -> str | None:
        connector = ctx.connectors[sl.system]
        calls_before = connector.api_calls
        started = time.perf_counter()
        try:
            if phase == "pull":
                pull_slice(ctx, sl, stats)
            else:
                ids = scope.record_ids.get(sl.entity) if scope.record_ids is not None else None
                if scope.record_ids is not None and ids is None:
                    return None
                if ids is not None:
                    # what this run's pulls changed goes on too: a partner born in one CRM and announced by a
                    # webhook (no PRM id yet, so not named) gets its id written back and reaches the other CRMs
                    ids = set(ids) | ctx.pulled.get(sl.entity, set())
                push_slice(ctx, sl, stats, record_ids=ids)
            return None
        except QuotaExhausted as exc:
            return f"quota: {exc}"
        except AuthError as exc:
            return f"auth: {exc}"
        except TransientError as exc:
            return f"unavailable: {exc}"
        finally:
            stats.api_calls += connector.api_calls - calls_before
            quota = connector.quota()
            stats.quota_remaining = quota.remaining
            if quota.limit is not None:
                stats.quota_used, stats.quota_limit, stats.quota_window = quota.used, quota.limit, quota.window
            stats.duration_seconds += time.perf_counter() - started
