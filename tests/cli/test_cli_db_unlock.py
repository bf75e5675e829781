"""``prm-sync db unlock``: an operator frees the slice locks a dead sync left, audited; a live holder is kept."""

from __future__ import annotations

import subprocess
import sys

from prm_sync.exit_codes import ExitCode
from prm_sync.store import locks, query_audit, runs


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc.kill()
    proc.wait()
    return proc.pid


def test_db_unlock_frees_dead_holders_keeps_a_live_one_until_forced(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    store = env.runtime.store
    killed = locks.Holder("run_killed", host=locks.this_host(), pid=dead_pid())
    assert locks.acquire_lock(store, "salesforce/partner", "run_killed", holder=killed)
    assert locks.acquire_lock(store, "salesforce/opportunity", "run_alive")  # this process: alive
    with store.session() as session:
        runs.start_run(session, trigger="cli", run_id="run_killed")

    listed = env.cli("status")
    assert "lock 'salesforce/partner': held by run_killed on" in " ".join(listed.stdout.split())

    freed = env.cli("db", "unlock")
    assert freed.exit_code == ExitCode.LOCKED, freed.output  # one holder may still be alive: kept
    assert "freed lock 'salesforce/partner' of run run_killed" in freed.stdout
    assert "salesforce/opportunity" in freed.stderr and "--force" in freed.stderr
    assert len(freed.stderr.strip().splitlines()) == 1

    forced = env.cli("db", "unlock", "salesforce/opportunity", "--force", "--json")
    assert forced.exit_code == ExitCode.OK, forced.output
    assert [lock["run_id"] for lock in forced.json()["freed"]] == ["run_alive"]
    assert env.cli("db", "unlock").stdout.strip() == "no lock is held"

    with store.session(readonly=True) as session:
        assert locks.list_locks(session) == []
        assert runs.get_run(session, "run_killed").status == "abandoned"
        unlocks = [e for e in query_audit(session) if e.action == "lock.unlock"]
    assert len(unlocks) == 2 and all(e.actor.startswith("cli") for e in unlocks)
    assert "locks: free" in env.cli("status").stdout
