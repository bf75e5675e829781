"""``prm-sync status`` tells the truth about time and quota: a stopped schedule turns slices red, API use is a share.

One Salesforce world synced once while the org reports 85,000 of its
100,000 daily API requests used (the sandbox's ``Sforce-Limit-Info``, each call of the sync
counted on top): the
health summary shows 85.0 % of the daily limit, flagged above the 80 %
warning. Time is frozen on either side of the freshness window: just
inside, every slice is ``ok``; just past it (the schedule stopped, or the
Dagster daemon died) every slice is ``stale``, red, with the reason. On a
real terminal (a pty) the status words are coloured, and ``NO_COLOR`` turns
colour off.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from freezegun import freeze_time

from connectors.sandbox.http import FaultConfig

DAILY_LIMIT = 100_000  # the Salesforce sandbox's daily request budget
LEFT = 15_000  # what the org says is left: 85 % used, above health.quota_warn_pct (80)
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _colours(text: str) -> set[int]:
    """The foreground colour codes (30-38, 90-97) a terminal is told to use; bold and italic are not colours."""
    return {int(p) for params in SGR.findall(text) for p in params.split(";") if p and (30 <= int(p) <= 38 or 90 <= int(p) <= 97)}


def _status_on_a_terminal(config: Path, **extra_env: str) -> str:
    """``prm-sync status`` as a separate process whose stdout is a pseudo-terminal, as an operator runs it."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color", **extra_env}
    for name in ("NO_COLOR", "FORCE_COLOR"):
        if name not in extra_env:
            env.pop(name, None)
    cli = Path(sys.executable).parent / "prm-sync"
    process = subprocess.Popen([str(cli), "--config", str(config), "status"], stdout=secondary,
                               stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
        returncode = process.wait(timeout=60)
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert returncode == 0, stderr
    return b"".join(chunks).decode()


def test_status_stale_after_the_window_quota_share_and_colours(make_sync_env) -> None:
    env = make_sync_env(systems=("salesforce",))
    env.apps["salesforce"].faults = FaultConfig(quota_remaining=LEFT)
    synced = env.cli("sync")
    assert synced.exit_code == 0, synced.output

    used = DAILY_LIMIT - env.apps["salesforce"].faults.quota_remaining  # the org's count, each call of the sync included

    now = env.cli("status", "--json").json()
    [quota] = now["quotas"]
    assert (quota["system"], quota["used"], quota["limit"], quota["window"]) == ("salesforce", used, DAILY_LIMIT, "daily")
    assert quota["pct"] == 85.0 and quota["over_warning"] is True
    assert {s["quota_pct"] for s in now["slices"]} == {85.0}
    assert {s["status"] for s in now["slices"]} == {"ok"} and now["status"] == "ok"
    wide = env.cli("status").stdout
    assert f"salesforce API: 85.0% of the daily limit ({used:,} of 100,000, as of" in " ".join(wide.split())

    window = timedelta(minutes=now["freshness_minutes"])
    last_good = max(datetime.fromisoformat(s["last_success_at"]) for s in now["slices"])
    with freeze_time(last_good + window - timedelta(minutes=5)):
        inside = env.cli("status", "--json").json()
    assert inside["status"] == "ok", [(s["entity"], s["status"], s["reasons"]) for s in inside["slices"]]
    with freeze_time(last_good + window + timedelta(minutes=5)):
        past = env.cli("status", "--json").json()
        shown = env.cli("status").stdout
    assert past["status"] == "stale"
    assert {s["status"] for s in past["slices"]} == {"stale"}
    reasons = " ".join(r for s in past["slices"] for r in s["reasons"])
    assert "is the schedule stopped or the Dagster daemon down?" in reasons
    assert "sync health: stale" in shown and re.search(r"salesforce/partner\s+stale", shown), shown

    coloured = _status_on_a_terminal(env.work_dir / "prm_sync.yaml")
    assert re.search(r"\x1b\[[0-9;]*32m(?:\x1b\[[0-9;]*m)*ok\b", coloured), coloured  # ok in green
    assert re.search(r"\x1b\[[0-9;]*31m(?:\x1b\[[0-9;]*m)*85\.0%", coloured), coloured  # the quota warning in red
    plain = _status_on_a_terminal(env.work_dir / "prm_sync.yaml", NO_COLOR="1")
    assert _colours(coloured) >= {31, 32} and not _colours(plain)  # NO_COLOR: no colour (bold stays, as no-color.org says)
    assert re.search(r"salesforce/partner\s+ok", SGR.sub("", plain)), plain
