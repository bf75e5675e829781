"""HubSpotConnector against the HubSpot sandbox: reads, writes, retries, quota."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sandbox_fixtures.hubspot import RunningHubSpot

from connectors.base import Association, Connector, Cursor, UpsertRequest
from connectors.hubspot import HubSpotConnector, RequestLimiter, parse_where
from prm_sync.errors import AuthError, ConfigError, QuotaExhausted, TransientError

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


class Sleeps(list[float]):
    """A fake ``sleep`` that records pauses so retry tests take no wall time."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _ticking(start: datetime, step_ms: int = 1) -> Callable[[], datetime]:
    ticks: Iterator[int] = iter(range(10**9))
    return lambda: start + timedelta(milliseconds=step_ms * next(ticks))


def _connector(sandbox: RunningHubSpot, **overrides: object) -> tuple[HubSpotConnector, Sleeps]:
    sleeps = Sleeps()
    return HubSpotConnector(sandbox.settings(**overrides), sleep=sleeps), sleeps


def test_connector_satisfies_the_protocol(hubspot_sandbox: RunningHubSpot) -> None:
    connector, _ = _connector(hubspot_sandbox)
    assert isinstance(connector, Connector)
    assert connector.system == "hubspot" and connector.batch_size == 100


def test_incremental_read_orders_ties_by_id_and_resumes_after_the_cursor(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.clock = lambda: T0
    tied = app.insert_records("companies", [{"name": n} for n in ("a", "b", "c")])
    app.clock = lambda: T0 + timedelta(seconds=5)
    later = app.insert_records("companies", [{"name": "d"}])
    connector, _ = _connector(hubspot_sandbox)

    everything = list(connector.read_changes("companies", ["name"], Cursor(), include_deleted=False))
    assert [r.id for r in everything] == [*tied, *later]
    assert everything[0].modstamp == T0 and everything[0].fields == {"name": "a"}

    resumed = list(connector.read_changes("companies", ["name"], Cursor(modstamp=T0, last_id=tied[1])))
    assert [r.id for r in resumed] == [tied[2], *later]
    bounded = list(connector.read_changes("companies", ["name"], Cursor(modstamp=T0, last_id=tied[0]), until=T0))
    assert [r.id for r in bounded] == tied[1:]


def test_windows_above_the_cap_are_split_and_read_exactly_once(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.clock = _ticking(T0, step_ms=7)
    ids = app.insert_records("contacts", [{"firstname": f"c{i}"} for i in range(300)])
    connector, _ = _connector(hubspot_sandbox, search_window_cap=50)

    read = list(connector.read_changes("contacts", ["firstname"], Cursor(), include_deleted=False))
    assert [r.id for r in read] == ids
    assert app.calls["objects.search"] >= 12  # 300 records in windows of at most 50


def test_a_tie_group_larger_than_a_page_is_read_by_id(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.clock = lambda: T0
    tied = app.insert_records("deals", [{"dealname": f"d{i}"} for i in range(450)])
    app.clock = lambda: T0 + timedelta(seconds=1)
    tail = app.insert_records("deals", [{"dealname": "last"}])
    connector, _ = _connector(hubspot_sandbox, search_window_cap=100)

    read = list(connector.read_changes("deals", ["dealname"], Cursor(), include_deleted=False))
    assert [r.id for r in read] == [*tied, *tail]


def test_deletes_and_merges_become_events(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.clock = _ticking(T0, step_ms=1000)
    a, b, c, gone = app.insert_records("companies", [{"name": n} for n in ("a", "b", "c", "gone")])
    cursor = Cursor(modstamp=T0 + timedelta(seconds=3), last_id=gone)
    merged = app.merge("companies", a, b)
    app.archive_record("companies", gone)
    app.archive_record("companies", c)
    connector, _ = _connector(hubspot_sandbox)

    events = list(connector.read_changes("companies", ["name"], cursor))
    by_id = {e.id: e for e in events}
    assert by_id[merged].merged_ids == [a, b] and not by_id[merged].deleted
    assert by_id[gone].deleted and by_id[c].deleted
    assert a not in by_id and b not in by_id  # a merge is reported on the new record, not as deletes
    assert [e.modstamp for e in events] == sorted(e.modstamp for e in events)
    assert not any(e.deleted for e in connector.read_changes("companies", ["name"], cursor, include_deleted=False))


def test_where_filters_reads_and_bad_syntax_is_a_config_error(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.insert_records(
        "companies",
        [{"name": "p1", "is_partner": "true", "partner_tier": "gold"}, {"name": "p2", "is_partner": "true"}, {"name": "x"}],
    )
    connector, _ = _connector(hubspot_sandbox)
    where = "is_partner = true and partner_tier in (gold, platinum)"
    assert [r.fields["name"] for r in connector.read_changes("companies", ["name"], Cursor(), where=where)] == ["p1"]
    assert [r.fields["name"] for r in connector.read_all("companies", ["name"], where="partner_tier is not set")] == ["p2", "x"]
    assert [r.fields["name"] for r in connector.read_all("companies", ["name"])] == ["p1", "p2", "x"]
    assert parse_where("name = 'Smith and Sons'") == [{"propertyName": "name", "operator": "EQ", "value": "Smith and Sons"}]
    with pytest.raises(ConfigError) as caught:
        connector.read_all("companies", ["name"], where="is_partner == ")
    assert "cannot read where clause" in str(caught.value)


def test_upsert_collapses_duplicates_and_reports_created(hubspot_sandbox: RunningHubSpot) -> None:
    connector, _ = _connector(hubspot_sandbox)
    requests = [
        UpsertRequest(key="P-1", fields={"name": "Old", "is_partner": True}),
        UpsertRequest(key="P-2", fields={"name": "Beta", "partner_tier": "gold"}),
        UpsertRequest(key="P-1", fields={"name": "New", "is_partner": True}),
    ]
    results = connector.upsert("companies", "prm_id", requests)

    assert [r.key for r in results] == ["P-1", "P-2", "P-1"]
    assert all(r.ok and r.created for r in results) and results[0].remote_id == results[2].remote_id
    stored = hubspot_sandbox.app.find_record("companies", "prm_id", "P-1")
    assert stored is not None and stored["name"] == "New" and stored["is_partner"] == "true"
    again = connector.upsert("companies", "prm_id", [UpsertRequest(key="P-2", fields={"name": "Beta 2"})])
    assert again[0].ok and again[0].created is False


def test_lost_confirmation_is_retried_without_a_duplicate(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.add_unique_property("deals")
    hubspot_sandbox.app.faults.drop_after_write = 1
    connector, sleeps = _connector(hubspot_sandbox)
    records = [UpsertRequest(key=f"D-{i}", fields={"dealname": f"deal {i}", "amount": 10 * i}) for i in range(3)]
    results = connector.upsert("deals", "prm_id", records)

    assert all(r.ok for r in results)
    assert len(hubspot_sandbox.app.all_records("deals")) == 3
    assert connector.api_calls == 2 and len(sleeps) == 1


def test_batches_of_100_and_per_record_errors_map_to_keys(hubspot_sandbox: RunningHubSpot) -> None:
    connector, _ = _connector(hubspot_sandbox)
    records = [UpsertRequest(key=f"R-{i}", fields={"customer_name": f"c{i}"}) for i in range(150)]
    records[120] = UpsertRequest(key="R-120", fields={"status": "pending"})
    records[7] = UpsertRequest(key="R-7", fields={"colour": "red"})
    results = connector.upsert("deal_registrations", "prm_id", records)

    failed = {r.key: r for r in results if not r.ok}
    assert set(failed) == {"R-7", "R-120"}
    assert failed["R-120"].error_code == "INVALID_OPTION" and failed["R-120"].error_fields == ["status"]
    assert failed["R-7"].error_code == "PROPERTY_DOESNT_EXIST" and not failed["R-7"].retryable
    assert "colour" in str(failed["R-7"].error_message) and "pending" in str(failed["R-120"].error_message)
    # each batch was refused whole (HubSpot names no input) and halved until its bad record stood alone:
    # about 2·log2(n) extra calls each, and the 148 good records landed in this one upsert
    assert 2 < hubspot_sandbox.app.calls["objects.batch.upsert"] <= 2 + 2 * (7 + 6)
    assert len(hubspot_sandbox.app.all_records("deal_registrations")) == 148


def test_429_burst_is_retried_after_retry_after(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.burst_429 = 2
    hubspot_sandbox.app.faults.retry_after_seconds = 2
    connector, sleeps = _connector(hubspot_sandbox)
    fields = connector.describe("companies")
    assert any(f.name == "prm_id" for f in fields)
    assert sleeps == [2.0, 2.0] and connector.api_calls == 3


def test_exhausted_5xx_retries_raise_transient_error(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.fail_next_5xx = 10
    connector, sleeps = _connector(hubspot_sandbox, max_retries=2)
    with pytest.raises(TransientError):
        connector.describe("deals")
    assert connector.api_calls == 3 and len(sleeps) == 2


def test_client_side_limiter_keeps_a_healthy_run_free_of_429(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    app.ten_second_limit = 5
    app.rate_window_seconds = 0.5
    limiter = RequestLimiter(4, period=0.5)
    connector = HubSpotConnector(hubspot_sandbox.settings(max_retries=0), limiter=limiter)
    for _ in range(10):
        connector.describe("contacts")
    assert limiter.waited > 0 and connector.api_calls == 10


def test_quota_reserve_stops_before_the_daily_limit(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.quota_remaining = 5
    connector, _ = _connector(hubspot_sandbox)
    connector.describe("companies")
    quota = connector.quota()
    assert quota.limit == 1_000_000 and quota.remaining == 4
    with pytest.raises(QuotaExhausted):
        connector.describe("companies")
    assert connector.api_calls == 1


def test_daily_429_is_quota_exhausted_without_retry(hubspot_sandbox: RunningHubSpot) -> None:
    hubspot_sandbox.app.faults.quota_remaining = 0
    connector, sleeps = _connector(hubspot_sandbox, quota_reserve_pct=0)
    with pytest.raises(QuotaExhausted) as caught:
        connector.describe("companies")
    assert caught.value.info.status == 429 and sleeps == [] and connector.api_calls == 1


def test_wrong_token_is_an_auth_error_without_the_token_in_the_message(hubspot_sandbox: RunningHubSpot) -> None:
    connector, _ = _connector(hubspot_sandbox, access_token="wrong-secret-token")
    with pytest.raises(AuthError) as caught:
        connector.describe("companies")
    assert "INVALID_AUTHENTICATION" in str(caught.value) and "wrong-secret-token" not in str(caught.value)


def test_describe_maps_types_options_uniqueness_and_read_only(hubspot_sandbox: RunningHubSpot) -> None:
    connector, _ = _connector(hubspot_sandbox)
    fields = {f.name: f for f in connector.describe("deals")}
    companies = {f.name: f for f in connector.describe("companies")}
    assert companies["prm_id"].unique and companies["prm_id"].external_id and not fields["dealname"].unique
    assert not fields["hs_is_closed_won"].updateable and fields["dealname"].updateable
    assert fields["dealstage"].type == "enumeration" and "closedwon" in fields["dealstage"].picklist_values
    registrations = {f.name for f in connector.describe("deal_registrations")}
    assert {"customer_name", "product_lines", "conflict_score"} <= registrations


def test_associate_by_label_and_delete(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    partner, customer = app.insert_records("companies", [{"name": "Partner"}, {"name": "Customer"}])
    (reg,) = app.insert_records("deal_registrations", [{"prm_id": "R-1"}])
    connector, _ = _connector(hubspot_sandbox)
    results = connector.associate(
        [
            Association(from_object="deal_registrations", from_id=reg, to_object="companies", to_id=partner, label="Registering partner"),
            Association(from_object="deal_registrations", from_id=reg, to_object="companies", to_id=customer, label="End customer"),
            Association(from_object="deal_registrations", from_id=reg, to_object="companies", to_id="999"),
        ]
    )
    assert [r.ok for r in results] == [True, True, False]
    assert app.associations("companies", partner, "deal_registrations") == [reg]
    assert app.calls["associations.batch.create"] == 1
    with pytest.raises(ConfigError) as caught:
        connector.associate([Association(from_object="deals", from_id="1", to_object="companies", to_id="2", label="Owner")])
    assert "Primary" in str(caught.value)

    deleted = connector.delete("companies", [customer])
    assert deleted[0].ok and app.get_record("companies", customer) is None


def test_a_deals_company_is_read_as_a_field_with_one_batch_read_per_page(hubspot_sandbox: RunningHubSpot) -> None:
    app = hubspot_sandbox.app
    c1, c2, c3 = app.insert_records("companies", [{"name": n} for n in ("One", "Two", "Three")])
    only_default, unlinked, with_primary = app.insert_records("deals", [{"dealname": n} for n in ("A", "B", "C")])
    app.assocs.add(app.assocs.default("deals", "companies"), only_default, c2)
    app.assocs.add(app.assocs.default("deals", "companies"), with_primary, c1)  # lower id, but not primary
    connector, _ = _connector(hubspot_sandbox)
    assert connector.associate([Association(from_object="deals", from_id=with_primary, to_object="companies",
                                            to_id=c3, label="Primary")])[0].ok
    app.calls.clear()

    fields = ["dealname", "associations.companies"]
    read = {r.id: r.fields for r in connector.read_changes("deals", fields, Cursor(), include_deleted=False)}
    assert read == {only_default: {"dealname": "A", "associations.companies": c2},
                    unlinked: {"dealname": "B", "associations.companies": None},
                    with_primary: {"dealname": "C", "associations.companies": c3}}
    assert app.calls["associations.batch.read"] == 1 and app.calls["objects.search"] == 1
    assert {r.id: r.fields["associations.companies"] for r in connector.read_all("deals", fields)} == {
        only_default: c2, unlinked: None, with_primary: c3}
    app.calls.clear()
    list(connector.read_changes("deals", ["dealname"], Cursor(), include_deleted=False))
    assert app.calls["associations.batch.read"] == 0  # only when a mapping asks for it
    described = {f.name: f for f in connector.describe("deals")}
    assert not described["associations.companies"].updateable


def test_search_answers_are_parsed_raw_and_checked() -> None:
    from connectors.hubspot_wire import search_answer

    page = search_answer(
        b'{"total": 2, "results": [{"id": "11", "properties": {"name": "Acme", "hs_lastmodifieddate":'
        b' "2024-03-01T09:00:00.250Z"}, "updatedAt": "2024-03-01T09:00:00.250Z", "archived": false}],'
        b' "paging": {"next": {"after": "1"}}}'
    )
    assert (page.total, page.has_next, [h.id for h in page.results]) == (2, True, ["11"])
    assert page.results[0].properties["name"] == "Acme"
    assert page.results[0].updated_at == datetime(2024, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
    assert not search_answer(b'{"total": 0, "results": []}').has_next
    for broken in (b"", b"[]", b'{"total": 1}', b'{"results": [{"properties": {}}]}', b'{"results": [{"id": "1"}]}'):
        with pytest.raises(ValueError, match="Invalid value"):
            search_answer(broken)


def test_association_answers_are_parsed_raw_and_checked() -> None:
    from connectors.hubspot_associations import _associate_errors

    ok = b'{"status": "COMPLETE", "results": [{"fromObjectId": 1, "toObjectId": 2}], "startedAt": "x", "completedAt": "y"}'
    assert _associate_errors(ok) == []
    partial = (
        b'{"status": "COMPLETE", "results": [], "numErrors": 1, "errors": [{"status": "error", "category":'
        b' "VALIDATION_ERROR", "message": "no such object", "context": {"ids": ["1", "999"]}}]}'
    )
    assert [e["context"]["ids"] for e in _associate_errors(partial)] == [["1", "999"]]
    for broken in (b"", b"[]", b'{"status": "COMPLETE"}', b'{"results": [], "errors": [{"message": "m"}]}'):
        with pytest.raises(ValueError, match="Invalid value"):
            _associate_errors(broken)


def test_association_read_answers_pick_the_primary_and_are_checked() -> None:
    from connectors.hubspot_associations import _associated_answer

    answer = (
        b'{"status": "COMPLETE", "results": ['
        b'{"from": {"id": "1"}, "to": [{"toObjectId": 7, "associationTypes": [{"category": "HUBSPOT_DEFINED",'
        b' "typeId": 341, "label": null}]}, {"toObjectId": 9, "associationTypes": [{"category": "HUBSPOT_DEFINED",'
        b' "typeId": 5, "label": "Primary"}]}]},'
        b'{"from": {"id": "2"}, "to": [{"toObjectId": 12, "associationTypes": []}, {"toObjectId": 3}]},'
        b'{"from": {"id": "4"}, "to": []}],'
        b' "numErrors": 1, "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "none",'
        b' "context": {"fromObjectId": ["5"]}}]}'
    )
    assert _associated_answer(answer) == {"1": "9", "2": "3"}  # primary first, else the lowest id
    for broken in (b"", b"[]", b'{"status": "COMPLETE"}'):
        with pytest.raises(ValueError, match="Invalid value"):
            _associated_answer(broken)


def test_limiter_counts_a_request_from_its_answer_so_a_late_arrival_never_fills_hubspots_window() -> None:
    """Frozen time: 4 requests sent at 0 s and answered at 3 s free their places at 13 s, not at 10 s."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RequestLimiter(4, period=10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire()
    now[0] = 3.0  # on the wire for 3 s: HubSpot counted them somewhere between 0 s and 3 s
    for _ in range(4):
        limiter.release()
    now[0] = 10.5
    limiter.acquire()  # at 10.5 s a window counted from sending would be empty; HubSpot's may not be
    assert now[0] == 13.0 and slept == [2.5] and limiter.waited == 2.5
    limiter.release()
    for _ in range(3):
        limiter.acquire()  # the rest of the window is free again: no further wait
    assert now[0] == 13.0 and len(slept) == 1
