"""Provision a freshly started sandbox the way a customer does: ``prm-sync setup``'s engine function.

The sandboxes start as a new org and portal do, without our custom fields,
properties and objects. Every fixture that starts one runs ``run_setup``
through the real connector (simple-salesforce / hubspot-api-client over
HTTP) right after the start, with the repo's mappings, so a test sees
exactly what setup creates. Usage counters are reset afterwards: the API
budget a test measures is its own.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prm_sync.mapping.apply import MappingSet, load_mappings
from prm_sync.setup import run_setup

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@functools.cache
def repo_mappings() -> MappingSet:
    return load_mappings([MAPPINGS])


def provision(connectors: Mapping[str, Any], apps: Mapping[str, Any], mappings: MappingSet | None = None) -> None:
    """Run setup against ``connectors`` and fail loudly if any item was not created."""
    plan = run_setup(mappings or repo_mappings(), connectors)
    failed = [item for item in plan.items if item.outcome != "created"]
    assert not failed, f"setup could not provision the sandbox: {failed}"
    for app in apps.values():
        reset_usage(app)


def reset_usage(app: Any) -> None:
    """Forget the requests setup made (call counts, daily budget, rolling window), as if the test started now."""
    with app.lock:
        app.calls.clear()
        if hasattr(app, "api_used"):
            app.api_used = 0
        if hasattr(app, "daily_used"):
            app.daily_used = 0
        window = getattr(app, "_window", None)
        if isinstance(window, deque):  # the HubSpot rolling ten-second window
            window.clear()


def provision_runtime(runtime: Any, apps: Mapping[str, Any]) -> None:
    """Setup for every CRM a runtime is configured for (tests that start a ``SandboxCluster`` themselves)."""
    from prm_sync.setup import SETUP_SYSTEMS

    crms = [name for name in runtime.config.systems.enabled() if name in SETUP_SYSTEMS]
    provision(runtime.connectors(crms), {name: apps[name] for name in crms}, runtime.mappings)
