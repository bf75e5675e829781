"""HubSpot reads: incremental keyset search on ``hs_lastmodifieddate``, full lists and archived records.

Why a module of its own: reading changes without skipping or repeating a
record is the subtle part of the connector. Incremental reads page by keyset
on ``hs_lastmodifieddate`` (GTE the last stamp seen, holding back the last,
possibly incomplete, group of equal stamps) instead of offsets, so records
modified during a read cannot shift a page and be skipped; a group of equal
stamps larger than a page is read by ``hs_object_id``. Windows whose
``total`` exceeds ``search_window_cap`` are halved, keeping every query well
under HubSpot's 10,000-result ceiling. ``HubSpotReads`` is mixed into
``connectors.hubspot.HubSpotConnector`` and uses its transport (``_call``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from hubspot.crm.objects import PublicObjectSearchRequest

from connectors.base import Cursor, RemoteRecord
from connectors.hubspot_associations import ASSOCIATION_PREFIX
from connectors.hubspot_where import parse_where
from connectors.hubspot_wire import SearchPage, from_ms, id_key, read_answer, search_answer, to_ms
from prm_sync.errors import FatalError

if TYPE_CHECKING:
    from connectors.hubspot import HubSpotSettings

T = TypeVar("T")
SEARCH_LIMIT = 200
LIST_LIMIT = 100
MODSTAMP = "hs_lastmodifieddate"


class HubSpotReads:
    """The read side of ``HubSpotConnector``: ``read_changes``, ``read_deleted``, ``read_all``."""

    # provided by ``HubSpotConnector``, which this class is mixed into
    settings: HubSpotSettings
    _search_api: Any
    _basic_api: Any

    if TYPE_CHECKING:

        def object_type(self, object_name: str) -> str: ...

        def _call(self, what: str, fn: Callable[..., T], *args: Any, on_4xx: str = "fatal", **kwargs: Any) -> T: ...

        def _with_associations(
            self, object_type: str, fields: list[str], rows: list[RemoteRecord]
        ) -> list[RemoteRecord]: ...

    @staticmethod
    def _props(fields: Iterable[str]) -> list[str]:
        properties = [f for f in fields if not f.startswith(ASSOCIATION_PREFIX)]
        return list(dict.fromkeys([*properties, MODSTAMP, "hs_merged_object_ids"]))

    def _search(self, object_type: str, props: list[str], filters: list[dict[str, Any]], sort: str) -> SearchPage:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": filters}],
            sorts=[{"propertyName": sort, "direction": "ASCENDING"}],  # type: ignore[list-item]
            properties=props,
            limit=SEARCH_LIMIT,
        )

        def send() -> SearchPage:
            # the raw answer, parsed here: the client's models run dateutil over three timestamps
            # per record, which was half the time of reading back a large sync
            raw = self._search_api.do_search(object_type, public_object_search_request=request, _preload_content=False)
            return read_answer(raw, search_answer)

        return self._call("search", send)

    @staticmethod
    def _range(lo: int, hi: int | None) -> list[dict[str, Any]]:
        filters = [{"propertyName": MODSTAMP, "operator": "GTE", "value": str(lo)}]
        if hi is not None:
            filters.append({"propertyName": MODSTAMP, "operator": "LTE", "value": str(hi)})
        return filters

    def _record(self, obj: Any, fields: list[str], *, deleted: bool = False) -> RemoteRecord:
        props = dict(obj.properties or {})
        if deleted and obj.archived_at is not None:
            stamp = obj.archived_at
        elif props.get(MODSTAMP):
            stamp = datetime.fromisoformat(str(props[MODSTAMP]).replace("Z", "+00:00"))
        else:
            stamp = obj.updated_at
        merged = [m for m in (props.get("hs_merged_object_ids") or "").split(";") if m]
        return RemoteRecord(
            id=str(obj.id),
            fields={f: props.get(f) for f in fields},
            modstamp=from_ms(to_ms(stamp)),
            deleted=deleted,
            merged_ids=merged,
        )

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
        """Records changed in ``(since, until]`` ascending by (modstamp, numeric id).

        ``where`` uses the small syntax of ``parse_where``
        (``is_partner = true and partner_tier in (gold, platinum)``) and is checked
        before any request; it filters live records only, deletes are reported
        whatever they matched. A cursor without ``last_id`` includes records
        stamped exactly at ``since``.
        """
        extra = parse_where(where, max_filters=3)
        return self._changes(self.object_type(object_name), fields, since, extra, until, include_deleted)

    def _changes(
        self,
        object_type: str,
        fields: list[str],
        since: Cursor,
        extra: list[dict[str, Any]],
        until: datetime | None,
        include_deleted: bool,
    ) -> Iterator[RemoteRecord]:
        props = self._props(fields)
        lo = to_ms(since.modstamp) if since.modstamp else 0
        hi = to_ms(until) if until else None

        def after_cursor(record: RemoteRecord) -> bool:
            ms = to_ms(record.modstamp)
            if since.modstamp is None or ms > lo:
                return hi is None or ms <= hi
            if ms < lo or since.last_id is None:
                return ms == lo
            return id_key(record.id) > id_key(since.last_id)

        live = (r for r in self._scan(object_type, props, fields, extra, lo, hi) if after_cursor(r))
        if not include_deleted:
            yield from live
            return
        deleted = sorted((r for r in self._archived(object_type, props, fields) if after_cursor(r)), key=_order)
        yield from heapq.merge(live, deleted, key=_order)

    def _scan(
        self, object_type: str, props: list[str], fields: list[str], extra: list[dict[str, Any]], lo: int, hi: int | None
    ) -> Iterator[RemoteRecord]:
        first = self._search(object_type, props, self._range(lo, hi) + extra, MODSTAMP)
        if first.total > self.settings.search_window_cap and first.results:
            # split between the stamps actually present, not from the epoch
            lo = max(lo, to_ms(self._record(first.results[0], []).modstamp))
            if hi is None:
                hi = self._max_stamp(object_type, extra, lo)
            if lo < hi:
                mid = (lo + hi) // 2
                yield from self._scan(object_type, props, fields, extra, lo, mid)
                yield from self._scan(object_type, props, fields, extra, mid + 1, hi)
                return
        yield from self._keyset(object_type, props, fields, extra, lo, hi, first)

    def _max_stamp(self, object_type: str, extra: list[dict[str, Any]], lo: int) -> int:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": self._range(lo, None) + extra}],
            sorts=[{"propertyName": MODSTAMP, "direction": "DESCENDING"}],  # type: ignore[list-item]
            properties=[MODSTAMP],
            limit=1,
        )
        result = self._call("search", self._search_api.do_search, object_type, public_object_search_request=request)
        return max(lo, max((to_ms(self._record(o, []).modstamp) for o in result.results), default=lo))

    def _keyset(
        self,
        object_type: str,
        props: list[str],
        fields: list[str],
        extra: list[dict[str, Any]],
        lo: int,
        hi: int | None,
        result: Any,
    ) -> Iterator[RemoteRecord]:
        cursor = lo
        while True:
            rows = [self._record(o, fields) for o in result.results]
            more = result.has_next
            if not more:
                yield from self._with_associations(object_type, fields, sorted(rows, key=_order))
                return
            last = to_ms(rows[-1].modstamp)
            if to_ms(rows[0].modstamp) == last:  # one stamp fills the page: read that stamp by id
                yield from self._by_id(object_type, props, fields, [*extra, _eq_stamp(last)])
                cursor = last + 1
            else:  # hold back the last stamp's group: it may continue on the next page
                kept = sorted((r for r in rows if to_ms(r.modstamp) < last), key=_order)
                yield from self._with_associations(object_type, fields, kept)  # only for the records yielded
                cursor = last
            if hi is not None and cursor > hi:
                return
            result = self._search(object_type, props, self._range(cursor, hi) + extra, MODSTAMP)

    def _by_id(
        self, object_type: str, props: list[str], fields: list[str], filters: list[dict[str, Any]]
    ) -> Iterator[RemoteRecord]:
        last_id = "0"
        while True:
            id_filter = {"propertyName": "hs_object_id", "operator": "GT", "value": last_id}
            result = self._search(object_type, props, [*filters, id_filter], "hs_object_id")
            rows = self._with_associations(object_type, fields, [self._record(o, fields) for o in result.results])
            yield from rows
            if not rows or not result.has_next:
                return
            last_id = rows[-1].id

    def read_deleted(self, object_name: str, fields: list[str], since: Cursor) -> Iterator[RemoteRecord]:
        """Records archived (deleted or merged away) after ``since``, ascending by archive time."""
        object_type = self.object_type(object_name)
        props = self._props(fields)
        floor = since.modstamp
        archived = (r for r in self._archived(object_type, props, fields) if floor is None or r.modstamp > floor)
        yield from sorted(archived, key=_order)

    def _archived(self, object_type: str, props: list[str], fields: list[str]) -> Iterator[RemoteRecord]:
        for obj in self._list(object_type, props, archived=True):
            yield self._record(obj, fields, deleted=True)

    def _list(self, object_type: str, props: list[str], *, archived: bool) -> Iterator[Any]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            result = self._call(
                "list", self._basic_api.get_page, object_type, limit=LIST_LIMIT, after=after, properties=props, archived=archived
            )
            yield from result.results
            after = result.paging.next.after if result.paging and result.paging.next else None
            if after is None:
                return
            if after in seen:
                msg = f"hubspot: list {object_type} returned the same page cursor twice ({after})"
                raise FatalError(msg)
            seen.add(after)

    def read_all(self, object_name: str, fields: list[str], *, where: str | None = None) -> Iterator[RemoteRecord]:
        """Every live record: the list endpoint, or a search by id when ``where`` filters."""
        object_type = self.object_type(object_name)
        props = self._props(fields)
        if where:
            return self._by_id(object_type, props, fields, parse_where(where, max_filters=5))
        return self._read_list(object_type, props, fields)

    def _read_list(self, object_type: str, props: list[str], fields: list[str]) -> Iterator[RemoteRecord]:
        page: list[RemoteRecord] = []
        for obj in self._list(object_type, props, archived=False):
            page.append(self._record(obj, fields))
            if len(page) == LIST_LIMIT:
                yield from self._with_associations(object_type, fields, page)
                page = []
        yield from self._with_associations(object_type, fields, page)


def _order(record: RemoteRecord) -> tuple[int, tuple[int, str]]:
    return (to_ms(record.modstamp), id_key(record.id))


def _eq_stamp(ms: int) -> dict[str, Any]:
    return {"propertyName": MODSTAMP, "operator": "EQ", "value": str(ms)}

