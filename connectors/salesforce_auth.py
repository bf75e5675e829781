"""Signing in to Salesforce: a static session id, or OAuth 2.0 for unattended runs.

Two OAuth 2.0 flows need no person at the keyboard and no stored password:

* **JWT bearer**: a JWT (``iss`` consumer key, ``sub`` username, ``aud`` the
  login server, ``exp`` at most 3 minutes ahead) signed RS256 with the key
  whose certificate is uploaded to the connected app, posted to
  ``{login_url}/services/oauth2/token``.
* **Client credentials**: the connected app's consumer key and secret, posted
  to the org's My Domain; the session runs as the app's "Run As" user.

Neither returns a refresh token: the way to a new session is to sign in
again, which is what ``renew`` does (the transport calls it on
``INVALID_SESSION_ID``). simple-salesforce's own login builds
``https://{domain}.salesforce.com`` URLs and an ``aud`` from the domain, so
it cannot reach a My Domain with the right audience, a local sandbox, or our
TLS and retry rules; this module posts the token request itself through the
connector's session.

A refused sign-in becomes one line naming the setting to fix
(``SignInRefused``); secrets never appear in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from prm_sync.errors import ConfigError, Problem

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 170  # Salesforce accepts an exp at most 3 minutes ahead; leave room for clock skew
PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
SETTING = "systems.salesforce.auth"

PostForm = Callable[[str, dict[str, str], dict[str, str]], requests.Response]


def _https_origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") or parts.query:
        msg = f"must look like https://host[:port] with no path, got {value!r}"
        raise ValueError(msg)
    return value.rstrip("/")


def default_audience(login_url: str) -> str:
    """The JWT ``aud`` Salesforce expects for a login URL.

    Production orgs (login.salesforce.com or a My Domain) want
    ``https://login.salesforce.com``, sandboxes ``https://test.salesforce.com``,
    even when the token request goes to the My Domain; anything else (an
    Experience Cloud site) is its own audience.
    """
    host = urlsplit(login_url).hostname or ""
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_LOGIN
    if host == "login.salesforce.com" or host.endswith(".my.salesforce.com"):
        return PRODUCTION_LOGIN
    return login_url


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, str] = Field(
        default_factory=dict,
        description="credential part -> where it is configured (setting and env var), for error messages",
    )

    def source(self, part: str) -> str:
        return self.sources.get(part, f"{SETTING}.{part}")


class StaticToken(_Credentials):
    """A session id someone obtained elsewhere; nothing can renew it."""

    method: Literal["static_token"] = "static_token"
    access_token: SecretStr


class JwtBearer(_Credentials):
    method: Literal["jwt_bearer"] = "jwt_bearer"
    login_url: str = PRODUCTION_LOGIN
    audience: str | None = Field(None, description="JWT aud; default from login_url (see default_audience)")
    consumer_key: SecretStr
    username: str = Field(min_length=1)
    private_key: SecretStr = Field(description="PEM of the RSA key whose certificate the connected app holds")

    @field_validator("login_url")
    @classmethod
    def _login_url(cls, value: str) -> str:
        return _https_origin(value)


class ClientCredentials(_Credentials):
    method: Literal["client_credentials"] = "client_credentials"
    login_url: str = Field(description="the org's My Domain URL (login/test.salesforce.com refuse this flow)")
    consumer_key: SecretStr
    consumer_secret: SecretStr

    @field_validator("login_url")
    @classmethod
    def _login_url(cls, value: str) -> str:
        return _https_origin(value)


Credentials = Annotated[StaticToken | JwtBearer | ClientCredentials, Field(discriminator="method")]


@dataclass(frozen=True)
class SessionToken:
    """What a sign-in returns: the bearer token and where the org's API lives."""

    access_token: SecretStr
    instance_url: str
    identity_url: str | None = None
    issued_at: str | None = None


# -- refused sign-ins: the documented errors, and which setting each one points at ------------------
@dataclass(frozen=True)
class OAuthErrorRule:
    error: str
    description: str | None  # a fragment of error_description, lower case; None matches any
    part: str  # the credential part to fix
    advice: str
    in_salesforce: bool = False  # the fix is in the org's setup, for the app or user ``part`` names


OAUTH_ERRORS: tuple[OAuthErrorRule, ...] = (
    OAuthErrorRule("invalid_client_id", None, "consumer_key",
                   "no connected app in this org has this consumer key"),
    OAuthErrorRule("invalid_client", None, "consumer_secret",
                   "the consumer key and secret do not match the connected app"),
    OAuthErrorRule("invalid_grant", "audience", "audience",
                   "the JWT aud must be https://login.salesforce.com (production or My Domain), "
                   "https://test.salesforce.com (sandboxes) or the Experience Cloud site URL"),
    OAuthErrorRule("invalid_grant", "invalid assertion", "private_key",
                   "the JWT does not verify: the connected app must hold this key's certificate "
                   "(and this machine's clock must be right: the JWT expires after 3 minutes)"),
    OAuthErrorRule("invalid_grant", "hasn't approved", "username",
                   "check the username, and pre-authorize the user: connected app > Manage > Edit Policies > "
                   "Permitted Users: 'Admin approved users are pre-authorized', then add the user's profile or "
                   "permission set"),
    OAuthErrorRule("invalid_grant", "no client credentials user", "consumer_key",
                   "set a Run As user under the connected app's 'Enable Client Credentials Flow'", in_salesforce=True),
    OAuthErrorRule("invalid_grant", "not supported on this domain", "login_url",
                   "the client credentials flow only answers on the org's My Domain URL"),
    OAuthErrorRule("invalid_app_access", None, "username",
                   "the user is not admin approved for this connected app: add the user's profile or "
                   "permission set to the app (Manage > Profiles / Permission Sets)"),
    OAuthErrorRule("inactive_user", None, "username", "the user is inactive"),
    OAuthErrorRule("inactive_org", None, "login_url", "the org is locked, closed or suspended"),
    OAuthErrorRule("unsupported_grant_type", None, "method",
                   "this login URL does not accept the flow: check login_url, and that the connected app "
                   "enables it (client credentials: 'Enable Client Credentials Flow')"),
    OAuthErrorRule("invalid_request", None, "login_url", "the token request was malformed for this server"),
    OAuthErrorRule("HTTP_404", None, "login_url", "there is no OAuth token endpoint at this URL"),
)


def _rule_for(error: str, description: str) -> OAuthErrorRule | None:
    text = description.lower()
    for rule in OAUTH_ERRORS:
        if rule.error == error and (rule.description is None or rule.description in text):
            return rule
    return None


class SignInRefused(ConfigError):
    """The login server refused our credentials: a person must fix a setting (exit 2)."""

    def __init__(self, line: str, hint: str, error: str) -> None:
        super().__init__([Problem(line, hint=hint)])
        self.error = error
        self.line = f"{line} (hint: {hint})"


def _scrub(text: str, credentials: _Credentials) -> str:
    """Remove every secret value from text that came back from the server."""
    for name in type(credentials).model_fields:
        secret = getattr(credentials, name)
        if isinstance(secret, SecretStr) and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "***")
    return text


def refused(credentials: _Credentials, status: int, body: Any) -> SignInRefused:
    """One clear line for a refused token request, naming the setting to fix."""
    error = str(body.get("error", f"HTTP_{status}")) if isinstance(body, dict) else f"HTTP_{status}"
    description = _scrub(str(body.get("error_description", "")) if isinstance(body, dict) else "", credentials)
    rule = _rule_for(error, description)
    said = f"{error}: {description}" if description else error
    line = f"salesforce sign-in ({credentials.method}) refused: {said}"
    if rule is None:
        return SignInRefused(line, f"check every setting under {SETTING}", error)
    if rule.in_salesforce:
        return SignInRefused(line, f"{rule.advice} (the app of {credentials.source(rule.part)})", error)
    return SignInRefused(line, f"{rule.advice}; fix {credentials.source(rule.part)}", error)


# -- the flows ------------------------------------------------------------------------------
def load_private_key(credentials: JwtBearer) -> rsa.RSAPrivateKey:
    """The RSA key, or a clear line when the PEM is unusable (checked at connect time)."""
    try:
        key = serialization.load_pem_private_key(credentials.private_key.get_secret_value().encode(), password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted (store it without a passphrase)" if "encrypted" in str(exc).lower() else \
            "it is not a PEM private key"
        msg = f"cannot use the Salesforce JWT private key: {reason}"
        raise ConfigError([Problem(msg, hint=f"fix {credentials.source('private_key')}")]) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = "the Salesforce JWT private key must be an RSA key (RS256)"
        raise ConfigError([Problem(msg, hint=f"fix {credentials.source('private_key')}")])
    return key


class SignIn:
    """Obtains sessions for one set of credentials; ``renewable`` says whether it can do so again."""

    def __init__(self, credentials: StaticToken | JwtBearer | ClientCredentials, instance_url: str | None) -> None:
        self.credentials = credentials
        self.instance_url = instance_url
        self._key = load_private_key(credentials) if isinstance(credentials, JwtBearer) else None

    @property
    def method(self) -> str:
        return self.credentials.method

    @property
    def renewable(self) -> bool:
        return not isinstance(self.credentials, StaticToken)

    def token_url(self) -> str:
        assert not isinstance(self.credentials, StaticToken)
        return f"{self.credentials.login_url}/services/oauth2/token"

    def sign_in(self, post: PostForm) -> SessionToken:
        """A session: the static token as given, or a fresh one from the login server."""
        c = self.credentials
        if isinstance(c, StaticToken):
            assert self.instance_url is not None
            return SessionToken(access_token=c.access_token, instance_url=self.instance_url)
        if isinstance(c, JwtBearer):
            claims = {
                "iss": c.consumer_key.get_secret_value(),
                "sub": c.username,
                "aud": c.audience or default_audience(c.login_url),
                "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
            }
            assertion = jwt.encode(claims, self._key, algorithm="RS256")
            form = {"grant_type": JWT_GRANT, "assertion": assertion}
        else:
            form = {
                "grant_type": "client_credentials",
                "client_id": c.consumer_key.get_secret_value(),
                "client_secret": c.consumer_secret.get_secret_value(),
            }
        response = post(self.token_url(), form, {"Accept": "application/json"})
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise refused(c, response.status_code, body)
        instance_url = str(body.get("instance_url") or c.login_url).rstrip("/")
        log.info("salesforce: signed in with %s to %s", c.method, instance_url)
        return SessionToken(
            access_token=SecretStr(str(body["access_token"])),
            instance_url=instance_url,
            identity_url=body.get("id"),
            issued_at=body.get("issued_at"),
        )

    def expired_hint(self) -> str:
        """What to do when the API says the session is over and we cannot renew it."""
        if isinstance(self.credentials, StaticToken):
            return (f"the session in {self.credentials.source('access_token')} expired or was revoked: export a "
                    f"fresh one, or set {SETTING}.method to jwt_bearer or client_credentials so runs renew it")
        return "a freshly renewed session was refused too: check the connected app's session policies"
