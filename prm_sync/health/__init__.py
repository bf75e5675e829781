"""Sync health: what an operator needs to see whether syncs are healthy and what to do when not.

* ``causes`` - a remote's error parsed into field, value and allowed values,
  failed records grouped by cause, with fix guidance and the next command.
* ``links`` - the CRM record a failure is about, as a URL.
* ``summary`` - per system and entity: last good run and its age, records
  read and written, open failures by cause, quota used, unmatched records,
  freshness against the schedules.
* ``schedule`` - the configured schedules' next ticks.
* ``observers`` - other histories a run is reported to (the Dagster instance).

The CLI (``prm-sync status``, ``runs``, ``failures``) and Dagster (the
``prm/sync_health`` and ``prm/failed_records`` assets, the slice checks) show
the same numbers because both call these functions.
"""
