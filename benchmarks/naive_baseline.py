"""The integration people write by hand, as the baseline prm-sync is measured against.

One API call per record, no change detection: every run walks every PRM
record and sends it again. Salesforce through simple-salesforce's
``sf.<Object>.upsert("PRM_Id__c/<id>", data)`` (one PATCH per record);
HubSpot through the client's ``basic_api``: look the record up by its
``prm_id``, then create or update it (two calls), and link a registration to
its partner company with one association call. Payloads come from the same
mapping files prm-sync uses, so both sides write the same fields and the
comparison is about the access pattern alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hubspot import HubSpot
from hubspot.crm.objects import ApiException, SimplePublicObjectInput, SimplePublicObjectInputForCreate
from simple_salesforce import Salesforce

from prm_sync.mapping.apply import MappingSet
from prm_sync.model import CanonicalRecord

HUBSPOT_OBJECTS = {"partner": "companies", "deal_registration": "p_deal_registrations"}
SALESFORCE_OBJECTS = {"partner": "Account", "deal_registration": "Deal_Registration__c"}


@dataclass
class NaiveStats:
    records: int = 0
    calls: dict[str, int] = field(default_factory=dict)  # system -> API calls
    failed: int = 0
    seconds: float = 0.0

    def count(self, system: str, n: int = 1) -> None:
        self.calls[system] = self.calls.get(system, 0) + n


def _wire(value: Any) -> str:
    """HubSpot properties travel as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


class NaiveIntegration:
    """Push every partner and registration to Salesforce and HubSpot, one record per call."""

    def __init__(self, sf: Salesforce | None, hubspot: HubSpot | None, mappings: MappingSet) -> None:
        self.sf = sf
        self.hubspot = hubspot
        self.mappings = mappings
        self.company_ids: dict[str, str] = {}  # partner PRM id -> HubSpot company id
        if hubspot is not None:
            self._basic = hubspot.crm.objects.basic_api
            self._assoc = hubspot.crm.associations.v4.basic_api

    def run(self, records: Iterable[CanonicalRecord]) -> NaiveStats:
        stats = NaiveStats()
        started = time.perf_counter()
        for record in records:
            stats.records += 1
            if self.sf is not None:
                self._salesforce(record, stats)
            if self.hubspot is not None:
                self._hubspot(record, stats)
        stats.seconds = time.perf_counter() - started
        return stats

    def _salesforce(self, record: CanonicalRecord, stats: NaiveStats) -> None:
        mapping = self.mappings.for_entity("salesforce", record.entity)
        assert mapping is not None
        payload = mapping.to_remote(record)
        payload.pop("PRM_Id__c", None)
        sobject = getattr(self.sf, SALESFORCE_OBJECTS[record.entity])
        stats.count("salesforce")
        try:
            sobject.upsert(f"PRM_Id__c/{quote(record.id, safe='')}", payload)
        except Exception:
            stats.failed += 1

    def _hubspot(self, record: CanonicalRecord, stats: NaiveStats) -> None:
        mapping = self.mappings.for_entity("hubspot", record.entity)
        assert mapping is not None
        object_type = HUBSPOT_OBJECTS[record.entity]
        properties = {k: _wire(v) for k, v in mapping.to_remote(record).items()}
        properties.pop("prm_id", None)
        stats.count("hubspot")
        try:
            found = self._basic.get_by_id(object_type, record.id, id_property="prm_id", properties=["prm_id"])
            remote_id = found.id
        except ApiException as exc:
            if exc.status != 404:
                stats.failed += 1
                return
            remote_id = None
        stats.count("hubspot")
        try:
            if remote_id is None:
                created = self._basic.create(
                    object_type,
                    simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                        properties={**properties, "prm_id": record.id}
                    ),
                )
                remote_id = created.id
            else:
                self._basic.update(
                    object_type, remote_id, simple_public_object_input=SimplePublicObjectInput(properties=properties)
                )
        except ApiException:
            stats.failed += 1
            return
        if record.entity == "partner":
            self.company_ids[record.id] = remote_id
            return
        company = self.company_ids.get(getattr(record, "partner_id", ""))
        if company is None:
            return
        stats.count("hubspot")
        try:
            self._assoc.create_default(object_type, remote_id, "companies", company)
        except ApiException:
            stats.failed += 1
