"""`prm-sync sandbox up` as the README shows it, the state file, persistence and the seed knobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from connectors.sandbox.cluster import SandboxCluster
from connectors.sandbox.seed import generate
from connectors.sandbox.seeding import seed_sandboxes

REPO = Path(__file__).resolve().parents[2]
PRM_SYNC = Path(sys.executable).with_name("prm-sync")


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"sandbox up exited early ({proc.returncode}): {out}\n{err}")
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # written atomically, but be patient with a partial read anyway
        time.sleep(0.1)
    raise AssertionError(f"no state file at {path} after {timeout}s")


def test_sandbox_up_serves_all_four_and_stops_on_sigterm(tmp_path):
    state_file = tmp_path / "sandbox.json"
    proc = subprocess.Popen(
        [str(PRM_SYNC), "sandbox", "up", "--state-file", str(state_file), "--work-dir", str(tmp_path / "sbx"),
         "--seed", "3", "--scale", "0.02"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        state = _wait_for(state_file, proc)
        systems = state["systems"]
        assert set(systems) == {"salesforce", "hubspot", "lms", "erp"}
        assert systems["salesforce"]["instance_url"].startswith("https://127.0.0.1:")
        assert Path(systems["salesforce"]["ca_bundle"]).exists()
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"  # it holds tokens
        for name in ("hubspot", "lms", "erp"):
            assert systems[name]["base_url"].startswith("http://127.0.0.1:")

        hubspot = systems["hubspot"]
        auth = {"Authorization": f"Bearer {hubspot['access_token']}"}
        listed = requests.get(f"{hubspot['base_url']}/crm/v3/objects/companies?limit=5", headers=auth, timeout=10)
        assert listed.status_code == 200 and len(listed.json()["results"]) == 5  # seeded
        wrong = requests.get(f"{hubspot['base_url']}/crm/v3/objects/companies", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        missing = requests.get(f"{hubspot['base_url']}/crm/v3/not/a/thing", headers=auth, timeout=10)
        assert missing.status_code == 501 and "does not implement" in missing.json()["message"]

        salesforce = systems["salesforce"]
        limits = requests.get(
            f"{salesforce['instance_url']}/services/data/v59.0/limits/",
            headers={"Authorization": f"Bearer {salesforce['access_token']}"},
            verify=salesforce["ca_bundle"], timeout=10,
        )
        assert limits.status_code == 200 and "DailyApiRequests" in limits.json()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not state_file.exists()  # removed on a clean stop
    for name in ("salesforce", "hubspot", "lms", "erp"):
        assert name in out


def test_seed_is_deterministic_and_scales():
    first, again, other = generate(seed=5, scale=0.05), generate(seed=5, scale=0.05), generate(seed=6, scale=0.05)
    assert first.registrations == again.registrations
    assert first.salesforce == again.salesforce
    assert first.registrations != other.registrations
    bigger = generate(seed=5, scale=0.1)
    assert len(bigger.partners) == 2 * len(first.partners)
    assert first.expected_conflicts  # deliberate collisions are always part of the world


def test_persisted_state_survives_a_restart(tmp_path):
    data = generate(seed=2, scale=0.02)
    with SandboxCluster(tmp_path, persist=True) as cluster:
        counts = seed_sandboxes(cluster, data)
        before = {name: app.dump_state() for name, app in cluster.apps.items()}
    assert counts["salesforce"] > 0 and counts["hubspot"] > 0 and counts["lms"] > 0
    with SandboxCluster(tmp_path, persist=True) as again:
        sf_accounts = again.apps["salesforce"].all_records("Account")
        hs_companies = again.apps["hubspot"].all_records("companies")
        assert len(sf_accounts) == len(data.salesforce["Account"])
        assert len(hs_companies) == len(data.hubspot["companies"])
        assert again.apps["erp"].dump_state() == before["erp"]
