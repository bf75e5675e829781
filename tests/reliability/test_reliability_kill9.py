"""kill -9 of a real ``prm-sync sync`` process in the middle of its push, then a re-run.

The crash tests raise at checkpoints inside one process; here the process
is gone for good, holding its slice locks and leaving its run row
``running``, as after an OOM kill or a lost container. The re-run must not
be refused (the dead holder's pid is gone from this host, so its locks are
taken over at once rather than after ``lock_stale_after_seconds``), must
converge with no duplicate in either CRM, and must leave the dead run
``abandoned`` with the takeover in the audit log. ``benchmarks/kill_soak.py``
does this at random moments, many times over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.crash import writes

from prm_sync.exit_codes import ExitCode
from prm_sync.store import locks, query_audit, runs

PRM_SYNC = Path(sys.executable).parent / "prm-sync"


def test_kill_9_mid_push_then_rerun_converges_without_waiting_for_the_lock(make_sync_env, converged) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot"))
    config = env.write_config()
    salesforce = env.apps["salesforce"]
    proc = subprocess.Popen([str(PRM_SYNC), "--config", str(config), "sync"], cwd=env.work_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # kill it once its first partners are in Salesforce: a push is under way, more batches to come
        while not [r for r in salesforce.all_records("Account") if r.get("PRM_Id__c")]:
            assert proc.poll() is None, f"the sync ended before it was killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "the sync never started pushing"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    with env.runtime.store.session(readonly=True) as session:
        [killed] = runs.list_runs(session)
        held = locks.list_locks(session)
    assert killed.status == "running" and held and {lock.run_id for lock in held} == {killed.id}
    assert {lock.pid for lock in held} == {proc.pid}

    rerun = env.cli("sync", "--json")  # at once: no hour's wait for the heartbeat to expire

    assert rerun.exit_code == ExitCode.OK, rerun.output
    with env.runtime.store.session(readonly=True) as session:
        dead = runs.get_run(session, killed.id)
        takeovers = [e for e in query_audit(session, run_id=rerun.json()["run_id"]) if e.action == "lock.takeover"]
        assert locks.list_locks(session) == []
    assert dead.status == "abandoned" and f"process {proc.pid}" in (dead.error or "")
    assert {e.fields_before["scope"] for e in takeovers} == {lock.scope for lock in held}
    checked = converged(env)
    assert checked["partner"] and checked["deal_registration"]
    assert writes(env.run()) == 0
