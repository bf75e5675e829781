"""Build the connectors a run needs from the configuration.

The only place that turns config plus environment into live clients, so the
CLI, the Dagster resources and the tests all get identical wiring. Tokens
are read from the environment variables the config names, here and only here.
"""

from __future__ import annotations

from connectors.base import Connector
from prm_sync.config import AppConfig, resolve_secret
from prm_sync.errors import ConfigError, Problem


def build_connector(config: AppConfig, system: str) -> Connector:
    systems = config.systems
    if system == "salesforce" and systems.salesforce:
        from connectors.salesforce import SalesforceConnector, SalesforceSettings

        sf = systems.salesforce
        return SalesforceConnector(
            SalesforceSettings(
                instance_url=sf.instance_url,
                access_token=resolve_secret(sf.access_token_env, "Salesforce access token"),
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
                access_token=resolve_secret(lms.access_token_env, "LMS (xAPI LRS) token"),
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
