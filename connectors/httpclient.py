"""The retrying ``requests`` transport shared by the LMS and ERP connectors.

Both systems are plain HTTP+JSON, so one small client owns the rules that
must not differ between them: every request verifies TLS explicitly
(``REQUESTS_CA_BUNDLE`` would otherwise override ``session.verify``), every
request is counted, 429/5xx/timeouts/connection drops are retried with
exponential backoff and full jitter while ``Retry-After`` wins when the
server sends it, and everything else is turned into the exception class
from ``prm_sync.errors`` that tells the engine how to recover.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from prm_sync.errors import (
    AuthError,
    ConfigError,
    FatalError,
    Problem,
    QuotaExhausted,
    RemoteError,
    RemoteErrorInfo,
    TransientError,
)

SettingsT = TypeVar("SettingsT", bound=BaseModel)
T = TypeVar("T")

QUOTA_CODE = "quota_exceeded"  # body "error" both sandboxes (and the client) use for an exhausted budget


class HttpSettings(BaseModel):
    """Connection settings common to the requests-based connectors."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="scheme://host[:port][/prefix] of the service")
    access_token: SecretStr = Field(description="bearer token / API key; never logged")
    ca_bundle: str | None = Field(None, description="PEM file to trust instead of the system store")
    timeout_seconds: float = Field(30.0, gt=0, description="connect and read timeout per request")
    max_retries: int = Field(5, ge=0, le=20, description="retries after the first attempt")
    backoff_base_seconds: float = Field(0.5, ge=0, description="first backoff step (full jitter)")
    backoff_max_seconds: float = Field(30.0, ge=0, description="cap of one backoff sleep")
    max_retry_after_seconds: float = Field(
        120.0, ge=0, description="a longer Retry-After is not slept through: the error surfaces instead"
    )

    @field_validator("ca_bundle", mode="before")
    @classmethod
    def _existing_pem(cls, value: object) -> object:
        if value is None:
            return None
        path = Path(os.fspath(value)) if isinstance(value, str | os.PathLike) else None
        if path is None or not path.is_file():
            msg = f"CA bundle {value!r} is not a readable file"
            raise ValueError(msg)
        return str(path)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = f"must start with http:// or https:// (got {value!r})"
            raise ValueError(msg)
        return value.rstrip("/")


def load_settings(cls: type[SettingsT], data: Mapping[str, Any], *, source: str | None = None) -> SettingsT:
    """Validate a settings mapping, reporting every problem at once as a ``ConfigError``."""
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            Problem(f"{'.'.join(str(p) for p in err['loc']) or cls.__name__}: {err['msg']}", file=source)
            for err in exc.errors()
        ]
        raise ConfigError(problems) from None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _body_snippet(response: requests.Response) -> str:
    text = response.text or ""
    return text[:300]


def _is_quota(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == QUOTA_CODE


class HttpClient:
    """A counted, retrying JSON client for one base URL.

    ``sleep`` is injectable so unit tests can assert on backoff without
    waiting; ``headers`` are sent on every request (auth, API version).
    """

    def __init__(
        self,
        system: str,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        refused_hint: str = "credentials rejected; check the access token",
    ) -> None:
        self.system = system
        self.refused_hint = refused_hint
        self.settings = settings
        self.session = session or requests.Session()
        self.headers = dict(headers or {})
        self.sleep = sleep
        self.api_calls = 0

    # -- public ----------------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        retry: bool = True,
    ) -> requests.Response:
        """Send one request (retrying transient failures) and return a 2xx/3xx response.

        ``retry=False`` is for calls that are not idempotent (an ERP ``create``):
        their caller retries a whole idempotent unit instead.
        """
        if not retry:
            return self._once(method, path_or_url, params, json)
        return self.retrying(lambda: self._once(method, path_or_url, params, json))

    def retrying(self, func: Callable[[], T]) -> T:
        """Run ``func`` under this client's retry policy (used for multi-call units too)."""
        retryer = Retrying(
            retry=retry_if_exception(self._should_retry),
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        return retryer(func)

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.settings.base_url}/{path_or_url.lstrip('/')}"

    # -- internals -------------------------------------------------------------
    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, TransientError):
            return False
        return exc.retry_after is None or exc.retry_after <= self.settings.max_retry_after_seconds

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        jitter = wait_random_exponential(
            multiplier=self.settings.backoff_base_seconds, max=self.settings.backoff_max_seconds
        )
        return float(jitter(state))

    def _info(self, status: int | None, code: str, message: str) -> RemoteErrorInfo:
        return RemoteErrorInfo(system=self.system, status=status, code=code, message=message)

    def _once(
        self, method: str, path_or_url: str, params: Mapping[str, str] | None, json: Any
    ) -> requests.Response:
        url = self.url(path_or_url)
        self.api_calls += 1
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                headers=self.headers,
                timeout=self.settings.timeout_seconds,
                verify=self.settings.ca_bundle or True,  # explicit: env CA variables must not win
            )
        except requests.exceptions.SSLError as exc:
            msg = f"{self.system}: TLS verification failed for {url}: {exc}"
            raise FatalError(msg) from None
        except requests.exceptions.Timeout:
            raise TransientError(self._info(None, "TIMEOUT", f"no answer from {url} in time")) from None
        except requests.exceptions.ConnectionError as exc:
            raise TransientError(self._info(None, "CONNECTION", f"{url}: {type(exc).__name__}")) from None
        self._raise_for_status(response)
        return response

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        snippet = _body_snippet(response)
        if status == 429 and not _is_quota(response):
            raise TransientError(self._info(status, "RATE_LIMITED", snippet), retry_after=retry_after)
        if status >= 500:
            raise TransientError(self._info(status, "UNAVAILABLE", snippet), retry_after=retry_after)
        if _is_quota(response):
            raise QuotaExhausted(self._info(status, "QUOTA_EXHAUSTED", snippet))
        if status in (401, 403):
            raise AuthError(
                self._info(status, "UNAUTHORIZED", self.refused_hint)
            )
        raise RemoteError(self._info(status, f"HTTP_{status}", snippet))
