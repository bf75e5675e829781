"""The Dagster UI, served against the sandbox config, shows our assets and jobs in a real browser.

``dagster-webserver`` runs as a subprocess on a free loopback port in its own
process group (it starts a code server child); Debian's ``chromium`` renders
the pages headless and dumps the DOM after the UI's JavaScript has run. The
test fails, not skips, when chromium is missing: CI installs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer within {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (the server and its code server), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a code server child that outlived its parent


@pytest.fixture
def webserver(dagster_world, tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "webserver_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PRM_SYNC_CONFIG": str(dagster_world.config_path),
           "PRM_SYNC_SANDBOX_STATE": str(dagster_world.state_file)}
    port = _free_port()
    log = tmp_path / "webserver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-m", "dagster_project.definitions",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process, log)
        yield url
    finally:
        _stop(process)


def _rendered_text(url: str, profile: Path) -> str:
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--dump-dom",
         "--virtual-time-budget=15000", url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", done.stdout, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.browser
def test_dagster_ui_lists_the_sync_assets_and_jobs(webserver: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "chromium is missing: apt-get install -y chromium"

    assets = _rendered_text(f"{webserver}/assets", tmp_path / "profile_assets")
    for key in ("hubspot / deal_registrations", "hubspot / deals", "erp / invoices", "lms / course_completions"):
        assert key in assets, f"{key!r} not on the assets page: {assets[:2000]}"
    assert "Each materialization syncs hubspot/partner (companies)" in assets

    jobs = _rendered_text(f"{webserver}/jobs", tmp_path / "profile_jobs")
    for name in ("full_sync_job", "incremental_sync_job", "replay_job", "reconcile_job", "expiry_job",
                 "mapping_plan_job", "targeted_sync_job"):
        assert name in jobs, f"{name} not on the jobs page: {jobs[:2000]}"
