"""Signing in to Salesforce with OAuth 2.0, and renewing the session mid-run, against the TLS sandbox.

Every call kind the connector makes (REST query pages, sObject Collections,
Bulk 2.0 ingest and query jobs with their polls and result downloads) is run
once per call position with the session revoked just before that call: the
operation must finish with the same answer, one renewal, no duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import UpsertRequest
from connectors.salesforce import SalesforceConnector
from connectors.salesforce_auth import OAUTH_ERRORS, JwtBearer, SignInRefused, refused
from prm_sync.errors import AuthError, ConfigError


def _oauth(handle: Any, method: str = "jwt_bearer", **overrides: Any) -> SalesforceConnector:
    return SalesforceConnector(handle.oauth_settings(method, **overrides))


def _token_calls(handle: Any) -> int:
    return handle.app.calls["oauth.token"]


@pytest.mark.parametrize("method", ["jwt_bearer", "client_credentials"])
def test_sign_in_then_use_the_instance_the_token_answer_names(salesforce_sandbox: Any, method: str) -> None:
    salesforce_sandbox.app.insert_records("Account", [{"Name": "Acme"}])
    connector = _oauth(salesforce_sandbox, method)
    assert connector.settings.instance_url is None  # nothing configured: the token answer says where
    assert connector.instance_url == salesforce_sandbox.url
    assert [r.fields["Name"] for r in connector.read_all("Account", ["Name"])] == ["Acme"]
    assert _token_calls(salesforce_sandbox) == 1 and connector.session.renewals == 0
    assert connector.api_calls == 3  # describe, COUNT(), query: the token request is not an API call


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _unapprove(handle: Any) -> dict[str, Any]:
    handle.connected_app.pre_authorized.clear()
    return {}


def _deactivate(handle: Any) -> dict[str, Any]:
    handle.app.oauth.integration_user.active = False
    return {}


def _no_run_as(handle: Any) -> dict[str, Any]:
    handle.connected_app.run_as = None
    return {}


# (method, how to break it: sandbox change returning credential overrides, error, the setting named)
REFUSALS = [
    pytest.param("jwt_bearer", lambda h: {"consumer_key": "3MVGunknown"}, "invalid_client_id",
                 "fix systems.salesforce.auth.consumer_key", id="jwt-unknown-consumer-key"),
    pytest.param("jwt_bearer", lambda h: {"private_key": _rsa_pem()}, "invalid_grant",
                 "fix systems.salesforce.auth.private_key", id="jwt-key-without-its-certificate"),
    pytest.param("jwt_bearer", lambda h: {"audience": "https://test.salesforce.com"}, "invalid_grant",
                 "fix systems.salesforce.auth.audience", id="jwt-wrong-audience"),
    pytest.param("jwt_bearer", lambda h: {"username": "nobody@example.com"}, "invalid_grant",
                 "fix systems.salesforce.auth.username", id="jwt-unknown-user"),
    pytest.param("jwt_bearer", _unapprove, "invalid_app_access", "fix systems.salesforce.auth.username",
                 id="jwt-user-not-pre-authorized"),
    pytest.param("jwt_bearer", _deactivate, "inactive_user", "fix systems.salesforce.auth.username",
                 id="jwt-inactive-user"),
    pytest.param("client_credentials", lambda h: {"consumer_secret": "wrong-secret"}, "invalid_client",
                 "fix systems.salesforce.auth.consumer_secret", id="cc-wrong-secret"),
    pytest.param("client_credentials", lambda h: {"consumer_key": "3MVGunknown"}, "invalid_client_id",
                 "fix systems.salesforce.auth.consumer_key", id="cc-unknown-consumer-key"),
    pytest.param("client_credentials", _no_run_as, "invalid_grant", "the app of systems.salesforce.auth.consumer_key",
                 id="cc-no-run-as-user"),
]


@pytest.mark.parametrize(("method", "breaks", "error", "setting"), REFUSALS)
def test_a_refused_sign_in_is_one_line_naming_the_setting(
    salesforce_sandbox: Any, method: str, breaks: Callable[[Any], dict[str, Any]], error: str, setting: str
) -> None:
    overrides = breaks(salesforce_sandbox)
    settings = salesforce_sandbox.settings(access_token=None, instance_url=None,
                                           auth=salesforce_sandbox.credentials(method, **overrides))
    with pytest.raises(SignInRefused) as caught:
        SalesforceConnector(settings)
    line = str(caught.value)
    assert "\n" not in line and caught.value.exit_code == 2
    assert f"refused: {error}" in line and setting in line
    for secret in (salesforce_sandbox.connected_app.consumer_secret, "wrong-secret", "BEGIN"):
        assert secret not in line


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        pytest.param({"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                     "auth.method", id="unsupported_grant_type"),
        pytest.param({"error": "inactive_org", "error_description": "organization is locked"}, "auth.login_url",
                     id="inactive_org"),
        pytest.param({"error": "invalid_grant", "error_description": "request not supported on this domain"},
                     "auth.login_url", id="not-my-domain"),
        pytest.param({"error": "invalid_request", "error_description": "bad request"}, "auth.login_url",
                     id="invalid_request"),
        pytest.param({"error": "server_error"}, "every setting under systems.salesforce.auth", id="unknown"),
        pytest.param(None, "no OAuth token endpoint at this URL; fix systems.salesforce.auth.login_url",
                     id="not-a-login-server"),
    ],
)
def test_every_documented_oauth_error_names_a_setting(body: dict[str, str] | None, setting: str) -> None:
    credentials = JwtBearer(consumer_key="3MVGkey", username="u@x", private_key="pem")
    line = str(refused(credentials, 400 if body else 404, body))
    said = body["error"] if body else "HTTP_404"
    assert line.startswith(f"salesforce sign-in (jwt_bearer) refused: {said}") and setting in line
    assert {rule.error for rule in OAUTH_ERRORS} >= {"invalid_grant", "invalid_client_id", "invalid_client",
                                                     "unsupported_grant_type", "invalid_app_access"}


def test_an_unusable_private_key_is_refused_before_any_request(salesforce_sandbox: Any) -> None:
    with pytest.raises(ConfigError, match="not a PEM private key") as caught:
        _oauth(salesforce_sandbox, auth=salesforce_sandbox.credentials("jwt_bearer", private_key="not a key"))
    assert "fix systems.salesforce.auth.private_key" in str(caught.value)
    assert _token_calls(salesforce_sandbox) == 0


def test_a_static_token_that_expired_says_which_variable_to_refresh(salesforce_sandbox: Any) -> None:
    connector = SalesforceConnector(salesforce_sandbox.settings())
    salesforce_sandbox.app.access_token = "rotated"  # the session id in the environment is over
    with pytest.raises(AuthError) as caught:
        connector.describe("Account")
    assert "INVALID_SESSION_ID" in str(caught.value) and "jwt_bearer or client_credentials" in str(caught.value)
    assert _token_calls(salesforce_sandbox) == 0  # nothing to renew it with


def test_renewal_refused_mid_run_stops_with_the_setting_to_fix(salesforce_sandbox: Any) -> None:
    connector = _oauth(salesforce_sandbox)
    salesforce_sandbox.connected_app.pre_authorized.clear()  # an admin removed the user's permission set
    salesforce_sandbox.app.oauth.revoke_all()
    with pytest.raises(AuthError) as caught:
        connector.describe("Account")
    assert "invalid_app_access" in str(caught.value) and "systems.salesforce.auth.username" in str(caught.value)


# -- renewal at every call position ------------------------------------------------------------
def _rest_read(handle: Any) -> Callable[[SalesforceConnector], Any]:
    handle.app.insert_records("Account", [{"Name": f"page {i:04d}"} for i in range(2050)])  # two query pages
    return lambda c: sorted(r.id for r in c.read_all("Account", ["Name"]))


def _bulk_read(handle: Any) -> Callable[[SalesforceConnector], Any]:
    handle.app.insert_records("Account", [{"Name": f"bulk {i}"} for i in range(25)])
    return lambda c: sorted(r.id for r in c.read_all("Account", ["Name"]))


def _writes(count: int) -> Callable[[Any], Callable[[SalesforceConnector], Any]]:
    def prepare(handle: Any) -> Callable[[SalesforceConnector], Any]:
        requests = [UpsertRequest(key=f"ptn_{i:04d}", fields={"Name": f"Partner {i}"}) for i in range(count)]

        def upsert(c: SalesforceConnector) -> Any:
            results = c.upsert("Account", "PRM_Id__c", requests)
            assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
            keys = sorted(a["PRM_Id__c"] for a in handle.app.all_records("Account"))
            return keys  # each key exactly once: no duplicate, none lost

        return upsert

    return prepare


@pytest.mark.parametrize(
    ("prepare", "bulk_threshold"),
    [
        pytest.param(_rest_read, 5000, id="rest-query-and-query-more"),
        pytest.param(_writes(450), 5000, id="sobject-collections"),
        pytest.param(_bulk_read, 10, id="bulk-query-job-poll-and-results"),
        pytest.param(_writes(25), 10, id="bulk-ingest-upload-poll-and-results"),
    ],
)
def test_a_session_revoked_before_any_call_is_renewed_and_the_call_resent(
    salesforce_sandbox: Any, prepare: Any, bulk_threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    operation = prepare(salesforce_sandbox)
    baseline_connector = _oauth(salesforce_sandbox, bulk_threshold=bulk_threshold)
    baseline_connector.describe("Account")  # cached per connector, as in a run
    calls_before = baseline_connector.api_calls
    expected = operation(baseline_connector)
    calls = baseline_connector.api_calls - calls_before
    assert calls >= 2
    oauth = salesforce_sandbox.app.oauth
    for position in range(1, calls + 1):
        connector = _oauth(salesforce_sandbox, bulk_threshold=bulk_threshold)
        connector.describe("Account")
        tokens_before = _token_calls(salesforce_sandbox)
        oauth.revoke_after_calls = position - 1 or None
        if position == 1:
            oauth.revoke_all()
        assert operation(connector) == expected, f"revoked before call {position} of {calls}"
        assert connector.session.renewals == 1, f"revoked before call {position} of {calls}"
        assert _token_calls(salesforce_sandbox) == tokens_before + 1
    issued = list(oauth.sessions)
    secrets = [*issued, salesforce_sandbox.connected_app.consumer_secret,
               salesforce_sandbox.connected_app.consumer_key,
               salesforce_sandbox.app_files.private_key.read_text().splitlines()[1]]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "signing in again" in logged
    assert [s[:8] for s in secrets if s in logged] == []


def test_an_expired_session_is_renewed_like_a_revoked_one(salesforce_sandbox: Any) -> None:
    connector = _oauth(salesforce_sandbox, "client_credentials")
    connector.describe("Account")
    oauth = salesforce_sandbox.app.oauth
    later = oauth.clock() + oauth.lifetime_seconds + 1
    oauth.clock = lambda: later  # the org's session timeout passed between two calls
    salesforce_sandbox.app.insert_records("Account", [{"Name": "after two hours"}])
    assert [r.fields["Name"] for r in connector.read_all("Account", ["Name"])] == ["after two hours"]
    assert connector.session.renewals == 1
