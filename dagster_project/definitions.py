"""The code location ``dagster dev`` and ``dagster definitions validate`` load (pyproject ``[tool.dagster]``).

Configuration comes from ``PRM_SYNC_CONFIG`` (default ``config/prm_sync.yaml``)
and, to point everything at the local sandboxes, ``PRM_SYNC_SANDBOX_STATE``.
"""

from dagster_project.project import build_definitions

defs = build_definitions()
