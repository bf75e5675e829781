"""The Salesforce sandbox's login server: OAuth 2.0 token, revoke, identity URL and sessions.

What a real org answers, for any standards-conforming client:

* ``POST /services/oauth2/token`` (form-encoded) for the JWT bearer grant
  (the JWT's RS256 signature is verified against the connected app's X.509
  certificate, then ``iss`` = a consumer key, ``aud`` = an accepted login
  URL, ``exp`` in the future and at most 3 minutes ahead, ``sub`` = a user
  pre-authorized for the app) and the client credentials grant (consumer key
  and secret in the body or as HTTP Basic; the session runs as the app's
  "Run As" user). Success is ``{access_token, signature, scope,
  instance_url, id, token_type, issued_at}``; refusals are HTTP 400
  ``{error, error_description}`` with Salesforce's documented codes.
* ``POST /services/oauth2/revoke`` (``token=...``), ``GET /id/{orgId}/{userId}``
  and ``GET /services/oauth2/userinfo`` with the session as bearer token.
* Sessions last ``lifetime_seconds`` (two hours by default, like an org's
  session timeout); afterwards the API answers 401 ``INVALID_SESSION_ID``.

Tests end sessions mid-run through ``/__sandbox/sessions`` (see
``admin``): revoke or expire them now, or after the next N API calls.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.salesforce.ids import make_id

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_JWT_SECONDS = 180  # exp at most 3 minutes ahead
CLOCK_SKEW_SECONDS = 30
TOKEN_PATH = "/services/oauth2/token"
REVOKE_PATH = "/services/oauth2/revoke"
USERINFO_PATH = "/services/oauth2/userinfo"


@dataclass
class OrgUser:
    user_id: str
    username: str
    first_name: str = "Integration"
    last_name: str = "User"
    email: str = "integration@example.com"
    active: bool = True


@dataclass
class ConnectedApp:
    """A connected app: its keys, the certificate for JWT, and who may use it."""

    consumer_key: str
    consumer_secret: str
    certificate_pem: bytes | None = None  # uploaded under "Use digital signatures"
    run_as: str | None = None  # username for the client credentials flow
    pre_authorized: set[str] = field(default_factory=set)  # usernames (their profile or permission set)
    scope: str = "api"


@dataclass
class Session:
    token: str
    user_id: str
    consumer_key: str
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class AppFiles:
    """A connected app's certificate and the private key the integration keeps (like `openssl req -x509`)."""

    private_key: Path
    certificate: Path


def make_connected_app_files(directory: Path) -> AppFiles:
    """Write (or reuse) an RSA key and its self-signed certificate under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = AppFiles(directory / "connected_app.key", directory / "connected_app.crt")
    if files.private_key.exists() and files.certificate.exists():
        return files
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prm-sync integration")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    files.private_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    files.private_key.chmod(0o600)
    files.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _oauth_error(error: str, description: str, status: int = 400) -> SandboxResponse:
    return SandboxResponse.json(status, {"error": error, "error_description": description},
                                {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})


class OAuthServer:
    """Connected apps, users and sessions of one sandbox org."""

    def __init__(self, lock: threading.RLock, *, lifetime_seconds: float = 7200.0,
                 audiences: tuple[str, ...] = ("https://login.salesforce.com",)) -> None:
        self.lock = lock
        self.org_id = make_id("00D", 1)
        self.lifetime_seconds = lifetime_seconds
        self.audiences = set(audiences)
        self.clock: Callable[[], float] = time.time
        self.apps: dict[str, ConnectedApp] = {}
        self.users: dict[str, OrgUser] = {}
        self.sessions: dict[str, Session] = {}
        self.revoke_after_calls: int | None = None
        self.integration_user = self.add_user("integration@prm-sync.sandbox")

    # -- setup (in-process, like an admin in Setup) ----------------------------------------
    def add_user(self, username: str, **fields: Any) -> OrgUser:
        with self.lock:
            user = OrgUser(user_id=make_id("005", len(self.users) + 1), username=username, **fields)
            self.users[username] = user
            return user

    def add_app(self, app: ConnectedApp) -> ConnectedApp:
        with self.lock:
            self.apps[app.consumer_key] = app
            return app

    def new_app(self, certificate: Path | None = None, *, run_as: str | None = None,
                pre_authorized: set[str] | None = None) -> ConnectedApp:
        """A connected app with fresh keys, for the integration user unless told otherwise."""
        user = self.integration_user.username
        return self.add_app(ConnectedApp(
            consumer_key="3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "B")[:80],
            consumer_secret=secrets.token_hex(32).upper(),
            certificate_pem=certificate.read_bytes() if certificate else None,
            run_as=run_as or user,
            pre_authorized=pre_authorized if pre_authorized is not None else {user},
        ))

    # -- sessions ------------------------------------------------------------------------
    def valid_session(self, token: str) -> Session | None:
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.revoked or self.clock() >= session.expires_at:
                return None
            return session

    def count_api_call(self) -> None:
        """An API call made with an OAuth session: the armed countdown may end every session now."""
        with self.lock:
            if self.revoke_after_calls is None:
                return
            self.revoke_after_calls -= 1
            if self.revoke_after_calls <= 0:
                self.revoke_after_calls = None
                self._end_all(revoke=True)

    def revoke_all(self) -> int:
        """Revoke every live session (an admin's "Revoke" on the connected app's sessions)."""
        with self.lock:
            return self._end_all(revoke=True)

    def _end_all(self, *, revoke: bool) -> int:
        ended = 0
        now = self.clock()
        for session in self.sessions.values():
            if not session.revoked and session.expires_at > now:
                if revoke:
                    session.revoked = True
                else:
                    session.expires_at = now
                ended += 1
        return ended

    def _issue(self, user: OrgUser, app: ConnectedApp, host: str) -> SandboxResponse:
        now = self.clock()
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self.lock:
            self.sessions[token] = Session(token, user.user_id, app.consumer_key, now, now + self.lifetime_seconds)
        issued_at = str(int(now * 1000))
        identity = f"https://{host}/id/{self.org_id}/{user.user_id}"
        digest = hmac.new(app.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        return SandboxResponse.json(200, {
            "access_token": token,
            "signature": base64.b64encode(digest).decode(),
            "scope": app.scope,
            "instance_url": f"https://{host}",
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})

    # -- endpoints -------------------------------------------------------------------------
    def token(self, request: SandboxRequest) -> SandboxResponse:
        form = _form(request)
        grant = form.get("grant_type", "")
        host = request.header("host") or "localhost"
        if grant == JWT_GRANT:
            return self._jwt_bearer(form.get("assertion", ""), host)
        if grant == "client_credentials":
            return self._client_credentials(form, request.header("authorization") or "", host)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str, host: str) -> SandboxResponse:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        app = self.apps.get(str(claims.get("iss", "")))
        if app is None:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if app.certificate_pem is None or header.get("alg") != "RS256":
            return _oauth_error("invalid_grant", "invalid assertion")
        public_key = x509.load_pem_x509_certificate(app.certificate_pem).public_key()
        try:
            jwt.decode(assertion, public_key, algorithms=["RS256"], options={"verify_aud": False,
                       "verify_exp": False, "require": ["iss", "sub", "aud", "exp"]})
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(str(a).rstrip("/") in self.audiences for a in audiences):
            return _oauth_error("invalid_grant", "audience is invalid")
        now = self.clock()
        try:
            exp = float(claims["exp"])
        except (TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        if exp < now - CLOCK_SKEW_SECONDS or exp > now + MAX_JWT_SECONDS + CLOCK_SKEW_SECONDS:
            return _oauth_error("invalid_grant", "invalid assertion")
        user = self.users.get(str(claims["sub"]))
        if user is None:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        if not user.active:
            return _oauth_error("inactive_user", "user is inactive")
        if user.username not in app.pre_authorized:
            return _oauth_error("invalid_app_access", "user is not admin approved to access this app")
        return self._issue(user, app, host)

    def _client_credentials(self, form: dict[str, str], authorization: str, host: str) -> SandboxResponse:
        key, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            try:
                key, _, secret = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error("invalid_client", "invalid client credentials")
        app = self.apps.get(key or "")
        if app is None:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not secret or not hmac.compare_digest(secret, app.consumer_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        user = self.users.get(app.run_as or "")
        if user is None:
            return _oauth_error("invalid_grant", "no client credentials user enabled")
        if not user.active:
            return _oauth_error("inactive_user", "user is inactive")
        return self._issue(user, app, host)

    def revoke(self, request: SandboxRequest) -> SandboxResponse:
        token = _form(request).get("token") or request.arg("token") or ""
        with self.lock:
            session = self.sessions.get(token)
            if session is None:
                return _oauth_error("unsupported_token_type", "this token type is not supported")
            session.revoked = True
        return SandboxResponse.empty(200)

    def bearer_user(self, request: SandboxRequest, static_token: str) -> OrgUser | None:
        auth = request.header("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token and token == static_token:
            return self.integration_user
        session = self.valid_session(token) if token else None
        if session is None:
            return None
        return next((u for u in self.users.values() if u.user_id == session.user_id), None)

    def identity(self, request: SandboxRequest, static_token: str) -> SandboxResponse:
        # the identity service's own errors: plain-text codes, 403 for the token or the org, 404 for the id
        if not (request.header("authorization") or "").startswith("Bearer "):
            return SandboxResponse.text(403, "Missing_OAuth_Token")
        user = self.bearer_user(request, static_token)
        if user is None:
            return SandboxResponse.text(403, "Bad_OAuth_Token")
        if request.params.get("org") != self.org_id:
            return SandboxResponse.text(403, "Wrong_Org")
        if request.params.get("user") != user.user_id:
            return SandboxResponse.text(404, "Bad_Id")
        host = request.header("host") or "localhost"
        return SandboxResponse.json(200, self._identity_body(user, host))

    def userinfo(self, request: SandboxRequest, static_token: str) -> SandboxResponse:
        user = self.bearer_user(request, static_token)
        if user is None:
            return SandboxResponse.text(403, "Bad_OAuth_Token")
        host = request.header("host") or "localhost"
        body = self._identity_body(user, host)
        return SandboxResponse.json(200, {
            "sub": body["id"], "user_id": user.user_id, "organization_id": self.org_id,
            "preferred_username": user.username, "nickname": body["nick_name"], "name": body["display_name"],
            "email": user.email, "email_verified": True, "given_name": user.first_name,
            "family_name": user.last_name, "zoneinfo": "America/Los_Angeles", "photos": body["photos"],
            "profile": f"https://{host}/{user.user_id}", "picture": body["photos"]["picture"],
            "address": {}, "is_salesforce_integration_user": False, "urls": body["urls"],
            "active": user.active, "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
            "utcOffset": -28800000, "updated_at": "2026-01-01T00:00:00Z", "is_app_installed": True,
        })

    def _identity_body(self, user: OrgUser, host: str) -> dict[str, Any]:
        base = f"https://{host}"
        data = f"{base}/services/data/v{{version}}"
        return {
            "id": f"{base}/id/{self.org_id}/{user.user_id}",
            "asserted_user": True,
            "user_id": user.user_id,
            "organization_id": self.org_id,
            "username": user.username,
            "nick_name": user.username.split("@")[0],
            "display_name": f"{user.first_name} {user.last_name}",
            "email": user.email,
            "email_verified": True,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "timezone": "America/Los_Angeles",
            "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
            "addr_street": None, "addr_city": None, "addr_state": None, "addr_country": None, "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{{version}}/{self.org_id}",
                "metadata": f"{base}/services/Soap/m/{{version}}/{self.org_id}",
                "partner": f"{base}/services/Soap/u/{{version}}/{self.org_id}",
                "rest": f"{data}/",
                "sobjects": f"{data}/sobjects/",
                "search": f"{data}/search/",
                "query": f"{data}/query/",
                "recent": f"{data}/recent/",
                "tooling_soap": f"{base}/services/Soap/T/{{version}}/{self.org_id}",
                "tooling_rest": f"{data}/tooling/",
                "profile": f"{base}/{user.user_id}",
                "feeds": f"{data}/chatter/feeds",
                "groups": f"{data}/chatter/groups",
                "users": f"{data}/chatter/users",
                "feed_items": f"{data}/chatter/feed-items",
                "feed_elements": f"{data}/chatter/feed-elements",
                "custom_domain": base,
            },
            "active": user.active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "last_modified_date": "2026-01-01T00:00:00.000+0000",
            "is_app_installed": True,
        }

    # -- the test hook ---------------------------------------------------------------------
    def admin(self, request: SandboxRequest) -> SandboxResponse:
        """``/__sandbox/sessions``: GET counts; POST ``{"revoke": "all"}``, ``{"expire": "all"}``,
        ``{"revoke_after_calls": N}`` (the next N API calls pass, then every session is revoked)
        or ``{"lifetime_seconds": S}`` (for sessions issued from now on)."""
        if request.method == "POST":
            body = request.json() or {}
            with self.lock:
                if body.get("revoke") == "all":
                    self._end_all(revoke=True)
                if body.get("expire") == "all":
                    self._end_all(revoke=False)
                if "revoke_after_calls" in body:
                    value = body["revoke_after_calls"]
                    self.revoke_after_calls = None if value is None or int(value) <= 0 else int(value)
                    if value is not None and int(value) <= 0:
                        self._end_all(revoke=True)
                if "lifetime_seconds" in body:
                    self.lifetime_seconds = float(body["lifetime_seconds"])
        with self.lock:
            now = self.clock()
            active = sum(1 for s in self.sessions.values() if not s.revoked and s.expires_at > now)
            return SandboxResponse.json(200, {
                "issued": len(self.sessions), "active": active, "lifetime_seconds": self.lifetime_seconds,
                "revoke_after_calls": self.revoke_after_calls,
            })


def _form(request: SandboxRequest) -> dict[str, str]:
    """The form-encoded body (and, as Salesforce allows, the query string)."""
    values = {k: v[0] for k, v in request.query.items() if v}
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return values
    values.update({k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items() if v})
    return values
