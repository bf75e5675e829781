"""Tell the orchestrator what a CLI command changed (``prm_sync.health.observers``).

A report that cannot be delivered never undoes or fails the command that
made the change; it is one warning line on stderr, so stdout stays clean for
``--json``.
"""

from __future__ import annotations

from rich.markup import escape

from prm_sync.cli.output import err_console
from prm_sync.config import AppConfig
from prm_sync.health.observers import HealthChange, observers
from prm_sync.store.db import Store


def notify(config: AppConfig, store: Store, change: HealthChange) -> list[str]:
    """Report ``change`` to every available observer; returns the lines saying where it went."""
    said: list[str] = []
    for observer in observers():
        try:
            said.append(observer.report(config, store, change))
        except Exception as exc:  # a third party's storage: its failure must not turn a done sync into an error
            err_console.print(f"[yellow]warning:[/] could not report to {observer.name}: "
                              f"{escape(type(exc).__name__)}: {escape(str(exc))}", highlight=False)
    for line in said:
        err_console.print(line, markup=False, highlight=False)
    return said


def notify_runs(config: AppConfig, store: Store, run_ids: list[str | None], actor: str = "cli") -> list[str]:
    """Report sync runs a command made (adopt, webhooks drain, reconcile --repair): their slices, as the store has them."""
    from prm_sync.store.runs import get_run

    found = [r for r in run_ids if r]
    if not found:
        return []
    slices: set[tuple[str, str]] = set()
    with store.session(readonly=True) as session:
        for run_id in found:
            run = get_run(session, run_id)
            for entry in (run.stats.get("slices") or []) if run is not None else []:
                if entry.get("system") and entry.get("entity"):
                    slices.add((entry["system"], entry["entity"]))
    return notify(config, store, HealthChange(kind="run", slices=sorted(slices), run_ids=found, actor=actor))
