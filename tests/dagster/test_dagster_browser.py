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
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
# screenshots are kept in ARTIFACTS (ignored by git; .ci/run lists them after the tests).
# Where, in a 1440x1200 screenshot, the asset page draws its status section and the checks list (below the top bar,
# whose "Unsynced" badge is amber whatever the health)
STATUS_SECTION = (240, 150, 1060, 260)
CHECK_LIST = (240, 200, 560, 460)
ARTIFACTS = Path(os.environ.get("PRM_SYNC_TEST_ARTIFACTS", REPO / ".data" / "test-artifacts")) / "browser"
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


@pytest.fixture(scope="module")
def webserver(reported_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The UI on the instance the CLI reported to (``reported_world``'s ``DAGSTER_HOME``)."""
    home = os.environ["DAGSTER_HOME"]
    env = {**os.environ, "DAGSTER_HOME": home, "PRM_SYNC_CONFIG": str(reported_world.config_path),
           "PRM_SYNC_SANDBOX_STATE": str(reported_world.state_file)}
    port = _free_port()
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    with log.open("wb") as out:
        # no -m: the code location is read from pyproject's [tool.dagster], named prm_sync as under `dagster dev`
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process, log)
        yield url
    finally:
        _stop(process)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM.exists(), "chromium is missing: apt-get install -y chromium"
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", "--window-size=1440,1200", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _rendered_text(url: str, profile: Path) -> str:
    done = _chromium(profile, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", done.stdout, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _screenshot(url: str, profile: Path, name: str) -> Path:
    """A PNG of the page, kept as a test artifact in ``ARTIFACTS`` (chromium takes it apart from the DOM dump:
    asked for both at once it can hang on a page that keeps polling)."""
    target = profile.parent / f"{name}.png"
    done = _chromium(profile, f"--screenshot={target}", url)
    assert done.returncode == 0 and target.exists(), done.stderr[-2000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, ARTIFACTS / target.name)
    return target


@pytest.mark.browser
def test_dagster_ui_lists_the_sync_assets_and_jobs(webserver: str, tmp_path: Path) -> None:
    assets = _rendered_text(f"{webserver}/assets", tmp_path / "profile_assets")
    for key in ("hubspot / deal_registrations", "hubspot / deals", "erp / invoices", "lms / course_completions",
                "prm / sync_health", "prm / failed_records"):
        assert key in assets, f"{key!r} not on the assets page: {assets[:2000]}"
    assert "Each materialization syncs hubspot/partner (companies)" in assets

    jobs = _rendered_text(f"{webserver}/jobs", tmp_path / "profile_jobs")
    for name in ("full_sync_job", "incremental_sync_job", "replay_job", "reconcile_job", "expiry_job",
                 "mapping_plan_job", "targeted_sync_job", "health_job"):
        assert name in jobs, f"{name} not on the jobs page: {jobs[:2000]}"


def _warning_pixels(png: Path, box: tuple[int, int, int, int]) -> int:
    """Red and amber pixels inside ``box`` (left, top, right, bottom) of a screenshot: failed and warning states.

    A small PNG reader (8-bit RGB/RGBA, no interlace, as chromium writes) so
    the test needs no imaging library.
    """
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 4 if colour == 6 else 3
    raw, stride = zlib.decompress(b"".join(chunks)), width * (4 if colour == 6 else 3)
    previous, found = bytearray(stride), 0
    left_x, top, right_x, bottom = box
    for y in range(min(bottom, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        for x in range(left_x * channels, min(right_x, width) * channels, channels):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if y >= top and r > 180 and b < 110 and g < r - 60:  # red (failed) or amber (warning): not green, not grey
                found += 1
        previous = line
    return found


@pytest.mark.browser
def test_dagster_ui_shows_cli_runs_and_failures_not_green(webserver: str, tmp_path: Path) -> None:
    """The health view and a slice with open failures, reported by a CLI run: visibly not green, screenshots kept."""
    # screenshots first, so they are kept for a look when an assertion below fails
    health_url = f"{webserver}/assets/prm/sync_health"
    health_shot = _screenshot(health_url, tmp_path / "profile_health_png", "sync_health")
    partners_url = f"{webserver}/assets/salesforce/partners?view=checks&checkDetail=open_failures"
    partners_shot = _screenshot(partners_url, tmp_path / "profile_partners_png", "salesforce_partners_open_failures")

    health = _rendered_text(health_url, tmp_path / "profile_health")
    assert "Latest materialization" in health and "run_" in health  # the CLI's run, in Dagster
    assert re.search(r"salesforce/partner failures .*FIELD_CUSTOM_VALIDATION_EXCEPTION", health), health[:3000]
    assert "hubspot/partner never" in health  # never synced: red, not silently absent
    assert _warning_pixels(health_shot, STATUS_SECTION) > 20  # the failed sync_healthy check's red badge

    partners = _rendered_text(partners_url, tmp_path / "profile_partners")
    assert re.search(r"open_failures\s+Failed", partners), partners[:3000]
    assert "1 open failed record: 1 FIELD_CUSTOM_VALIDATION_EXCEPTION" in partners
    assert re.search(r"sync_fresh\s+Succeeded", partners)  # it ran: fresh, only not clean
    assert _warning_pixels(partners_shot, CHECK_LIST) > 20  # the amber warning of open_failures

    # the control: a slice with nothing open draws no red or amber in the same place, so the count above means it
    healthy_url = f"{webserver}/assets/salesforce/end_customers?view=checks&checkDetail=open_failures"
    shot = _screenshot(healthy_url, tmp_path / "profile_healthy_png", "salesforce_end_customers_healthy")
    assert _warning_pixels(shot, CHECK_LIST) == 0


def _replay_link(asset: list[str], check: str) -> str:
    """The launchpad link a check's ``replay`` metadata offers, as the CLI's run reported it to the instance."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    key = AssetCheckKey(AssetKey(asset), check)
    with DagsterInstance.get() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    markdown = latest.event.dagster_event.event_specific_data.metadata["replay"].value
    found = re.search(r"\]\((/locations/[^)\s]+)\)", markdown)
    assert found, markdown
    return found.group(1)


@pytest.mark.browser
def test_dagster_ui_replay_link_opens_the_launchpad_with_the_failure_ids(webserver: str, reported_world,
                                                                        tmp_path: Path) -> None:
    """A failure id is picked by following the open_failures check's link: replay_job's launchpad, config filled in."""
    from prm_sync.store import failures

    with reported_world.store() as store, store.session(readonly=True) as session:
        [failure_id] = [f.id for f in failures.list_failures(session, status="open", system="salesforce",
                                                            remote_object="Account")]
    link = _replay_link(["salesforce", "partners"], "open_failures")
    launchpad = _rendered_text(f"{webserver}{link}", tmp_path / "profile_launchpad")
    assert "Launchpad" in launchpad and "replay_job" in launchpad, launchpad[:3000]
    # the config editor holds the run config the link carried: the op, its config and the failure's id
    assert re.search(rf"replay_failures\s*:\s*\{{\s*config\s*:\s*\{{\s*ids\s*:\s*\[\s*{failure_id}\s*\]", launchpad), (
        launchpad[:3000])
    assert "Errors No errors" in launchpad  # the launchpad checked that config against the job's schema
