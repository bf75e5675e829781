"""The one protocol every connector implements, and the shapes it speaks in.

The engine never sees a vendor's wire format: it asks a connector to read
changes since a cursor, to describe an object's fields, and to upsert or
delete a batch, and gets ``RemoteRecord``s and per-record ``WriteResult``s
back. Limits (batch size, rate) are class attributes so the engine can plan
batches without knowing who is on the other end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class FieldInfo(BaseModel):
    """A remote field as the system's describe / properties API reports it."""

    name: str
    type: str  # the system's own type name: string, picklist, reference, datetime, number, enumeration...
    label: str | None = None
    length: int | None = None
    nillable: bool = True
    required_on_create: bool = False
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist_values: list[str] = Field(default_factory=list)
    precision: int | None = None  # numbers: every digit the field holds (Salesforce describe)
    scale: int | None = None  # numbers: the digits of those after the decimal point


class Cursor(BaseModel):
    """Where an incremental read stopped: a modstamp plus the last id at that stamp.

    Closed ranges make reads repeatable: a read covers ``(since, until]`` and the
    engine moves ``since`` only after the results are committed.
    """

    model_config = ConfigDict(frozen=True)

    modstamp: datetime | None = None
    last_id: str | None = None


class RemoteRecord(BaseModel):
    """One record as read from a system, already flattened to field -> value."""

    id: str
    fields: dict[str, Any]
    modstamp: datetime
    deleted: bool = False
    merged_into: str | None = None  # the surviving record's id after a merge
    merged_ids: list[str] = Field(default_factory=list)  # ids merged into this record


class UpsertRequest(BaseModel):
    """Write these fields to the record whose external key field equals ``key``."""

    key: str  # value of the mapping's match key (our PRM id for CRMs)
    fields: dict[str, Any]


class WriteResult(BaseModel):
    key: str
    ok: bool
    remote_id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_fields: list[str] = Field(default_factory=list)
    retryable: bool = False


class Quota(BaseModel):
    """The request budget the remote reported most recently."""

    used: int | None = None
    limit: int | None = None
    window: Literal["daily", "10s", "none"] = "daily"

    @property
    def remaining(self) -> int | None:
        if self.used is None or self.limit is None:
            return None
        return max(self.limit - self.used, 0)


class Association(BaseModel):
    """Link one remote record to another (HubSpot associations, Salesforce lookups)."""

    from_object: str
    from_id: str
    to_object: str
    to_id: str
    label: str | None = None


@runtime_checkable
class Connector(Protocol):
    system: ClassVar[str]
    batch_size: ClassVar[int]  # records per write call
    api_calls: int  # HTTP requests made since construction (for run metadata and benchmarks)

    def describe(self, object_name: str) -> list[FieldInfo]: ...

    def read_changes(
        self,
        object_name: str,
        fields: list[str],
        since: Cursor,
        *,
        where: str | None = None,
        until: datetime | None = None,
        include_deleted: bool = True,
    ) -> Iterator[RemoteRecord]:
        """Records changed in ``(since, until]``, ascending by (modstamp, id)."""
        ...

    def read_all(self, object_name: str, fields: list[str], *, where: str | None = None) -> Iterator[RemoteRecord]:
        """A full snapshot of the object, used by reconcile."""
        ...

    def upsert(self, object_name: str, key_field: str, records: list[UpsertRequest]) -> list[WriteResult]:
        """Idempotent upsert by external key; one result per request, same order."""
        ...

    def delete(self, object_name: str, remote_ids: list[str], *, permanent: bool = False) -> list[WriteResult]:
        """Remove records by remote id: recoverably (Recycle Bin, archive) or ``permanent`` where the API can."""
        ...

    # Optional: a connector whose change feed cannot include deletes cheaply sets
    # ``deletes_need_extra_call = True`` and implements
    # ``read_deleted(object_name, fields, since: Cursor) -> Iterator[RemoteRecord]``;
    # the engine then sweeps for deletes on an interval with a cursor of its own.
    # Optional: ``merged_into(object_name, remote_ids) -> dict[str, str]`` says which of these
    # ids a merge removed and into which survivor, for a connector whose live read cannot
    # show it (Salesforce: the loser's MasterRecordId); reconcile calls it for linked ids
    # it did not find. HubSpot needs none: a survivor lists its originals (merged_ids).

    def quota(self) -> Quota: ...


def page(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
