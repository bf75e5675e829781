"""The failures view both the CLI and Dagster show: open failures, grouped by cause, linked and explained.

Builds the callables ``causes.group_failures`` takes from what prm-sync
knows: the link state gives a pushed record's remote id (for the CRM link),
the mappings name the PRM field behind a remote field (for ``failures fix``),
and, when a connector is at hand, the remote's describe API lists the values
a picklist allows when the error text does not (Salesforce).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectors.base import Connector
from prm_sync.config import AppConfig
from prm_sync.errors import PrmSyncError
from prm_sync.health.causes import FailureGroup, group_failures
from prm_sync.health.links import record_url, remote_ids
from prm_sync.mapping.apply import MappingSet
from prm_sync.store import failures as failure_store
from prm_sync.store.db import Store
from prm_sync.store.failures import FailedRecord

ConnectorFor = Callable[[str], Connector | None]


def prm_field_lookup(mappings: MappingSet | None) -> Callable[[FailedRecord, str], str | None]:
    """(failure, remote field) -> the PRM field it is written from, per the current mappings."""

    def lookup(failure: FailedRecord, remote_field: str) -> str | None:
        if mappings is None or not failure.entity:
            return None
        mapping = mappings.for_entity(failure.system, failure.entity)
        if mapping is None:
            return None
        for spec in mapping.spec.fields:
            if spec.prm and remote_field in (spec.remote, spec.remote.removesuffix("__c") + "__r"):
                return spec.prm
        return None

    return lookup


def picklist_lookup(connector_for: ConnectorFor) -> Callable[[FailedRecord, str], list[str]]:
    """(failure, field) -> the values the remote's picklist allows, from one describe call per object.

    A hint, not a requirement: when the system cannot be described (no
    token here, unreachable) the group is shown without allowed values.
    """
    cache: dict[tuple[str, str], dict[str, list[str]]] = {}

    def lookup(failure: FailedRecord, field: str) -> list[str]:
        key = (failure.system, failure.remote_object)
        if key not in cache:
            cache[key] = {}
            try:
                connector = connector_for(failure.system)
                if connector is not None:
                    cache[key] = {f.name: list(f.picklist_values) for f in connector.describe(failure.remote_object)}
            except PrmSyncError:
                pass  # the allowed values are only a hint; the group still shows the error and its fix
        return cache[key].get(field, [])

    return lookup


def open_failure_groups(
    store: Store,
    config: AppConfig,
    mappings: MappingSet | None,
    *,
    system: str | None = None,
    remote_object: str | None = None,
    error_code: str | None = None,
    since: datetime | None = None,
    connector_for: ConnectorFor | None = None,
) -> tuple[list[FailedRecord], list[FailureGroup]]:
    """The open failures (newest first) and their groups by cause (biggest first)."""
    with store.session(readonly=True) as session:
        found = failure_store.list_failures(session, status="open", system=system, remote_object=remote_object,
                                            error_code=error_code, since=since)
        ids = remote_ids(session, found)

    def url_for(failure: FailedRecord) -> str | None:
        return record_url(config, failure.system, failure.remote_object, ids.get(failure.id))

    groups = group_failures(found, url_for=url_for, prm_field_for=prm_field_lookup(mappings),
                            allowed_for=picklist_lookup(connector_for) if connector_for else None)
    return found, groups
