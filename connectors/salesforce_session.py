"""The Salesforce transport: one ``requests.Session`` that signs in, retries, counts and guards quota.

Why a module of its own: simple-salesforce, its ``SFType`` objects and its
Bulk 2.0 client all share this session, so it is the one place that sees every
request; what it does with them (the session renewal, the quota reserve, the
client-side rate limit, TLS verification, the retries the decision table asks
for) is transport, separate from what the connector reads and writes. See
``connectors.salesforce`` for the rules it applies.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.salesforce_auth import SessionToken, SignIn, SignInRefused
from connectors.salesforce_decisions import Action, decide
from prm_sync.errors import (
    AuthError,
    ConfigError,
    FatalError,
    QuotaExhausted,
    RemoteErrorInfo,
    TransientError,
)

if TYPE_CHECKING:
    from connectors.salesforce import SalesforceSettings

log = logging.getLogger("connectors.salesforce")  # the connector's logger: logging set up for it still applies
SYSTEM = "salesforce"
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class _RetryableResponse(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def error_info(status: int | None, content: Any, fallback: str) -> RemoteErrorInfo:
    """The first ``{errorCode, message, fields}`` of a Salesforce error body."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return RemoteErrorInfo(SYSTEM, status, str(first.get("errorCode", fallback)),
                               str(first.get("message", "")), list(first.get("fields") or []))
    return RemoteErrorInfo(SYSTEM, status, fallback, str(content)[:500])


def _response_info(response: requests.Response) -> RemoteErrorInfo:
    try:
        content = response.json()
    except ValueError:
        content = response.text
    return error_info(response.status_code, content, f"HTTP_{response.status_code}")


def _decision(response: requests.Response) -> Action:
    """What the decision table says about an answer (successes are returned as they are)."""
    if response.status_code < 400:
        return Action.RETURN
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    return decide(response.status_code, parsed, response.text).action


class SalesforceSession(requests.Session):
    """Every request the connector and simple-salesforce send: sign-in, renewal, quota, pace, retries."""

    def __init__(self, settings: SalesforceSettings) -> None:
        super().__init__()
        self.settings = settings
        self.verify_setting: str | bool = settings.ca_bundle or True
        self.calls = 0
        self.used: int | None = None
        self.limit: int | None = None
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.signer = SignIn(settings.credentials(), settings.instance_url)
        self.token: SessionToken | None = None
        self.sign_ins = 0
        self.renewals = 0
        self.on_renew: Callable[[SessionToken], None] | None = None
        self._renew_lock = threading.Lock()

    # -- sessions -------------------------------------------------------------
    def connect(self) -> SessionToken:
        """Sign in (a refused sign-in is a ``SignInRefused`` naming the setting to fix)."""
        self.token = self._sign_in()
        return self.token

    def _sign_in(self) -> SessionToken:
        token = self.signer.sign_in(self._post_form)
        with self._lock:
            self.sign_ins += 1
        return token

    def _post_form(self, url: str, data: dict[str, str], headers: dict[str, str]) -> requests.Response:
        """The token request: same TLS and retry rules, not an API call (no quota, not counted)."""
        kwargs: dict[str, Any] = {"data": data, "headers": headers, "verify": self.verify_setting,
                                  "timeout": self.settings.timeout_seconds}
        return self._send("POST", url, kwargs, api_call=False)

    def _authorize(self, kwargs: dict[str, Any]) -> str | None:
        """Put the current session on a request that carries a bearer token; return the token sent."""
        headers = kwargs.get("headers") or {}
        if self.token is None or not str(headers.get("Authorization", "")).startswith("Bearer "):
            return None
        current = self.token.access_token.get_secret_value()
        kwargs["headers"] = {**headers, "Authorization": f"Bearer {current}"}
        return current

    def _renew(self, stale: str) -> None:
        """Sign in again, once for all threads that saw ``stale`` refused."""
        with self._renew_lock:
            if self.token is not None and self.token.access_token.get_secret_value() != stale:
                return  # another call renewed it meanwhile
            try:
                token = self._sign_in()
            except SignInRefused as exc:
                info = RemoteErrorInfo(SYSTEM, 401, f"SESSION_RENEWAL_REFUSED_{exc.error.upper()}", exc.line)
                raise AuthError(info) from None
            if self.token is not None and token.instance_url != self.token.instance_url:
                log.warning("salesforce: the renewed session names another instance (%s); keeping %s",
                            token.instance_url, self.token.instance_url)
            self.token = token
            self.renewals += 1
            if self.on_renew is not None:
                self.on_renew(token)

    # -- guards ---------------------------------------------------------------
    def _check_quota(self) -> None:
        with self._lock:
            if self.used is None or self.limit is None:
                return
            remaining = self.limit - self.used
            reserve = math.ceil(self.limit * self.settings.quota_reserve_pct / 100)
        if remaining <= reserve:
            msg = (f"stopping with {remaining} of {self.limit} daily API requests left: the last "
                   f"{self.settings.quota_reserve_pct:g}% are reserved for other integrations")
            raise QuotaExhausted(RemoteErrorInfo(SYSTEM, None, "QUOTA_RESERVE_REACHED", msg))

    def _throttle(self) -> None:
        rps = self.settings.max_requests_per_second
        if not rps:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1 / rps
        if slot > now:
            time.sleep(slot - now)

    def _record_usage(self, response: requests.Response) -> None:
        m = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if m:
            with self._lock:
                self.used, self.limit = int(m.group(1)), int(m.group(2))

    # -- retries --------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(multiplier=self.settings.retry_wait_initial, max=self.settings.retry_wait_max)
        seconds = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableResponse):
            retry_after = exc.response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                seconds = max(seconds, min(float(retry_after), self.settings.retry_wait_max))
        log.info("salesforce: retrying after %.2fs (attempt %d): %s", seconds, state.attempt_number, exc)
        return seconds

    def _send_once(self, method: str, url: str, kwargs: dict[str, Any], api_call: bool) -> requests.Response:
        if api_call:
            self._check_quota()
            self._throttle()
            with self._lock:
                self.calls += 1
        response = super().request(method, url, **kwargs)
        self._record_usage(response)
        if _decision(response) is Action.RETRY:
            raise _RetryableResponse(response)
        return response

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Every API request: current session, retries, and one renewal when the session is over."""
        kwargs["verify"] = self.verify_setting  # explicit: the environment's CA bundle must not win
        kwargs.setdefault("timeout", self.settings.timeout_seconds)
        if args:
            msg = "pass request options by keyword"
            raise TypeError(msg)
        sent_with = self._authorize(kwargs)
        response = self._send(str(method), str(url), kwargs, api_call=True)
        if sent_with is not None and self.signer.renewable and _decision(response) is Action.RENEW_SESSION_THEN_RETRY:
            log.info("salesforce: session refused (%s %s): signing in again and resending",
                     method, urlsplit(str(url)).path)
            self._renew(sent_with)
            self._authorize(kwargs)
            response = self._send(str(method), str(url), kwargs, api_call=True)
        return response

    def _send(self, method: str, url: str, kwargs: dict[str, Any], *, api_call: bool) -> requests.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(
                (_RetryableResponse, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
            ),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send_once(method, url, kwargs, api_call)
        except requests.exceptions.SSLError as exc:
            msg = f"TLS verification of {urlsplit(str(url)).netloc} failed; check ca_bundle ({exc.__class__.__name__})"
            raise ConfigError(msg) from None
        except _RetryableResponse as exc:
            info = _response_info(exc.response)
            raise TransientError(info, retry_after=_retry_after(exc.response)) from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            info = RemoteErrorInfo(SYSTEM, None, exc.__class__.__name__, f"no answer from {urlsplit(str(url)).netloc}")
            raise TransientError(info) from None
        msg = "retry loop ended without a result"
        raise FatalError(msg)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
