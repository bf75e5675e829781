"""The LMS connector against the LRS sandbox, plus ``responses`` unit tests of its HTTP paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connectors.base import Connector, Cursor, UpsertRequest
from connectors.httpclient import HttpClient
from connectors.lms import LmsConnector, LmsSettings
from connectors.sandbox.lms import VERB_PREFIX, make_statement
from prm_sync.errors import AuthError, ConfigError, FatalError, QuotaExhausted, TransientError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
COURSE = "https://lms.test/course/sec-101"


def _seed_ties(app: Any, total: int, per_tick: int) -> None:
    """``total`` statements, ``per_tick`` of them sharing each ``stored`` value."""
    for start in range(0, total, per_tick):
        app.clock = T0 + timedelta(seconds=start)
        batch = [
            make_statement(f"u{n}@acme.test", COURSE, course_name="Security 101", product_line="security")
            for n in range(start, min(start + per_tick, total))
        ]
        app.insert_statements(batch)


def test_implements_the_connector_protocol(lms_sandbox: Any) -> None:
    assert isinstance(LmsConnector(lms_sandbox.settings()), Connector)


def test_incremental_read_pages_more_links_in_stored_then_id_order(lms_sandbox: Any) -> None:
    _seed_ties(lms_sandbox.app, total=230, per_tick=7)
    connector = LmsConnector(lms_sandbox.settings())
    records = list(connector.read_changes("statements", [], Cursor()))
    keys = [(r.modstamp, r.id) for r in records]
    assert len(records) == 230 and len(set(keys)) == 230
    assert keys == sorted(keys)
    assert connector.api_calls == 3  # 100 + 100 + 30 via two `more` links


def test_cursor_inside_a_tie_resumes_after_last_id(lms_sandbox: Any) -> None:
    _seed_ties(lms_sandbox.app, total=12, per_tick=4)
    connector = LmsConnector(lms_sandbox.settings())
    everything = list(connector.read_changes("statements", [], Cursor()))
    middle = everything[5]  # second statement of the second tie group
    rest = list(connector.read_changes("statements", [], Cursor(modstamp=middle.modstamp, last_id=middle.id)))
    assert [r.id for r in rest] == [r.id for r in everything[6:]]
    after_stamp = list(connector.read_changes("statements", [], Cursor(modstamp=middle.modstamp)))
    assert [r.id for r in after_stamp] == [r.id for r in everything[8:]]


def test_until_bounds_the_read(lms_sandbox: Any) -> None:
    _seed_ties(lms_sandbox.app, total=6, per_tick=2)
    connector = LmsConnector(lms_sandbox.settings())
    records = list(connector.read_changes("statements", [], Cursor(), until=T0 + timedelta(seconds=2)))
    assert len(records) == 4


def test_flattened_fields_use_activity_definition_when_statement_lacks_it(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    app.add_course(COURSE, "Security Fundamentals", "security")
    done = datetime(2024, 4, 30, 8, 0, tzinfo=UTC)
    app.insert_statements(
        [
            make_statement(
                "ana@acme.test", COURSE, verb="passed", name="Ana", scaled=0.9, success=True, timestamp=done
            )
        ]
    )
    (record,) = LmsConnector(lms_sandbox.settings()).read_changes("statements", [], Cursor())
    assert record.fields == {
        "learner": "ana@acme.test",
        "learner_email": "ana@acme.test",
        "learner_name": "Ana",
        "verb": "passed",
        "course_id": COURSE,
        "course_name": "Security Fundamentals",
        "product_line": "security",
        "score": 0.9,
        "success": True,
        "completed_at": done,
    }


def test_learner_is_the_email_of_an_mbox_or_an_email_named_account_else_the_account(lms_sandbox: Any) -> None:
    agents = {
        "mbox": {"objectType": "Agent", "mbox": "MAILTO:Ana@Acme.test"},
        "email account": {"objectType": "Agent", "account": {"homePage": "https://lms.test", "name": "bo@acme.test"}},
        "lms account": {"objectType": "Agent", "account": {"homePage": "https://lms.test", "name": "u-1842"}},
    }
    for label, agent in agents.items():
        statement = make_statement("x@acme.test", f"{COURSE}/{label.replace(' ', '-')}", verb="passed")
        lms_sandbox.app.insert_statements([{**statement, "actor": agent}])
    read = {r.fields["course_id"].rsplit("/", 1)[1]: r.fields
            for r in LmsConnector(lms_sandbox.settings()).read_changes("statements", ["learner", "learner_email", "course_id"], Cursor())}
    assert (read["mbox"]["learner"], read["mbox"]["learner_email"]) == ("Ana@Acme.test", "Ana@Acme.test")
    assert (read["email-account"]["learner"], read["email-account"]["learner_email"]) == ("bo@acme.test", "bo@acme.test")
    assert (read["lms-account"]["learner"], read["lms-account"]["learner_email"]) == ("account:https://lms.test|u-1842", None)


def test_other_verbs_are_skipped_and_where_filters_one_verb(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    for verb in ("completed", "passed", "failed", "experienced"):
        app.insert_statements(
            [make_statement("bo@acme.test", COURSE, verb=verb, course_name="C", product_line="p")]
        )
    connector = LmsConnector(lms_sandbox.settings())
    assert sorted(r.fields["verb"] for r in connector.read_changes("statements", ["verb"], Cursor())) == [
        "completed",
        "failed",
        "passed",
    ]
    failed = list(connector.read_all("statements", ["verb"], where="failed"))
    assert [r.fields for r in failed] == [{"verb": "failed"}]


def test_voiding_statement_yields_a_deleted_record(lms_sandbox: Any) -> None:
    app = lms_sandbox.app
    (target,) = app.insert_statements(
        [make_statement("cy@acme.test", COURSE, course_name="C", product_line="p")]
    )
    voiding = {
        "actor": {"mbox": "mailto:admin@lms.test"},
        "verb": {"id": VERB_PREFIX + "voided"},
        "object": {"objectType": "StatementRef", "id": target},
    }
    app.insert_statements([voiding])
    connector = LmsConnector(lms_sandbox.settings())
    changes = list(connector.read_changes("statements", [], Cursor()))
    assert [(r.id, r.deleted) for r in changes] == [(target, True)]
    assert list(connector.read_all("statements", [])) == []


def test_retries_after_503_and_counts_every_request(lms_sandbox: Any) -> None:
    lms_sandbox.app.insert_statements(
        [make_statement("d@acme.test", COURSE, course_name="C", product_line="p")]
    )
    lms_sandbox.app.faults.fail_next_5xx = 2
    connector = LmsConnector(lms_sandbox.settings())
    assert len(list(connector.read_changes("statements", [], Cursor()))) == 1
    assert connector.api_calls == 3


def test_retries_after_a_timeout(lms_sandbox: Any) -> None:
    lms_sandbox.app.faults.timeout_next = 1
    lms_sandbox.app.faults.timeout_seconds = 0.4
    connector = LmsConnector(lms_sandbox.settings(timeout_seconds=0.2))
    assert list(connector.read_changes("statements", [], Cursor())) == []
    assert connector.api_calls == 2


def test_gives_up_with_transient_error_after_max_retries(lms_sandbox: Any) -> None:
    lms_sandbox.app.faults.fail_next_5xx = 10
    connector = LmsConnector(lms_sandbox.settings(max_retries=2))
    with pytest.raises(TransientError):
        list(connector.read_changes("statements", [], Cursor()))
    assert connector.api_calls == 3


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        pytest.param({"secret": SecretStr("wrong-secret")}, "key and secret", id="basic-wrong-secret"),
        pytest.param({"key": "wrong-key"}, "key and secret", id="basic-wrong-key"),
        pytest.param({"auth": "bearer", "access_token": SecretStr("wrong-token")}, "token", id="bearer-wrong"),
    ],
)
def test_wrong_credentials_are_an_auth_error_without_retry(lms_sandbox: Any, overrides: dict, names: str) -> None:
    connector = LmsConnector(lms_sandbox.settings(**overrides))
    with pytest.raises(AuthError) as caught:
        list(connector.read_changes("statements", [], Cursor()))
    assert "wrong" not in str(caught.value) and lms_sandbox.secret not in str(caught.value)
    assert names in str(caught.value)
    assert connector.api_calls == 1


def test_http_basic_is_the_default_and_bearer_an_option(lms_sandbox: Any) -> None:
    _seed_ties(lms_sandbox.app, total=2, per_tick=1)
    basic = LmsConnector(lms_sandbox.settings())
    bearer = LmsConnector(lms_sandbox.settings(auth="bearer", access_token=SecretStr(lms_sandbox.access_token)))
    assert basic.settings.auth == "basic"
    assert len(list(basic.read_changes("statements", [], Cursor()))) == 2
    assert len(list(bearer.read_changes("statements", [], Cursor()))) == 2
    with pytest.raises(ConfigError, match="key and secret"):
        LmsSettings.load({"base_url": "https://lrs.test"})


def test_exhausted_quota_is_not_retried(lms_sandbox: Any) -> None:
    lms_sandbox.app.faults.quota_remaining = 0
    connector = LmsConnector(lms_sandbox.settings())
    with pytest.raises(QuotaExhausted):
        list(connector.read_changes("statements", [], Cursor()))
    assert connector.api_calls == 1


def test_lms_is_read_only(lms_sandbox: Any) -> None:
    connector = LmsConnector(lms_sandbox.settings())
    results = connector.upsert(
        "statements", "id", [UpsertRequest(key="a", fields={}), UpsertRequest(key="b", fields={})]
    )
    deleted = connector.delete("statements", ["x"])
    assert [(r.key, r.ok, r.error_code) for r in [*results, *deleted]] == [
        ("a", False, "READ_ONLY"),
        ("b", False, "READ_ONLY"),
        ("x", False, "READ_ONLY"),
    ]
    assert connector.api_calls == 0


def test_describe_and_bad_names_are_config_errors(lms_sandbox: Any) -> None:
    connector = LmsConnector(lms_sandbox.settings())
    assert [f.name for f in connector.describe("statements")][:4] == ["learner", "learner_email", "learner_name", "verb"]
    with pytest.raises(ConfigError, match="only 'statements'"):
        connector.describe("courses")
    with pytest.raises(ConfigError, match="grade"):
        list(connector.read_changes("statements", ["grade"], Cursor()))
    with pytest.raises(ConfigError, match="where"):
        list(connector.read_changes("statements", [], Cursor(), where="attempted"))


def test_settings_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        LmsSettings.load({"base_url": "lms.example.com", "timeout_seconds": 0}, source="config/lms.yaml")
    text = str(caught.value)
    assert "base_url" in text and "timeout_seconds" in text
    with pytest.raises(ConfigError, match="CA bundle"):
        LmsSettings.load(
            {"base_url": "https://lrs.test", "key": "k", "secret": "s", "ca_bundle": "/nonexistent/ca.pem"}
        )
    assert text.startswith("config/lms.yaml: ")


# -- responses-based unit tests of the requests code paths -------------------------------------------
BASE = "https://lrs.example.com/lrs"


def _unit_connector(sleeps: list[float], **overrides: Any) -> LmsConnector:
    settings = LmsSettings(base_url=BASE, auth="bearer", access_token=SecretStr("t0k"), **overrides)
    http = HttpClient(
        "lms",
        settings,
        headers={"Authorization": "Bearer t0k", "X-Experience-API-Version": "1.0.3"},
        sleep=sleeps.append,
    )
    return LmsConnector(settings, http=http)


@responses.activate
def test_retry_after_is_honoured() -> None:
    url = f"{BASE}/xAPI/statements"
    responses.get(url, status=429, headers={"Retry-After": "7"}, json={"error": "rate_limited"})
    responses.get(url, json={"statements": [], "more": ""})
    sleeps: list[float] = []
    connector = _unit_connector(sleeps)
    assert list(connector.read_changes("statements", [], Cursor())) == []
    assert sleeps == [7.0]
    assert responses.calls[1].request.headers["X-Experience-API-Version"] == "1.0.3"


@responses.activate
def test_more_link_is_resolved_against_the_host_and_loops_are_stopped() -> None:
    responses.get(f"{BASE}/xAPI/statements", json={"statements": [], "more": "/lrs/xAPI/statements?cursor=a"})
    responses.get(
        "https://lrs.example.com/lrs/xAPI/statements?cursor=a",
        json={"statements": [], "more": "/lrs/xAPI/statements?cursor=a"},
    )
    with pytest.raises(FatalError, match="same 'more' link twice"):
        list(_unit_connector([]).read_changes("statements", [], Cursor()))


@responses.activate
def test_bad_request_is_not_retried() -> None:
    responses.get(
        f"{BASE}/xAPI/statements", status=400, json={"error": "bad_request", "message": "bad since"}
    )
    connector = _unit_connector([])
    with pytest.raises(FatalError, match="rejected the query"):
        list(connector.read_changes("statements", [], Cursor()))
    assert connector.api_calls == 1


@responses.activate
def test_tls_verification_is_explicit_per_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    bundle = tmp_path / "lrs-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    responses.get(f"{BASE}/xAPI/statements", json={"statements": [], "more": ""})
    list(_unit_connector([], ca_bundle=bundle).read_changes("statements", [], Cursor()))
    list(_unit_connector([]).read_changes("statements", [], Cursor()))
    custom, default = (c.request.req_kwargs["verify"] for c in responses.calls)
    assert custom == str(bundle)  # our bundle wins over REQUESTS_CA_BUNDLE
    assert default not in (False, None)  # verification is never switched off


@responses.activate
def test_connection_error_is_transient() -> None:
    responses.get(f"{BASE}/xAPI/statements", body=requests.exceptions.ConnectionError("reset"))
    connector = _unit_connector([], max_retries=1)
    with pytest.raises(TransientError) as caught:
        list(connector.read_changes("statements", [], Cursor()))
    assert caught.value.info.code == "CONNECTION" and connector.api_calls == 2


@responses.activate
def test_statement_lookup_returns_none_for_404() -> None:
    responses.get(f"{BASE}/xAPI/statements", status=404, json={"error": "not_found"})
    assert _unit_connector([]).statement("4b7c0c3e-4f7e-4a53-9b3a-1a3c5e1f0d01") is None
