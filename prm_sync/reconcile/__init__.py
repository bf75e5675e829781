"""Reconcile: full snapshots of each system and of the PRM store, compared by key in DuckDB.

Incremental syncs only see what changed since their cursor; reconcile is the
periodic full check that they missed nothing (a change that committed behind
the cursor, a record deleted without a trace, a duplicate a user made). See
``run.py`` for the flow, ``compare.py`` for the kinds of difference and
``repair.py`` for how ``--repair`` feeds them back through the sync engine.
"""

from prm_sync.reconcile.models import Difference, ReconcileReport, RepairSummary, SliceSummary
from prm_sync.reconcile.run import run_reconcile

__all__ = ["Difference", "ReconcileReport", "RepairSummary", "SliceSummary", "run_reconcile"]
