"""The shape of ``config/prm_sync.yaml``: systems, schedules, sync and rule parameters.

Validated with pydantic before any I/O. Secrets are never in this file: each
system names the environment variables that hold its credentials
(``access_token_env``, ``auth.consumer_key_env``, ``key_env``...), read only
when a connector is built; a JWT private key may also live in a file named here.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_DAYS = 36_500  # a century: any day count past it is a typo, and past ~10**8 no date arithmetic survives it
MAX_SECONDS = 30 * 86_400
MAX_TIMEOUT_SECONDS = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Remote(_Strict):
    """A system reached over HTTP with a token: ``http://`` only on this machine, unless allowed in so many words."""

    allow_insecure_http: bool = Field(
        False,
        description="send the token over plain http:// to a host that is not this machine (a closed lab network "
        "only: anyone on the path reads it)",
    )

    def _url_fields(self) -> list[str]:
        return ["base_url"]

    @model_validator(mode="after")
    def _https_for_remote_hosts(self) -> _Remote:
        for name in self._url_fields():
            value = getattr(self, name, None)
            if not value:
                continue
            parts = urlsplit(value)
            try:
                parts.port  # noqa: B018  (a port past 65535 raises only when read)
            except ValueError:
                msg = f"{name} {value!r} has a port outside 0-65535"
                raise ValueError(msg) from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                msg = f"{name} must look like https://host[:port], got {value!r}"
                raise ValueError(msg)
            if parts.scheme == "http" and not _is_loopback(parts.hostname) and not self.allow_insecure_http:
                msg = (f"{name} {value!r} is http:// to another machine: the token would travel in clear text; "
                       "use https://, or set allow_insecure_http: true for a closed lab network")
                raise ValueError(msg)
        return self


_LOGIN_HOSTS = {"login.salesforce.com", "test.salesforce.com"}
_AUTH_KEYS: dict[str, set[str]] = {
    "static_token": set(),
    "jwt_bearer": {"login_url", "audience", "username", "consumer_key_env", "private_key_file", "private_key_env"},
    "client_credentials": {"login_url", "consumer_key_env", "consumer_secret_env"},
}


class SalesforceAuthConfig(_Strict):
    """How prm-sync signs in to Salesforce.

    ``static_token`` reads a session id from ``access_token_env`` (sessions
    end after the org's timeout, and nothing renews them); ``jwt_bearer`` and
    ``client_credentials`` are OAuth 2.0 flows for unattended runs that sign
    in at connect time and again whenever the session ends mid-run. Secrets
    come from environment variables (or, for the JWT key, a file); never
    from this file.
    """

    method: Literal["static_token", "jwt_bearer", "client_credentials"] = "static_token"
    login_url: str | None = Field(
        None,
        description="token endpoint host: https://login.salesforce.com (production, the JWT default), "
        "https://test.salesforce.com (sandboxes) or your My Domain (required for client_credentials)",
    )
    audience: str | None = Field(None, description="JWT aud; by default derived from login_url")
    username: str | None = Field(None, description="jwt_bearer: the integration user's username")
    consumer_key_env: str = Field("SALESFORCE_CONSUMER_KEY", description="env var holding the connected app's consumer key")
    consumer_secret_env: str = Field("SALESFORCE_CONSUMER_SECRET", description="client_credentials: env var holding the consumer secret")
    private_key_file: Path | None = Field(None, description="jwt_bearer: PEM private key file (relative to this file)")
    private_key_env: str | None = Field(None, description="jwt_bearer: env var holding the PEM private key")

    @field_validator("login_url", "audience")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.path.strip("/"):
            msg = f"must look like https://host (no path), got {value!r}"
            raise ValueError(msg)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fits_method(self) -> SalesforceAuthConfig:
        fields = type(self).model_fields
        unused = sorted(k for k in (self.model_fields_set - {"method"}) - _AUTH_KEYS[self.method]
                        if getattr(self, k) != fields[k].default)  # a dumped default is harmless
        if unused:
            msg = f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used by method {self.method}"
            raise ValueError(msg)
        if self.method == "jwt_bearer":
            if not self.username:
                msg = "jwt_bearer needs username (the integration user's Salesforce username)"
                raise ValueError(msg)
            if (self.private_key_file is None) == (self.private_key_env is None):
                msg = "jwt_bearer needs exactly one of private_key_file or private_key_env"
                raise ValueError(msg)
        if self.method == "client_credentials":
            host = urlsplit(self.login_url or "").hostname
            if not self.login_url or host in _LOGIN_HOSTS:
                msg = ("client_credentials needs login_url set to your My Domain "
                       "(https://yourcompany.my.salesforce.com); login and test.salesforce.com refuse this flow")
                raise ValueError(msg)
        return self

    def secret_envs(self, access_token_env: str) -> list[str]:
        """The environment variables this method reads."""
        if self.method == "static_token":
            return [access_token_env]
        if self.method == "client_credentials":
            return [self.consumer_key_env, self.consumer_secret_env]
        return [self.consumer_key_env, *([self.private_key_env] if self.private_key_env else [])]


class SalesforceConfig(_Remote):
    enabled: bool = True
    instance_url: str | None = Field(
        None,
        description="https://yourcompany.my.salesforce.com; needed for static_token "
        "(the OAuth methods take it from the token answer)",
    )
    auth: SalesforceAuthConfig = Field(default_factory=SalesforceAuthConfig)
    access_token_env: str = Field("SALESFORCE_ACCESS_TOKEN", description="static_token: env var holding the session id")
    api_version: str = Field("59.0", pattern=r"^\d{2,3}\.0$", description="REST API version, e.g. 59.0")
    ca_bundle: Path | None = None
    bulk_threshold: int = Field(2000, ge=1, le=150_000_000)  # Bulk API 2.0: 150M records a day
    quota_reserve_pct: float = Field(10.0, ge=0, le=90)
    max_requests_per_second: float | None = Field(None, gt=0, le=10_000)
    timeout_seconds: float = Field(30.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(5, ge=0, le=20)
    permission_set: str = Field(
        "PRM_Sync_Integration",
        description="permission set `prm-sync setup` creates (if missing), assigns to the integration user and "
        "grants read/edit on the mapped custom fields (field-level security)",
    )

    def _url_fields(self) -> list[str]:
        return ["instance_url"]

    @model_validator(mode="after")
    def _instance_for_static_token(self) -> SalesforceConfig:
        if self.auth.method == "static_token" and not self.instance_url:
            msg = "instance_url is required with auth method static_token"
            raise ValueError(msg)
        return self

    def secret_envs(self) -> list[str]:
        return self.auth.secret_envs(self.access_token_env)


class HubSpotConfig(_Remote):
    enabled: bool = True
    base_url: str = "https://api.hubapi.com"
    portal_id: int | None = Field(None, ge=1, le=2**63 - 1, description="the portal (Hub ID): links failures to HubSpot records")
    app_url: str = Field("https://app.hubspot.com", description="where people open records (EU: app-eu1.hubspot.com)")
    access_token_env: str = "HUBSPOT_ACCESS_TOKEN"
    ca_bundle: Path | None = None
    requests_per_10s: int = Field(100, ge=1, le=10_000)
    quota_reserve_pct: float = Field(10.0, ge=0, le=90)
    timeout_seconds: float = Field(30.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(5, ge=0, le=20)

    def secret_envs(self) -> list[str]:
        return [self.access_token_env]


class LmsConfig(_Remote):
    """An xAPI 1.0.3 LRS: HTTP Basic with the key and secret it issued (the xAPI default), or a bearer token."""

    enabled: bool = True
    base_url: str
    auth: Literal["basic", "bearer"] = "basic"
    key_env: str = Field("LMS_KEY", description="basic: env var holding the LRS key (the user name)")
    secret_env: str = Field("LMS_SECRET", description="basic: env var holding the LRS secret")
    access_token_env: str = Field("LMS_ACCESS_TOKEN", description="bearer: env var holding the token")
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(30.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(5, ge=0, le=20)

    def secret_envs(self) -> list[str]:
        return [self.key_env, self.secret_env] if self.auth == "basic" else [self.access_token_env]


class ErpConfig(_Remote):
    enabled: bool = True
    base_url: str
    database: str = "prm"
    login: str = "prm-sync"
    access_token_env: str = "ERP_API_KEY"
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(30.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_retries: int = Field(5, ge=0, le=20)

    def secret_envs(self) -> list[str]:
        return [self.access_token_env]


class SystemsConfig(_Strict):
    salesforce: SalesforceConfig | None = None
    hubspot: HubSpotConfig | None = None
    lms: LmsConfig | None = None
    erp: ErpConfig | None = None

    def enabled(self) -> list[str]:
        return [
            name
            for name in ("salesforce", "hubspot", "lms", "erp")
            if (cfg := getattr(self, name)) and cfg.enabled
        ]

    def secret_envs(self) -> dict[str, list[str]]:
        """The environment variables each enabled system reads its credentials from."""
        return {name: getattr(self, name).secret_envs() for name in self.enabled()}


class SyncConfig(_Strict):
    overlap_seconds: int = Field(
        300, ge=0, le=MAX_SECONDS, description="re-read this much before the cursor: modstamps commit late"
    )
    page_size: int = Field(500, ge=1, le=10000, description="records per committed batch")
    delete_sweep_seconds: int = Field(
        3600, ge=0, le=MAX_SECONDS, description="how often to look for deletes where that costs extra calls (HubSpot archived)"
    )
    lock_stale_after_seconds: int = Field(3600, ge=60, le=MAX_SECONDS)
    max_record_attempts: int = Field(5, ge=1, le=1000)
    pipeline_writes: bool = Field(
        True, description="send a slice's next batch while the previous one commits (one call in flight per slice)"
    )


class SchedulesConfig(_Strict):
    timezone: str = "UTC"
    full_sync_cron: str = "0 2 * * *"
    incremental_cron: str = "0 * * * *"
    reconcile_cron: str = "30 3 * * *"
    expiry_cron: str = "15 0 * * *"
    retention_cron: str = "45 4 * * 0"

    @field_validator("full_sync_cron", "incremental_cron", "reconcile_cron", "expiry_cron", "retention_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            msg = f"cron expression {value!r} must have five fields (minute hour day month weekday)"
            raise ValueError(msg)
        try:  # "99 99 * * *" has five fields too; status and Dagster would fail on it later
            CronSim(value, datetime(2026, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            msg = f"cron expression {value!r}: {exc}"
            raise ValueError(msg) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r}: an IANA name such as UTC, Europe/Berlin or America/New_York"
            raise ValueError(msg) from None
        return value


class RetentionConfig(_Strict):
    """How many days of each kind of history the store keeps; ``null`` keeps it for ever.

    Applied by ``prm-sync db prune`` and Dagster's ``retention_job``, never
    during a sync: deleting is an operator's decision, on the operator's schedule.
    """

    ledger_days: int | None = Field(30, ge=1, le=MAX_DAYS, description="per-record ledger rows of stores before migration 0009 "
                                    "(forensics; a push batch is kept as long as the audit)")
    audit_days: int | None = Field(365, ge=1, le=MAX_DAYS, description="the field-level audit log")
    runs_days: int | None = Field(180, ge=1, le=MAX_DAYS, description="finished sync runs and their statistics")
    inbox_days: int | None = Field(
        14, ge=7, le=MAX_DAYS, description="processed webhook deliveries; CRMs redeliver for days, so at least a week"
    )
    resolved_failures_days: int | None = Field(90, ge=1, le=MAX_DAYS, description="failed records once resolved or discarded")
    resolved_reviews_days: int | None = Field(365, ge=1, le=MAX_DAYS, description="review items once resolved")
    conflict_checks_days: int | None = Field(
        365, ge=1, le=MAX_DAYS, description="superseded conflict checks; each registration's latest check is always kept"
    )


class HealthConfig(_Strict):
    """When a slice stops counting as healthy (``prm-sync status``, Dagster's health view and checks)."""

    stale_after_minutes: int | None = Field(
        None, ge=1, le=MAX_DAYS * 24 * 60, description="a slice whose last good run is older is stale (red); default: twice the "
        "most frequent sync schedule's interval plus 10 minutes",
    )
    quota_warn_pct: float = Field(80.0, ge=0, le=100, description="API use above this share of the daily limit is flagged")
    run_history: int = Field(500, ge=10, le=100_000, description="how many recent runs the health view reads")


class ConflictRules(_Strict):
    conflict_threshold: float = Field(90.0, ge=0, le=100)
    review_threshold: float = Field(70.0, ge=0, le=100)
    require_product_overlap: bool = True
    check_direct_opportunities: bool = True
    check_existing_customers: bool = True
    public_mail_domains: list[str] = Field(
        default_factory=lambda: [
            "gmail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "icloud.com",
            "aol.com",
            "proton.me",
            "gmx.de",
        ]
    )


class ProtectionRules(_Strict):
    default_days: int = Field(90, ge=1, le=730)
    per_tier: dict[str, Annotated[int, Field(ge=1, le=730)]] = Field(default_factory=dict)
    extension_days: int = Field(30, ge=1, le=730)
    max_extensions: int = Field(1, ge=0, le=100)
    warn_days_before_expiry: int = Field(14, ge=0, le=730)


class CertificationRules(_Strict):
    validity_months: int = Field(12, ge=1, le=120)
    renewal_window_days: int = Field(30, ge=0, le=3650)
    required_for_product_lines: list[str] = Field(default_factory=list)
    passing_score: float = Field(0.7, ge=0, le=1)


class TierRequirement(_Strict):
    certified_people: int = Field(0, ge=0, le=1_000_000)
    closed_revenue: float = Field(0, ge=0, le=1e15)


class TierRules(_Strict):
    requirements: dict[str, TierRequirement] = Field(default_factory=dict)
    demotion_grace_days: int = Field(60, ge=0, le=3650)


class AttributionSplit(_Strict):
    sourced: float = Field(10.0, ge=0, le=100)
    influenced: float = Field(2.0, ge=0, le=100)
    fulfilled: float = Field(5.0, ge=0, le=100)


class AttributionRules(_Strict):
    default: AttributionSplit = Field(default_factory=AttributionSplit)
    per_tier: dict[str, AttributionSplit] = Field(default_factory=dict)


class RulesConfig(_Strict):
    conflict: ConflictRules = Field(default_factory=ConflictRules)
    protection: ProtectionRules = Field(default_factory=ProtectionRules)
    certification: CertificationRules = Field(default_factory=CertificationRules)
    tiers: TierRules = Field(default_factory=TierRules)
    attribution: AttributionRules = Field(default_factory=AttributionRules)


_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id_checksum(id15: str) -> str:
    """The three characters that make a 15-character Salesforce id case-safe (its 18-character form).

    Each block of five characters gives one character: bit i is set when the
    block's i-th character is an upper-case letter, and the 5-bit number
    indexes A-Z0-5. A pasted id whose case was changed, or a mistyped one,
    no longer matches its suffix.
    """
    return "".join(
        _CHECKSUM_ALPHABET[sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")]
        for start in (0, 5, 10)
    )


_SALESFORCE_ORG_ID = re.compile(r"^00D[0-9A-Za-z]{12}([0-9A-Za-z]{3})?$")


class HubSpotWebhookConfig(_Strict):
    """How HubSpot webhook requests are authenticated (signature v3)."""

    client_secret_env: str = Field(
        "HUBSPOT_CLIENT_SECRET", description="env var holding the app's client secret (the HMAC key)"
    )
    max_age_seconds: int = Field(
        300, ge=1, le=3600, description="reject requests signed longer ago (or further ahead) than this"
    )
    custom_object_types: dict[str, str] = Field(
        default_factory=dict,
        description="custom objectTypeId (2-...) -> object name in the mappings (p_deal_registrations)",
    )


class SalesforceWebhookConfig(_Strict):
    """Which orgs may send Outbound Messages: they carry no signature, so the org id is checked."""

    organization_ids: list[str] = Field(
        default_factory=list,
        description="15- or 18-character org ids (00D...) accepted; empty refuses every message",
    )

    @field_validator("organization_ids")
    @classmethod
    def _org_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SALESFORCE_ORG_ID.match(v)]
        if bad:
            msg = f"not a Salesforce organization id (00D + 12 or 15 characters): {', '.join(map(repr, bad))}"
            raise ValueError(msg)
        wrong = [v for v in value if len(v) == 18 and v[15:].upper() != salesforce_id_checksum(v[:15])]
        if wrong:
            fixes = ", ".join(f"{v!r} (should end {salesforce_id_checksum(v[:15])})" for v in wrong)
            msg = f"18-character org id with a wrong checksum, mistyped or case changed: {fixes}"
            raise ValueError(msg)
        return value


class WebhooksConfig(_Strict):
    """The webhook receiver (``prm-sync webhooks serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(8085, ge=0, le=65535)
    public_base_url: str | None = Field(
        None,
        description="scheme://host[:port] senders call (behind a proxy): HubSpot signs that URL",
    )
    max_body_bytes: int = Field(5_000_000, ge=1024, le=1_000_000_000, description="larger requests are refused with 413")
    read_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="a connection must deliver its whole request within this (slow senders are closed)"
    )
    workers: int = Field(8, ge=1, le=256, description="threads answering complete requests (the store is one writer)")
    max_connections: int = Field(256, ge=1, le=10_000, description="connections still sending; newer ones are closed")
    hubspot: HubSpotWebhookConfig = Field(default_factory=HubSpotWebhookConfig)
    salesforce: SalesforceWebhookConfig = Field(default_factory=SalesforceWebhookConfig)


class AppConfig(_Strict):
    version: Literal[1] = 1
    data_dir: Path = Path(".data")
    database_url_env: str = Field("PRM_SYNC_DATABASE_URL", description="env var that may hold a database URL")
    mappings: list[Path] = Field(default_factory=lambda: [Path("mappings")])
    systems: SystemsConfig = Field(default_factory=SystemsConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
