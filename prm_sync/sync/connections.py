"""Build the connectors a run needs from the configuration.

The only place that turns config plus environment into live clients, so the
CLI, the Dagster resources and the tests all get identical wiring. Tokens
are read from the environment variables the config names, here and only here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import SecretStr

from connectors.base import Connector
from prm_sync.config import AppConfig, resolve_secret
from prm_sync.config.settings import LmsConfig, SalesforceAuthConfig
from prm_sync.errors import ConfigError, Problem

T = TypeVar("T")
AUTH = "systems.salesforce.auth"


def _collect(problems: list[Problem], read: Callable[[], T]) -> T | None:
    """Run ``read``; a ConfigError's problems are kept so every missing secret is reported at once."""
    try:
        return read()
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _read_key_file(auth: SalesforceAuthConfig) -> SecretStr:
    assert auth.private_key_file is not None
    try:
        return SecretStr(auth.private_key_file.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the Salesforce JWT private key file {auth.private_key_file}: {exc.__class__.__name__}"
        raise ConfigError([Problem(msg, hint=f"fix {AUTH}.private_key_file")]) from None


def salesforce_credentials(auth: SalesforceAuthConfig, access_token_env: str) -> dict[str, Any]:
    """``SalesforceSettings`` keywords for the configured sign-in, secrets read from the environment now."""
    problems: list[Problem] = []
    if auth.method == "static_token":
        return {"access_token": resolve_secret(access_token_env, "Salesforce access token")}
    from connectors.salesforce_auth import PRODUCTION_LOGIN, ClientCredentials, JwtBearer

    key = _collect(problems, lambda: resolve_secret(auth.consumer_key_env, "Salesforce connected app consumer key"))
    sources = {"consumer_key": f"{AUTH}.consumer_key_env (${auth.consumer_key_env})",
               "login_url": f"{AUTH}.login_url", "audience": f"{AUTH}.audience (or login_url)",
               "username": f"{AUTH}.username", "method": f"{AUTH}.method"}
    credentials: Any = None
    if auth.method == "jwt_bearer":
        if auth.private_key_file is not None:
            private = _collect(problems, lambda: _read_key_file(auth))
            sources["private_key"] = f"{AUTH}.private_key_file ({auth.private_key_file})"
        else:
            assert auth.private_key_env is not None
            env = auth.private_key_env
            private = _collect(problems, lambda: resolve_secret(env, "Salesforce JWT private key (PEM)"))
            sources["private_key"] = f"{AUTH}.private_key_env (${env})"
        if not problems:
            credentials = JwtBearer(login_url=auth.login_url or PRODUCTION_LOGIN, audience=auth.audience,
                                    consumer_key=key, username=auth.username, private_key=private, sources=sources)
    else:
        secret = _collect(problems, lambda: resolve_secret(auth.consumer_secret_env, "Salesforce consumer secret"))
        sources["consumer_secret"] = f"{AUTH}.consumer_secret_env (${auth.consumer_secret_env})"
        if not problems:
            credentials = ClientCredentials(login_url=auth.login_url, consumer_key=key, consumer_secret=secret,
                                            sources=sources)
    if problems:
        raise ConfigError(problems)
    return {"auth": credentials}


def lms_credentials(lms: LmsConfig) -> dict[str, Any]:
    """``LmsSettings`` keywords: HTTP Basic key and secret, or a bearer token."""
    if lms.auth == "bearer":
        return {"auth": "bearer", "access_token": resolve_secret(lms.access_token_env, "LMS (xAPI LRS) token")}
    problems: list[Problem] = []
    key = _collect(problems, lambda: resolve_secret(lms.key_env, "LMS (xAPI LRS) key"))
    secret = _collect(problems, lambda: resolve_secret(lms.secret_env, "LMS (xAPI LRS) secret"))
    if problems:
        raise ConfigError(problems)
    assert key is not None
    return {"auth": "basic", "key": key.get_secret_value(), "secret": secret}


def build_connector(config: AppConfig, system: str) -> Connector:
    systems = config.systems
    if system == "salesforce" and systems.salesforce:
        from connectors.salesforce import SalesforceConnector, SalesforceSettings

        sf = systems.salesforce
        return SalesforceConnector(
            SalesforceSettings(
                instance_url=sf.instance_url,
                **salesforce_credentials(sf.auth, sf.access_token_env),
                api_version=sf.api_version,
                ca_bundle=str(sf.ca_bundle) if sf.ca_bundle else None,
                bulk_threshold=sf.bulk_threshold,
                timeout_seconds=sf.timeout_seconds,
                max_retries=sf.max_retries,
                quota_reserve_pct=sf.quota_reserve_pct,
                max_requests_per_second=sf.max_requests_per_second,
            )
        )
    if system == "hubspot" and systems.hubspot:
        from connectors.hubspot import HubSpotConnector, HubSpotSettings

        hs = systems.hubspot
        return HubSpotConnector(
            HubSpotSettings(
                base_url=hs.base_url,
                access_token=resolve_secret(hs.access_token_env, "HubSpot private app token"),
                ca_bundle=str(hs.ca_bundle) if hs.ca_bundle else None,
                timeout_seconds=hs.timeout_seconds,
                max_retries=hs.max_retries,
                requests_per_10s=hs.requests_per_10s,
                quota_reserve_pct=hs.quota_reserve_pct,
            )
        )
    if system == "lms" and systems.lms:
        from connectors.lms import LmsConnector, LmsSettings

        lms = systems.lms
        return LmsConnector(
            LmsSettings(
                base_url=lms.base_url,
                **lms_credentials(lms),
                ca_bundle=str(lms.ca_bundle) if lms.ca_bundle else None,
                timeout_seconds=lms.timeout_seconds,
                max_retries=lms.max_retries,
            )
        )
    if system == "erp" and systems.erp:
        from connectors.erp import ErpConnector, ErpSettings

        erp = systems.erp
        return ErpConnector(
            ErpSettings(
                base_url=erp.base_url,
                database=erp.database,
                login=erp.login,
                access_token=resolve_secret(erp.access_token_env, "ERP API key"),
                ca_bundle=str(erp.ca_bundle) if erp.ca_bundle else None,
                timeout_seconds=erp.timeout_seconds,
                max_retries=erp.max_retries,
            )
        )
    raise ConfigError(
        [
            Problem(
                f"system {system!r} is not configured", hint="add it under `systems:` in config/prm_sync.yaml"
            )
        ]
    )


def build_connectors(config: AppConfig, systems: list[str] | None = None) -> dict[str, Connector]:
    """Every enabled system (or the named ones), reporting all missing secrets at once."""
    wanted = systems or config.systems.enabled()
    built: dict[str, Connector] = {}
    problems: list[Problem] = []
    for name in wanted:
        try:
            built[name] = build_connector(config, name)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return built
