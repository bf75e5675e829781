"""The Salesforce sandbox's login server, through plain ``requests`` and PyJWT (no connector code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.sandbox.salesforce.oauth import JWT_GRANT

AUD = "https://login.salesforce.com"


def _session(sandbox: Any) -> requests.Session:
    session = requests.Session()
    session.verify = sandbox.ca_bundle
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sandbox CA
    return session


def _assertion(sandbox: Any, *, key: bytes | None = None, **claims: Any) -> str:
    values = {"iss": sandbox.connected_app.consumer_key, "sub": sandbox.app.oauth.integration_user.username,
              "aud": AUD, "exp": int(time.time()) + 120, **claims}
    return jwt.encode(values, key or sandbox.app_files.private_key.read_bytes(), algorithm="RS256")


def _token(sandbox: Any, data: dict[str, str], **kwargs: Any) -> requests.Response:
    return _session(sandbox).post(f"{sandbox.url}/services/oauth2/token", data=data, timeout=5, **kwargs)


def _api(sandbox: Any, token: str) -> requests.Response:
    return _session(sandbox).get(f"{sandbox.url}/services/data/v59.0/limits/",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_jwt_bearer_answers_the_documented_token_and_the_session_works(salesforce_sandbox: Any) -> None:
    answer = _token(salesforce_sandbox, {"grant_type": JWT_GRANT, "assertion": _assertion(salesforce_sandbox)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
    assert body["token_type"] == "Bearer" and body["instance_url"] == salesforce_sandbox.url
    org, user = body["id"].rsplit("/", 2)[-2:]
    assert org.startswith("00D") and user.startswith("005") and len(org) == len(user) == 18
    secret = salesforce_sandbox.connected_app.consumer_secret.encode()
    expected = base64.b64encode(hmac.new(secret, (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest())
    assert body["signature"] == expected.decode()
    assert _api(salesforce_sandbox, body["access_token"]).status_code == 200
    assert _api(salesforce_sandbox, salesforce_sandbox.access_token).status_code == 200  # static tokens still work


@pytest.mark.parametrize("how", ["form", "basic"])
def test_client_credentials_in_the_body_or_as_http_basic(salesforce_sandbox: Any, how: str) -> None:
    app = salesforce_sandbox.connected_app
    if how == "form":
        answer = _token(salesforce_sandbox, {"grant_type": "client_credentials", "client_id": app.consumer_key,
                                             "client_secret": app.consumer_secret})
    else:
        answer = _token(salesforce_sandbox, {"grant_type": "client_credentials"},
                        auth=(app.consumer_key, app.consumer_secret))
    assert answer.status_code == 200, answer.text
    assert _api(salesforce_sandbox, answer.json()["access_token"]).status_code == 200


def _other_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.mark.parametrize(
    ("make", "error", "description"),
    [
        pytest.param(lambda s: {"iss": "3MVGnobody"}, "invalid_client_id", "client identifier invalid", id="iss"),
        pytest.param(lambda s: {"key": _other_key()}, "invalid_grant", "invalid assertion", id="signature"),
        pytest.param(lambda s: {"aud": "https://example.com"}, "invalid_grant", "audience is invalid", id="aud"),
        pytest.param(lambda s: {"exp": int(time.time()) - 600}, "invalid_grant", "invalid assertion", id="expired"),
        pytest.param(lambda s: {"exp": int(time.time()) + 3600}, "invalid_grant", "invalid assertion",
                     id="exp-too-far"),
        pytest.param(lambda s: {"sub": "nobody@example.com"}, "invalid_grant",
                     "user hasn't approved this consumer", id="sub"),
    ],
)
def test_jwt_refusals_are_oauth_errors(salesforce_sandbox: Any, make: Any, error: str, description: str) -> None:
    answer = _token(salesforce_sandbox, {"grant_type": JWT_GRANT,
                                         "assertion": _assertion(salesforce_sandbox, **make(salesforce_sandbox))})
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


def test_jwt_for_a_user_the_app_does_not_pre_authorize(salesforce_sandbox: Any) -> None:
    outsider = salesforce_sandbox.app.oauth.add_user("outsider@prm-sync.sandbox")
    answer = _token(salesforce_sandbox, {"grant_type": JWT_GRANT,
                                         "assertion": _assertion(salesforce_sandbox, sub=outsider.username)})
    assert answer.json()["error"] == "invalid_app_access"


def test_unsigned_or_hmac_jwts_are_refused(salesforce_sandbox: Any) -> None:
    claims = {"iss": salesforce_sandbox.connected_app.consumer_key, "aud": AUD, "exp": int(time.time()) + 60,
              "sub": salesforce_sandbox.app.oauth.integration_user.username}
    for assertion in (jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes", algorithm="HS256"), "not.a.jwt"):
        answer = _token(salesforce_sandbox, {"grant_type": JWT_GRANT, "assertion": assertion})
        assert answer.json()["error"] == "invalid_grant"


def test_client_credentials_refusals(salesforce_sandbox: Any) -> None:
    app = salesforce_sandbox.connected_app
    wrong_secret = _token(salesforce_sandbox, {"grant_type": "client_credentials", "client_id": app.consumer_key,
                                               "client_secret": "nope"})
    unknown = _token(salesforce_sandbox, {"grant_type": "client_credentials", "client_id": "3MVGx",
                                          "client_secret": "nope"})
    app.run_as = None
    no_user = _token(salesforce_sandbox, {"grant_type": "client_credentials"}, auth=(app.consumer_key,
                                                                                     app.consumer_secret))
    password = _token(salesforce_sandbox, {"grant_type": "password", "username": "u", "password": "p"})
    assert [r.json()["error"] for r in (wrong_secret, unknown, no_user, password)] == [
        "invalid_client", "invalid_client_id", "invalid_grant", "unsupported_grant_type"]
    assert no_user.json()["error_description"] == "no client credentials user enabled"


def _fresh_token(sandbox: Any) -> dict[str, Any]:
    return _token(sandbox, {"grant_type": JWT_GRANT, "assertion": _assertion(sandbox)}).json()


def test_revoke_ends_the_session(salesforce_sandbox: Any) -> None:
    token = _fresh_token(salesforce_sandbox)["access_token"]
    revoke = _session(salesforce_sandbox).post(f"{salesforce_sandbox.url}/services/oauth2/revoke",
                                               data={"token": token}, timeout=5)
    again = _session(salesforce_sandbox).post(f"{salesforce_sandbox.url}/services/oauth2/revoke",
                                              data={"token": "unknown"}, timeout=5)
    refused = _api(salesforce_sandbox, token)
    assert revoke.status_code == 200 and again.status_code == 400
    assert refused.status_code == 401 and refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_identity_url_and_userinfo(salesforce_sandbox: Any) -> None:
    body = _fresh_token(salesforce_sandbox)
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    session = _session(salesforce_sandbox)
    identity = session.get(body["id"], headers=auth, timeout=5)
    userinfo = session.get(f"{salesforce_sandbox.url}/services/oauth2/userinfo", headers=auth, timeout=5)
    other = session.get(body["id"][:-18] + salesforce_sandbox.app.oauth.add_user("x@y.z").user_id, headers=auth,
                        timeout=5)
    anonymous = session.get(body["id"], headers={"Authorization": "Bearer nope"}, timeout=5)
    missing = session.get(body["id"], timeout=5)
    elsewhere = session.get(body["id"].replace(salesforce_sandbox.app.oauth.org_id, "00D000000000001EAA"),
                            headers=auth, timeout=5)
    assert identity.status_code == 200
    who = identity.json()
    assert who["id"] == body["id"] and who["username"] == salesforce_sandbox.app.oauth.integration_user.username
    assert who["urls"]["rest"].endswith("/services/data/v{version}/") and who["active"] is True
    assert userinfo.json()["sub"] == body["id"] and userinfo.json()["preferred_username"] == who["username"]
    # the identity service's documented errors, plain text: 403 for the token and the org, 404 for the id
    refused = [(r.status_code, r.text) for r in (other, anonymous, missing, elsewhere)]
    assert refused == [(404, "Bad_Id"), (403, "Bad_OAuth_Token"), (403, "Missing_OAuth_Token"), (403, "Wrong_Org")]


def test_sessions_expire_after_their_lifetime_and_the_admin_hook_ends_them(salesforce_sandbox: Any) -> None:
    oauth = salesforce_sandbox.app.oauth
    first = _fresh_token(salesforce_sandbox)["access_token"]
    oauth.clock = lambda: time.time() + oauth.lifetime_seconds + 1  # two hours later
    assert _api(salesforce_sandbox, first).status_code == 401
    oauth.clock = time.time
    admin = f"{salesforce_sandbox.url}/__sandbox/sessions"
    _session(salesforce_sandbox).post(admin, json={"revoke_after_calls": 2}, timeout=5)
    second = _fresh_token(salesforce_sandbox)["access_token"]
    statuses = [_api(salesforce_sandbox, second).status_code for _ in range(3)]
    assert statuses == [200, 200, 401]
    third = _fresh_token(salesforce_sandbox)["access_token"]
    _session(salesforce_sandbox).post(admin, json={"expire": "all"}, timeout=5)
    counts = _session(salesforce_sandbox).get(admin, timeout=5).json()
    assert _api(salesforce_sandbox, third).status_code == 401 and counts["active"] == 0 and counts["issued"] == 3


def test_connected_app_files_are_a_key_and_its_certificate(salesforce_sandbox: Any) -> None:
    from cryptography import x509

    files = salesforce_sandbox.app_files
    key = serialization.load_pem_private_key(files.private_key.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
