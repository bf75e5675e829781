"""Known secret values (the sandboxes' random tokens) never appear anywhere prm-sync writes.

Searched: every log record at DEBUG (ours and the libraries'), the CLI's
output for ``sync --json``, ``failures list`` and a forced error, the text
of the exceptions a failing run raises, every text and JSON column of every
table of the store, and the run metadata.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import inspect, text

from connectors.sandbox.http import FaultConfig
from prm_sync.errors import PrmSyncError
from prm_sync.exit_codes import ExitCode
from prm_sync.store import runs


def _secrets(env: Any) -> list[str]:
    tokens = [*env.cluster.tokens.values(), env.cluster.lms_basic[1]]
    assert all(len(t) > 20 for t in tokens)
    return tokens


def _leaks(haystack: str, secrets: list[str]) -> list[str]:
    return [s[:12] + "..." for s in secrets if s in haystack]


def _dump_store(env: Any) -> str:
    """Every row of every table, as text."""
    engine = env.runtime.store.engine
    chunks: list[str] = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(json.dumps([str(v) for v in row]))
    dump = "\n".join(chunks)
    assert "PRM_Id__c" in dump or "prm_id" in dump  # the dump really holds synced payloads
    return dump


def test_no_secret_in_logs_store_cli_exceptions_or_run_metadata(make_sync_env, caplog: pytest.LogCaptureFixture) -> None:
    env = make_sync_env(systems=("salesforce", "hubspot", "erp", "lms"))
    secrets = _secrets(env)
    systems = env.runtime.config.systems  # the CLI builds its own connectors: keep their retries short
    env.runtime.config = env.runtime.config.model_copy(update={"systems": systems.model_copy(update={
        "salesforce": systems.salesforce.model_copy(update={"max_retries": 1}),
        "hubspot": systems.hubspot.model_copy(update={"max_retries": 1}),
    })})
    env.reconnect()
    caplog.set_level(logging.DEBUG)
    # some failures on the way, so error paths and failed records are part of what is searched
    env.apps["salesforce"].faults = FaultConfig(fail_next_5xx=1, invalid_values={"Name": [env.data.partners[0]["name"]]})
    env.apps["hubspot"].faults = FaultConfig(burst_429=1, retry_after_seconds=0)

    report = env.run()
    cli_sync = env.cli("sync", "--json")
    cli_failures = env.cli("failures", "list", "--json")

    assert report.totals()["failed"] >= 1 and cli_sync.exit_code in (ExitCode.FAILED_RECORDS, ExitCode.FAILED)
    assert cli_failures.exit_code == 0 and cli_failures.json()

    # a forced error: every Salesforce request refused for longer than the retries last
    env.apps["salesforce"].faults = FaultConfig(fail_next_5xx=1000)
    stopped = env.cli("sync", "--json", "--system", "salesforce")
    assert stopped.exit_code == ExitCode.PARTIAL and "SERVER_UNAVAILABLE" in stopped.stdout
    connector = env.runtime.connectors(["salesforce"])["salesforce"]
    with pytest.raises(PrmSyncError) as raised:
        list(connector.read_all("Account", ["Name"]))
    env.apps["salesforce"].faults = FaultConfig()
    bad_token = env.cli("sync", "--json", "--system", "hubspot")  # still fine: the token is right
    assert bad_token.exit_code == 0
    env.apps["hubspot"].access_token = "rotated-elsewhere"  # the configured token no longer works
    auth = env.cli("sync", "--json", "--system", "hubspot")
    assert auth.exit_code == ExitCode.PARTIAL
    assert {s["stopped_reason"].split(":")[0] for s in auth.json()["slices"] if s["stopped_reason"]} == {"auth"}

    with env.runtime.store.session(readonly=True) as session:
        metadata = json.dumps([r.model_dump(mode="json") for r in runs.list_runs(session, limit=100)])
    searched = {
        "logs": "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records),
        "report": report.model_dump_json(),
        "cli": "\n".join(r.stdout + r.stderr for r in (cli_sync, cli_failures, stopped, bad_token, auth)),
        "exception": f"{raised.value} {raised.value!r} {getattr(raised.value, 'info', '')}",
        "store": _dump_store(env),
        "run metadata": metadata,
    }
    assert caplog.records and len(searched["store"]) > 10_000
    found = {where: _leaks(haystack, secrets) for where, haystack in searched.items()}
    assert found == {where: [] for where in searched}


def test_missing_secret_names_the_variable_not_a_value(make_sync_env, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_sync_env(systems=("salesforce",), seed_data=False)
    token = env.cluster.tokens["salesforce"]
    monkeypatch.delenv(env.runtime.config.systems.salesforce.access_token_env)

    result = env.cli("sync")

    assert result.exit_code == 2
    assert env.runtime.config.systems.salesforce.access_token_env in result.stderr
    assert token not in result.stdout + result.stderr
