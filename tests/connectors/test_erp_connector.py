"""The ERP connector against the Odoo JSON-RPC sandbox, plus ``responses`` unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from connectors.base import Connector, Cursor, UpsertRequest
from connectors.erp import ErpConnector, ErpSettings
from connectors.httpclient import HttpClient
from prm_sync.errors import AuthError, ConfigError, QuotaExhausted, RecordError

T0 = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)


def _partners(app: Any, count: int, *, at: datetime, prefix: str = "p") -> list[int]:
    app.clock = at
    return app.insert_records(
        "res.partner", [{"name": f"{prefix}{n}", "x_prm_id": f"par_{prefix}{n}"} for n in range(count)]
    )


def test_implements_the_connector_protocol(erp_sandbox: Any) -> None:
    assert isinstance(ErpConnector(erp_sandbox.settings()), Connector)


def test_incremental_read_with_ties_pages_by_write_date_then_id(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    tie = _partners(app, 230, at=T0)  # one second, more than two pages
    later = _partners(app, 3, at=T0 + timedelta(seconds=1), prefix="q")
    connector = ErpConnector(erp_sandbox.settings())
    records = list(connector.read_changes("res.partner", ["name", "x_prm_id"], Cursor()))
    assert [int(r.id) for r in records] == tie + later
    assert records[0].modstamp == T0
    assert records[0].fields == {"name": "p0", "x_prm_id": "par_p0"}
    middle = records[149]
    rest = list(
        connector.read_changes("res.partner", ["name"], Cursor(modstamp=middle.modstamp, last_id=middle.id))
    )
    assert [int(r.id) for r in rest] == tie[150:] + later
    after_second = list(connector.read_changes("res.partner", ["name"], Cursor(modstamp=T0)))
    assert [int(r.id) for r in after_second] == later


def test_a_record_modified_while_paging_is_not_skipped(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    ids = _partners(app, 150, at=T0)
    connector = ErpConnector(erp_sandbox.settings())
    seen: list[int] = []
    for record in connector.read_changes("res.partner", ["name"], Cursor()):
        seen.append(int(record.id))
        if len(seen) == 50:  # an early record moves to the end mid-read
            app.clock = T0 + timedelta(seconds=5)
            app.update_record("res.partner", ids[10], {"email": "moved@acme.test"})
    assert set(ids) <= set(seen)


def test_many2one_is_flattened_to_id_and_name(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    (acme,) = app.insert_records("res.partner", [{"name": "Acme"}])
    invoice = app.insert_records(
        "account.move", [{"move_type": "out_invoice", "partner_id": acme, "amount_total": 10}]
    )[0]
    connector = ErpConnector(erp_sandbox.settings())
    (record,) = connector.read_all(
        "account.move",
        ["partner_id", "reversed_entry_id", "ref", "amount_total"],
        where='[["move_type", "=", "out_invoice"]]',
    )
    assert record.id == str(invoice)
    assert record.fields == {
        "partner_id": acme,
        "partner_id_name": "Acme",
        "reversed_entry_id": None,
        "reversed_entry_id_name": None,
        "ref": None,
        "amount_total": 10.0,
    }


def test_payment_shows_up_as_invoice_change(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    app.clock = T0
    (acme,) = app.insert_records("res.partner", [{"name": "Acme"}])
    invoice = app.insert_records(
        "account.move",
        [{"move_type": "out_invoice", "partner_id": acme, "amount_total": 100, "state": "posted"}],
    )[0]
    connector = ErpConnector(erp_sandbox.settings())
    where = '[["move_type", "=", "out_invoice"]]'
    (first,) = connector.read_changes("account.move", ["payment_state"], Cursor(), where=where)
    app.clock = T0 + timedelta(minutes=1)
    app.register_payment(invoice, 40, "2024-06-03")
    cursor = Cursor(modstamp=first.modstamp, last_id=first.id)
    (changed,) = connector.read_changes(
        "account.move", ["payment_state", "amount_residual"], cursor, where=where
    )
    assert changed.fields == {"payment_state": "partial", "amount_residual": 60.0}


def test_upsert_creates_and_updates_with_few_calls(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    app.insert_records(
        "res.partner", [{"name": "Old A", "x_prm_id": "par_a"}, {"name": "Old B", "x_prm_id": "par_b"}]
    )
    connector = ErpConnector(erp_sandbox.settings())
    requests_ = [
        UpsertRequest(key="par_a", fields={"name": "Same", "is_company": True}),
        UpsertRequest(key="par_b", fields={"name": "Same", "is_company": True}),
        UpsertRequest(key="par_c", fields={"name": "New C", "email": None}),
        UpsertRequest(key="par_d", fields={"name": "New D"}),
    ]
    results = connector.upsert("res.partner", "x_prm_id", requests_)
    assert [(r.key, r.ok, r.created) for r in results] == [
        ("par_a", True, False),
        ("par_b", True, False),
        ("par_c", True, True),
        ("par_d", True, True),
    ]
    # authenticate + fields_get + search_read + one create + one grouped write
    assert connector.api_calls == 5
    names = {r["x_prm_id"]: r["name"] for r in app.all_records("res.partner")}
    assert names == {"par_a": "Same", "par_b": "Same", "par_c": "New C", "par_d": "New D"}
    again = connector.upsert("res.partner", "x_prm_id", requests_)
    assert [r.created for r in again] == [False, False, False, False]
    assert len(app.all_records("res.partner")) == 4


def test_lost_create_confirmation_is_recovered_without_duplicates(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    connector = ErpConnector(erp_sandbox.settings())
    connector.describe("account.move")  # warm the uid and fields cache so the next call is the create
    app.faults.drop_after_write = 1
    bills = [
        UpsertRequest(key=f"pout_{n}", fields={"move_type": "in_invoice", "amount_total": Decimal("12.50")})
        for n in range(3)
    ]
    results = connector.upsert("account.move", "x_prm_id", bills)
    assert app.faults.drop_after_write == 0  # the create's answer really was lost
    assert all(r.ok and r.created for r in results)
    # fields_get + authenticate, then: search, create (answer lost), search again, write the found ones
    assert connector.api_calls == 6
    assert sorted(r["x_prm_id"] for r in app.all_records("account.move")) == ["pout_0", "pout_1", "pout_2"]


def test_validation_error_is_pinned_on_the_bad_record(erp_sandbox: Any) -> None:
    erp_sandbox.app.faults.invalid_values = {"ref": ["BAD"]}
    connector = ErpConnector(erp_sandbox.settings())
    results = connector.upsert(
        "res.partner",
        "x_prm_id",
        [
            UpsertRequest(key="par_1", fields={"name": "One"}),
            UpsertRequest(key="par_2", fields={"name": "Two", "ref": "BAD"}),
            UpsertRequest(key="par_3", fields={"name": "Three", "colour": "red"}),
            UpsertRequest(key="par_4", fields={}),
        ],
    )
    assert [(r.key, r.ok, r.error_code) for r in results] == [
        ("par_1", True, None),
        ("par_2", False, "ValidationError"),
        ("par_3", False, "INVALID_FIELD"),
        ("par_4", False, "ValidationError"),  # name is mandatory
    ]
    assert results[1].error_fields == ["ref"] and results[2].error_fields == ["colour"]
    assert [r["x_prm_id"] for r in erp_sandbox.app.all_records("res.partner")] == ["par_1"]


def test_duplicate_keys_in_erp_are_reported_not_guessed(erp_sandbox: Any) -> None:
    erp_sandbox.app.insert_records(
        "res.partner", [{"name": "A", "x_prm_id": "dup"}, {"name": "B", "x_prm_id": "dup"}]
    )
    (result,) = ErpConnector(erp_sandbox.settings()).upsert(
        "res.partner", "x_prm_id", [UpsertRequest(key="dup", fields={"name": "C"})]
    )
    assert (result.ok, result.error_code) == (False, "DUPLICATE_KEY")


def test_delete_is_idempotent_and_per_record(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    loose, kept = app.insert_records("res.partner", [{"name": "Loose"}, {"name": "Kept"}])
    posted = app.insert_records(
        "account.move", [{"move_type": "out_invoice", "state": "posted", "partner_id": kept}]
    )[0]
    connector = ErpConnector(erp_sandbox.settings())
    moves = connector.delete("account.move", [str(posted)])
    partners = connector.delete("res.partner", [str(loose), "9999", "abc"])
    assert [(r.ok, r.error_code) for r in moves] == [(False, "UserError")]
    assert [(r.key, r.ok, r.error_code) for r in partners] == [
        (str(loose), True, None),
        ("9999", True, None),
        ("abc", False, "INVALID_ID"),
    ]


def test_retries_after_503(erp_sandbox: Any) -> None:
    _partners(erp_sandbox.app, 2, at=T0)
    erp_sandbox.app.faults.fail_next_5xx = 2
    connector = ErpConnector(erp_sandbox.settings())
    assert len(list(connector.read_all("res.partner", ["name"]))) == 2
    assert connector.api_calls == 5  # 2 failed + authenticate + fields_get + search_read


def test_wrong_api_key_is_auth_error(erp_sandbox: Any) -> None:
    connector = ErpConnector(erp_sandbox.settings(access_token=SecretStr("nope")))
    with pytest.raises(AuthError) as caught:
        connector.describe("res.partner")
    assert "nope" not in str(caught.value)


def test_exhausted_quota(erp_sandbox: Any) -> None:
    erp_sandbox.app.faults.quota_remaining = 0
    with pytest.raises(QuotaExhausted):
        ErpConnector(erp_sandbox.settings()).describe("res.partner")


def test_describe_and_config_errors(erp_sandbox: Any) -> None:
    connector = ErpConnector(erp_sandbox.settings())
    fields = {f.name: f for f in connector.describe("account.move")}
    assert fields["payment_state"].updateable is False
    assert "reversed" in fields["payment_state"].picklist_values
    assert fields["currency_id"].required_on_create is True
    with pytest.raises(ConfigError, match=r"sale\.order"):
        connector.describe("sale.order")
    with pytest.raises(ConfigError, match="colour"):
        list(connector.read_all("res.partner", ["colour"]))
    with pytest.raises(ConfigError, match="JSON list"):
        list(connector.read_all("res.partner", [], where="state = posted"))
    with pytest.raises(ConfigError, match="key field"):
        connector.upsert("res.partner", "external_ref", [UpsertRequest(key="k", fields={})])


def test_settings_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        ErpSettings.load({"base_url": "odoo.local", "access_token": "k", "max_retries": -1})
    text = str(caught.value)
    assert all(name in text for name in ("base_url", "database", "login", "max_retries"))


# -- responses-based unit tests of the requests code paths -------------------------------------------
BASE = "https://erp.example.com"


def _unit(sleeps: list[float]) -> ErpConnector:
    settings = ErpSettings(base_url=BASE, database="db", login="me", access_token=SecretStr("key"))
    return ErpConnector(settings, http=HttpClient("erp", settings, sleep=sleeps.append))


def _rpc_result(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


@responses.activate
def test_retry_after_is_honoured_on_jsonrpc() -> None:
    responses.post(
        f"{BASE}/jsonrpc", status=429, headers={"Retry-After": "4"}, json={"error": "rate_limited"}
    )
    responses.post(f"{BASE}/jsonrpc", json=_rpc_result(2))
    sleeps: list[float] = []
    connector = _unit(sleeps)
    assert connector.uid == 2
    assert sleeps == [4.0]
    assert connector.api_calls == 2


@responses.activate
def test_odoo_error_objects_map_to_prm_sync_errors() -> None:
    def odoo_error(name: str, message: str) -> dict[str, Any]:
        data = {"name": name, "message": message, "debug": "", "arguments": [message], "context": {}}
        return {
            "jsonrpc": "2.0",
            "id": 1,
            "error": {"code": 200, "message": "Odoo Server Error", "data": data},
        }

    responses.post(f"{BASE}/jsonrpc", json=_rpc_result(2))
    responses.post(
        f"{BASE}/jsonrpc", json=odoo_error("odoo.exceptions.MissingError", "Record does not exist")
    )
    responses.post(f"{BASE}/jsonrpc", json=odoo_error("odoo.exceptions.AccessDenied", "Access Denied"))
    connector = _unit([])
    with pytest.raises(RecordError) as missing:
        connector.execute("res.partner", "read", [[42]])
    assert missing.value.info.code == "MissingError"
    with pytest.raises(AuthError):
        connector.execute("res.partner", "read", [[42]])
    assert connector.api_calls == 3  # Odoo errors are answers, not transient failures: no retry
