"""HubSpot v4 associations: read as ``associations.<object>`` fields, written as labelled links.

Why a module of its own: HubSpot keeps the links between records (a deal's
company, a registration's partner) outside the records, behind their own batch
API with its own labels, limits and answers. The connector reads them to fill
pseudo fields a mapping may use like properties, and writes and removes them
after the records they join exist. ``HubSpotAssociations`` is mixed into
``connectors.hubspot.HubSpotConnector`` and uses its transport (``_call``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from connectors.base import Association, RemoteRecord, WriteResult, page
from connectors.hubspot_errors import error_info_raw, failed_result
from connectors.hubspot_wire import batch_errors, id_key, read_answer
from prm_sync.errors import ConfigError, Problem, RecordError, RemoteErrorInfo

T = TypeVar("T")
ASSOCIATION_PREFIX = "associations."  # a read-only field: ``associations.companies`` = the associated company's id
# (``associations.companies@Registering partner``: only associations with that label)
ASSOCIATION_READ_LIMIT = 1000  # inputs per v4 batch read
PRIMARY_TYPE_IDS = {5}  # deal -> company "Primary" (HUBSPOT_DEFINED)


class HubSpotAssociations:
    """Association reads and writes of ``HubSpotConnector`` (v4 batch APIs and the labels API)."""

    # provided by ``HubSpotConnector``, which this class is mixed into
    batch_size: ClassVar[int]
    _assoc_batch_api: Any
    _definitions_api: Any
    _labels: dict[tuple[str, str], list[Any]]

    if TYPE_CHECKING:

        def object_type(self, object_name: str) -> str: ...

        def _call(self, what: str, fn: Callable[..., T], *args: Any, on_4xx: str = "fatal", **kwargs: Any) -> T: ...

    def _with_associations(self, object_type: str, fields: list[str], rows: list[RemoteRecord]) -> list[RemoteRecord]:
        """Fill ``associations.<object>`` fields of a page: one v4 batch read per page and object.

        Search answers carry no associations, yet a deal's company is what
        tells the conflict check whose pipeline it is, so a mapping may read it
        like a property. Deleted records keep ``None``.
        """
        wanted = [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]
        if not wanted or not rows:
            return rows
        live = [r.id for r in rows if not r.deleted]
        for field in wanted:
            to_object, _, label = field.removeprefix(ASSOCIATION_PREFIX).partition("@")
            found = self.associated_ids(object_type, to_object, live, label=label or None) if live else {}
            for row in rows:
                row.fields[field] = found.get(row.id)
        return rows

    @staticmethod
    def on_demand_fields(fields: Iterable[str]) -> list[str]:
        """Fields that cost a call of their own: an incremental pull reads them only for records that changed."""
        return [f for f in fields if f.startswith(ASSOCIATION_PREFIX)]

    def fill_on_demand(self, object_name: str, fields: list[str], records: list[RemoteRecord]) -> None:
        """Read ``fields`` (``on_demand_fields``) for these records: one batch read per page and object."""
        self._with_associations(self.object_type(object_name), fields, records)

    def associated_ids(self, from_object: str, to_object: str, ids: list[str], *, label: str | None = None) -> dict[str, str]:
        """Record id -> the id of its associated ``to_object`` record (the primary one, else the lowest id).

        ``label``: only associations carrying that label count (``associations.companies@Registering partner``
        reads a registration's partner, not its end customer).
        """
        from_type, to_type = self.object_type(from_object), self.object_type(to_object)
        out: dict[str, str] = {}
        for start in range(0, len(ids), ASSOCIATION_READ_LIMIT):
            inputs = [{"id": i} for i in ids[start : start + ASSOCIATION_READ_LIMIT]]

            def send(inputs: list[dict[str, str]] = inputs) -> dict[str, str]:
                raw = self._assoc_batch_api.get_page(from_type, to_type, {"inputs": inputs}, _preload_content=False)
                return read_answer(raw, lambda data: _associated_answer(data, label))

            out.update(self._call("read associations", send))
        return out

    def association_spec(self, from_object: str, to_object: str, label: str | None) -> dict[str, Any]:
        """The association type for a label (None = the unlabelled default), from the labels API."""
        pair = (self.object_type(from_object), self.object_type(to_object))
        if pair not in self._labels:
            result = self._call("association labels", self._definitions_api.get_all, *pair)
            self._labels[pair] = list(result.results)
        wanted = (label or "").strip().lower()
        for spec in self._labels[pair]:
            if (spec.label or "").strip().lower() == wanted:
                return {"associationCategory": spec.category, "associationTypeId": spec.type_id}
        known = ", ".join(repr(s.label) for s in self._labels[pair])
        problem = Problem(
            f"no HubSpot association label {label!r} between {from_object} and {to_object}", hint=f"known: {known}"
        )
        raise ConfigError([problem])

    def associate(self, associations: list[Association]) -> list[WriteResult]:
        """v4 batch create, 100 links per call; result keys are ``from_id->to_id``."""
        outcome: dict[int, WriteResult] = {}
        groups: dict[tuple[str, str], list[tuple[int, Association]]] = {}
        for index, a in enumerate(associations):
            groups.setdefault((a.from_object, a.to_object), []).append((index, a))
        for (from_object, to_object), items in groups.items():
            for chunk in page(items, self.batch_size):
                outcome.update(self._associate_chunk(from_object, to_object, chunk))
        return [outcome[i] for i in range(len(associations))]

    def disassociate(self, associations: list[Association]) -> list[WriteResult]:
        """v4 batch archive, 100 pairs per call: every link between each pair goes; keys ``unlink from_id->to_id``.

        HubSpot answers 204 without per-pair results, so a refused call fails
        all of its pairs; removing a link that is already gone is not an error.
        """
        outcome: dict[int, WriteResult] = {}
        groups: dict[tuple[str, str], list[tuple[int, Association]]] = {}
        for index, a in enumerate(associations):
            groups.setdefault((a.from_object, a.to_object), []).append((index, a))
        for (from_object, to_object), items in groups.items():
            from_type, to_type = self.object_type(from_object), self.object_type(to_object)
            for chunk in page(items, self.batch_size):
                keys = {i: f"unlink {a.from_id}->{a.to_id}" for i, a in chunk}
                inputs = [{"from": {"id": a.from_id}, "to": [{"id": a.to_id}]} for _, a in chunk]
                try:
                    self._call("disassociate", self._assoc_batch_api.archive, from_type, to_type, {"inputs": inputs},
                               on_4xx="record")
                except RecordError as exc:
                    outcome.update({i: failed_result(keys[i], exc.info) for i, _ in chunk})
                    continue
                outcome.update({i: WriteResult(key=keys[i], ok=True, remote_id=a.to_id) for i, a in chunk})
        return [outcome[i] for i in range(len(associations))]

    def _associate_chunk(self, from_object: str, to_object: str, chunk: list[tuple[int, Association]]) -> dict[int, WriteResult]:
        inputs = [
            {"from": {"id": a.from_id}, "to": {"id": a.to_id}, "types": [self.association_spec(from_object, to_object, a.label)]}
            for _, a in chunk
        ]
        keys = {i: f"{a.from_id}->{a.to_id}" for i, a in chunk}
        from_type, to_type = self.object_type(from_object), self.object_type(to_object)

        def send() -> list[dict[str, Any]]:
            # the raw answer, parsed here: the client's models would build one object (and run
            # dateutil) per created link, which nothing here reads; only the errors matter
            raw = self._assoc_batch_api.create(from_type, to_type, {"inputs": inputs}, _preload_content=False)
            return read_answer(raw, _associate_errors)

        try:
            errors = self._call("associate", send, on_4xx="record")
        except RecordError as exc:
            return {i: failed_result(keys[i], exc.info) for i, _ in chunk}
        failed: dict[tuple[str, str], RemoteErrorInfo] = {}
        for err in errors:
            ids = [str(i) for i in (err.get("context") or {}).get("ids") or []]
            if len(ids) >= 2:
                failed[(ids[0], ids[1])] = error_info_raw(err)
        out: dict[int, WriteResult] = {}
        for i, a in chunk:
            info = failed.get((a.from_id, a.to_id))
            out[i] = failed_result(keys[i], info) if info else WriteResult(key=keys[i], ok=True, remote_id=a.to_id)
        return out



def _associate_errors(data: bytes) -> list[dict[str, Any]]:
    """The errors of a v4 batch association answer (200 or 207), checked as the client's models would.

    Raises ValueError for an answer without its ``results`` list or with a
    malformed error; the caller turns it into a FatalError.
    """
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    return batch_errors(answer)


def _associated_answer(data: bytes, label: str | None = None) -> dict[str, str]:
    """A v4 batch read answer (200, or 207 listing records without any) -> from id -> chosen target id."""
    answer = json.loads(data) if data else None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        msg = "Invalid value for `results`, must not be None"
        raise ValueError(msg)
    out: dict[str, str] = {}
    for result in answer["results"]:
        source = (result.get("from") or {}).get("id") if isinstance(result, dict) else None
        targets = [t for t in result.get("to") or [] if isinstance(t, dict) and t.get("toObjectId") is not None]
        if label is not None:
            targets = [t for t in targets if any(str(a.get("label") or "").casefold() == label.casefold()
                                                 for a in t.get("associationTypes") or [] if isinstance(a, dict))]
        if source is None or not targets:
            continue
        primary = [t for t in targets if any(
            (a.get("typeId") in PRIMARY_TYPE_IDS or str(a.get("label") or "").lower() == "primary")
            for a in t.get("associationTypes") or [] if isinstance(a, dict))]
        chosen = min(primary or targets, key=lambda t: id_key(str(t["toObjectId"])))
        out[str(source)] = str(chosen["toObjectId"])
    return out

