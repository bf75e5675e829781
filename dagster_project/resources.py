"""Dagster resources: thin, typed wrappers around the prm-sync connectors, store, config and mappings.

Every field has its default from ``config/prm_sync.yaml`` (or the sandbox
state file), set by ``resources_from_config``; tokens are ``EnvVar``s named
by the config's ``access_token_env``, so Dagster resolves them only when a
run starts and hides them in the UI. Pointing Dagster at the sandboxes is
configuration (``PRM_SYNC_SANDBOX_STATE``), never code.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field, SecretStr
from sqlalchemy.engine import make_url

from connectors.base import Connector
from prm_sync.config import AppConfig, load_config
from prm_sync.errors import ConfigError, Problem
from prm_sync.mapping.apply import MappingSet, load_mappings
from prm_sync.mapping.validate import expand_paths
from prm_sync.store.db import Store, resolve_database_url


class SalesforceResource(ConfigurableResource):
    """One Salesforce org (REST, sObject Collections, Bulk 2.0).

    ``auth`` is the config's ``systems.salesforce.auth`` as written (names of
    environment variables and files, no secrets); the OAuth methods read
    their secrets when a run builds the connector. A static token comes
    through ``access_token`` (an ``EnvVar``).
    """

    instance_url: str | None = None
    access_token: str | None = Field(None, description="static_token: set from an EnvVar; never stored in the run config")
    auth: dict[str, str] = Field(default_factory=dict, description="systems.salesforce.auth (no secrets)")
    api_version: str = "59.0"
    ca_bundle: str | None = None
    bulk_threshold: int = 2000
    quota_reserve_pct: float = 10.0
    max_requests_per_second: float | None = None
    timeout_seconds: float = 30.0
    max_retries: int = 5

    def connector(self) -> Connector:
        from connectors.salesforce import SalesforceConnector, SalesforceSettings
        from prm_sync.config.settings import SalesforceAuthConfig
        from prm_sync.sync.connections import salesforce_credentials

        auth = SalesforceAuthConfig.model_validate(self.auth)
        credentials = (
            {"access_token": SecretStr(self.access_token or "")} if auth.method == "static_token"
            else salesforce_credentials(auth, "")
        )
        return SalesforceConnector(
            SalesforceSettings(
                instance_url=self.instance_url,
                **credentials,
                api_version=self.api_version,
                ca_bundle=self.ca_bundle,
                bulk_threshold=self.bulk_threshold,
                quota_reserve_pct=self.quota_reserve_pct,
                max_requests_per_second=self.max_requests_per_second,
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
            )
        )


class HubSpotResource(ConfigurableResource):
    """One HubSpot portal through a private app token."""

    base_url: str = "https://api.hubapi.com"
    access_token: str = Field(description="set from an EnvVar; never stored in the run config")
    ca_bundle: str | None = None
    requests_per_10s: int = 100
    quota_reserve_pct: float = 10.0
    timeout_seconds: float = 30.0
    max_retries: int = 5

    def connector(self) -> Connector:
        from connectors.hubspot import HubSpotConnector, HubSpotSettings

        return HubSpotConnector(
            HubSpotSettings(
                base_url=self.base_url,
                access_token=SecretStr(self.access_token),
                ca_bundle=self.ca_bundle,
                requests_per_10s=self.requests_per_10s,
                quota_reserve_pct=self.quota_reserve_pct,
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
            )
        )


class LmsResource(ConfigurableResource):
    """The LMS's xAPI learning record store: HTTP Basic (key and secret) or a bearer token, from EnvVars."""

    base_url: str
    auth: str = "basic"
    key: str | None = Field(None, description="basic: set from an EnvVar")
    secret: str | None = Field(None, description="basic: set from an EnvVar; never stored in the run config")
    access_token: str | None = Field(None, description="bearer: set from an EnvVar; never stored in the run config")
    ca_bundle: str | None = None
    timeout_seconds: float = 30.0
    max_retries: int = 5

    def connector(self) -> Connector:
        from connectors.lms import LmsConnector, LmsSettings

        return LmsConnector(
            LmsSettings(
                base_url=self.base_url,
                auth=self.auth,
                key=self.key,
                secret=SecretStr(self.secret) if self.secret is not None else None,
                access_token=SecretStr(self.access_token) if self.access_token is not None else None,
                ca_bundle=self.ca_bundle,
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
            )
        )


class ErpResource(ConfigurableResource):
    """The ERP (Odoo JSON-RPC) with the integration user's API key."""

    base_url: str
    database: str = "prm"
    login: str = "prm-sync"
    access_token: str = Field(description="the API key; set from an EnvVar")
    ca_bundle: str | None = None
    timeout_seconds: float = 30.0
    max_retries: int = 5

    def connector(self) -> Connector:
        from connectors.erp import ErpConnector, ErpSettings

        return ErpConnector(
            ErpSettings(
                base_url=self.base_url,
                database=self.database,
                login=self.login,
                access_token=SecretStr(self.access_token),
                ca_bundle=self.ca_bundle,
                timeout_seconds=self.timeout_seconds,
                max_retries=self.max_retries,
            )
        )


SystemResource = SalesforceResource | HubSpotResource | LmsResource | ErpResource


class PrmConfigResource(ConfigurableResource):
    """Which ``prm_sync.yaml`` (and sandbox state file) a run uses: sync and rule parameters."""

    config_path: str
    sandbox_state: str | None = None

    def load(self) -> AppConfig:
        state = Path(self.sandbox_state) if self.sandbox_state else None
        return load_config(Path(self.config_path), sandbox_state=state)


class PrmStoreResource(ConfigurableResource):
    """The PRM store: the database URL comes from an env var at run time, else SQLite in ``data_dir``."""

    data_dir: str
    database_url_env: str = "PRM_SYNC_DATABASE_URL"

    def _url(self) -> str | None:
        return os.environ.get(self.database_url_env, "").strip() or None

    def open(self, *, auto_upgrade: bool | None = None) -> Store:
        """Open the store; the caller closes it.

        As the CLI does (``prm_sync.runtime.open_store``): the embedded SQLite
        file is migrated when empty or behind, a PostgreSQL database is left
        to ``prm-sync db upgrade``.
        """
        url = self._url() or resolve_database_url(Path(self.data_dir))
        if auto_upgrade is None:
            auto_upgrade = make_url(url).get_backend_name() == "sqlite"
        return Store.open(url, auto_upgrade=auto_upgrade)

    def exists(self) -> bool:
        """False when the embedded SQLite file was never created: sensors then wait instead of creating it."""
        if self._url() is not None:
            return True
        database = make_url(resolve_database_url(Path(self.data_dir))).database
        return database is not None and Path(database).exists()


_MAPPING_CACHE: dict[tuple[object, ...], MappingSet | list[Problem]] = {}


class MappingsResource(ConfigurableResource):
    """The mapping files (or folders of them) the engine compiles.

    Compiled once per process and content: every step of a run needs them, and
    a changed, added or removed file (new size or mtime) is compiled again.
    """

    paths: list[str]

    def _fingerprint(self) -> tuple[object, ...]:
        files = expand_paths([Path(p) for p in self.paths])
        return tuple((str(f), *((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else (None, None)))
                     for f in files)

    def _compiled(self) -> MappingSet | list[Problem]:
        key = self._fingerprint()
        if key not in _MAPPING_CACHE:
            try:
                _MAPPING_CACHE[key] = load_mappings([Path(p) for p in self.paths])
            except ConfigError as exc:
                _MAPPING_CACHE[key] = list(exc.problems)
        return _MAPPING_CACHE[key]

    def problems(self) -> list[Problem]:
        """Every problem in the files, without raising: what the ``mappings_valid`` check shows."""
        compiled = self._compiled()
        return compiled if isinstance(compiled, list) else []

    def load(self) -> MappingSet:
        """The compiled mappings; raises ``ConfigError`` naming every problem."""
        compiled = self._compiled()
        if isinstance(compiled, list):
            raise ConfigError(compiled)
        return compiled


class HealthThresholds(ConfigurableResource):
    """Limits the asset checks apply; override per run in the launchpad (``resources.health.config``)."""

    failed_record_max_age_hours: float = Field(24.0, ge=0, description="open failed records older than this fail")
    review_max_age_days: float = Field(7.0, ge=0, description="open manual-review items older than this fail")
    count_tolerance_pct: float = Field(1.0, ge=0, description="allowed PRM vs CRM partner count gap, percent")


def _ca(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def system_resources(config: AppConfig) -> dict[str, SystemResource]:
    """One resource per enabled system, defaults from the (sandbox-adjusted) config."""
    systems = config.systems
    enabled = systems.enabled()
    out: dict[str, SystemResource] = {}
    if "salesforce" in enabled and (sf := systems.salesforce) is not None:
        static = sf.auth.method == "static_token"
        out["salesforce"] = SalesforceResource(
            instance_url=sf.instance_url, access_token=EnvVar(sf.access_token_env) if static else None,
            auth=sf.auth.model_dump(mode="json", exclude_unset=True, exclude_none=True), api_version=sf.api_version,
            ca_bundle=_ca(sf.ca_bundle), bulk_threshold=sf.bulk_threshold, quota_reserve_pct=sf.quota_reserve_pct,
            max_requests_per_second=sf.max_requests_per_second, timeout_seconds=sf.timeout_seconds,
            max_retries=sf.max_retries,
        )
    if "hubspot" in enabled and (hs := systems.hubspot) is not None:
        out["hubspot"] = HubSpotResource(
            base_url=hs.base_url, access_token=EnvVar(hs.access_token_env), ca_bundle=_ca(hs.ca_bundle),
            requests_per_10s=hs.requests_per_10s, quota_reserve_pct=hs.quota_reserve_pct,
            timeout_seconds=hs.timeout_seconds, max_retries=hs.max_retries,
        )
    if "lms" in enabled and (lms := systems.lms) is not None:
        basic = lms.auth == "basic"
        out["lms"] = LmsResource(
            base_url=lms.base_url, auth=lms.auth, key=EnvVar(lms.key_env) if basic else None,
            secret=EnvVar(lms.secret_env) if basic else None,
            access_token=None if basic else EnvVar(lms.access_token_env), ca_bundle=_ca(lms.ca_bundle),
            timeout_seconds=lms.timeout_seconds, max_retries=lms.max_retries,
        )
    if "erp" in enabled and (erp := systems.erp) is not None:
        out["erp"] = ErpResource(
            base_url=erp.base_url, database=erp.database, login=erp.login, access_token=EnvVar(erp.access_token_env),
            ca_bundle=_ca(erp.ca_bundle), timeout_seconds=erp.timeout_seconds, max_retries=erp.max_retries,
        )
    return out


def resources_from_config(
    config: AppConfig, *, config_path: Path, sandbox_state: Path | None
) -> dict[str, ConfigurableResource]:
    """Every resource the definitions need; no secret is read and nothing is contacted here."""
    resources: dict[str, ConfigurableResource] = {
        "prm_config": PrmConfigResource(
            config_path=str(config_path.resolve()),
            sandbox_state=str(sandbox_state.resolve()) if sandbox_state else None,
        ),
        "prm_store": PrmStoreResource(data_dir=str(config.data_dir), database_url_env=config.database_url_env),
        "mappings": MappingsResource(paths=[str(p) for p in config.mappings]),
        "health": HealthThresholds(),
    }
    resources.update(system_resources(config))
    return resources
