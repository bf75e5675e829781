"""prm-sync in Dagster: a thin orchestration layer over the sync engine, no engine logic here.

``definitions.py`` is the code location; ``project.py`` builds it from the
prm-sync config. ``catalog`` names the assets, ``resources`` wraps the
connectors, store, config and mappings, ``assets``/``derived`` materialize
sync slices and rule results, ``checks`` gate them, ``ops``/``jobs`` run
replay, reconcile, expiry, the mapping plan and targeted syncs,
``schedules``/``sensors``/``notifications`` automate them, ``metadata``
turns run reports into what the UI shows.
"""
