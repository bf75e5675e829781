"""``prm-sync webhooks serve`` as a process: starts on port 0, stores a signed event, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from prm_sync.store.db import Store
from prm_sync.webhooks import HUBSPOT_PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_v3_signature

PRM_SYNC = Path(sys.executable).with_name("prm-sync")


def _wait_for_url(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.search(r"listening on (http://\S+)", line):
            return match.group(1)
        if not line and process.poll() is not None:
            break
    msg = f"receiver did not start (exit {process.poll()}): {process.stderr.read() if process.stderr else ''}"
    raise AssertionError(msg)


def test_serve_receives_and_stops_cleanly(kit, tmp_path: Path) -> None:
    config = tmp_path / "prm_sync.yaml"
    config.write_text(
        "version: 1\n"
        "data_dir: data\n"
        "mappings: []\n"
        "webhooks:\n"
        "  public_base_url: https://hooks.example.com\n"
        f"  salesforce: {{organization_ids: [{kit.ORG_ID_18}]}}\n"
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "HUBSPOT_CLIENT_SECRET": kit.CLIENT_SECRET,
        "PRM_SYNC_DATABASE_URL": "",
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        [str(PRM_SYNC), "--config", str(config), "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = _wait_for_url(process, time.monotonic() + 30)
        body = kit.hubspot_body(kit.hubspot_event(1))
        timestamp = kit.ms(datetime.now(UTC))
        signature = hubspot_v3_signature(
            "POST", "https://hooks.example.com" + HUBSPOT_PATH, body, timestamp, kit.CLIENT_SECRET
        )
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                url + HUBSPOT_PATH,
                data=body,
                headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp},
                timeout=5,
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out
    assert kit.CLIENT_SECRET not in out + err
    with Store.open(f"sqlite:///{tmp_path}/data/prm_sync.sqlite") as store:
        assert kit.inbox_count(store) == 1
