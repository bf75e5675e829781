"""Conformance of the Odoo JSON-RPC sandbox, through plain ``requests``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.sandbox.erp import UID, ErpSandbox

T0 = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
_ids = itertools.count(1)


def rpc(sandbox: Any, service: str, method: str, *args: Any) -> dict[str, Any]:
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"service": service, "method": method, "args": list(args)},
        "id": next(_ids),
    }
    response = requests.post(f"{sandbox.url}/jsonrpc", json=payload, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def kw(sandbox: Any, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
    """``execute_kw`` returning the result, or the error object when Odoo raised."""
    body = rpc(
        sandbox,
        "object",
        "execute_kw",
        sandbox.database,
        UID,
        sandbox.access_token,
        model,
        method,
        args,
        kwargs or {},
    )
    return body["result"] if "result" in body else body["error"]


def error_name(error: dict[str, Any]) -> str:
    return error["data"]["name"]


@pytest.fixture
def partners(erp_sandbox: Any) -> dict[str, int]:
    rows = [
        {"name": "Acme Corp", "email": "ap@acme.test", "is_company": True, "x_prm_id": "par_1", "ref": "A-1"},
        {"name": "Globex", "email": "billing@globex.test", "is_company": True, "x_prm_id": "par_2"},
        {"name": "Jane Roe", "email": "jane@acme.test", "is_company": False},
        {"name": "acme labs", "is_company": True, "ref": "A-2"},
    ]
    erp_sandbox.app.clock = T0 - timedelta(days=1)  # seed in the past so tests can move the clock freely
    ids = erp_sandbox.app.insert_records("res.partner", rows)
    return dict(zip(["acme", "globex", "jane", "labs"], ids, strict=True))


def test_version_and_authenticate(erp_sandbox: Any) -> None:
    assert rpc(erp_sandbox, "common", "version")["result"]["server_version"] == "17.0"
    ok = rpc(
        erp_sandbox,
        "common",
        "authenticate",
        erp_sandbox.database,
        erp_sandbox.login,
        erp_sandbox.access_token,
        {},
    )
    bad = rpc(erp_sandbox, "common", "authenticate", erp_sandbox.database, erp_sandbox.login, "wrong", {})
    assert (ok["result"], bad["result"]) == (UID, False)


def test_wrong_api_key_is_access_denied(erp_sandbox: Any) -> None:
    body = rpc(
        erp_sandbox, "object", "execute_kw", erp_sandbox.database, UID, "wrong", "res.partner", "search", [[]]
    )
    assert body["error"]["code"] == 200
    assert body["error"]["message"] == "Odoo Server Error"
    assert body["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert body["error"]["data"]["message"] == "Access Denied"


def test_unknown_model_and_method_are_clear_errors(erp_sandbox: Any) -> None:
    unknown_model = kw(erp_sandbox, "sale.order", "search", [[]])
    unknown_method = kw(erp_sandbox, "res.partner", "explode", [[]])
    assert error_name(unknown_model) == "odoo.exceptions.UserError"  # Odoo 17's execute_cr
    assert unknown_model["data"]["message"] == "Object sale.order doesn't exist"
    assert error_name(unknown_method) == "builtins.AttributeError"
    assert "explode" in unknown_method["data"]["message"]


@pytest.mark.parametrize(
    "domain, expected",
    [
        pytest.param([], ["acme", "globex", "jane", "labs"], id="empty-domain"),
        pytest.param([["is_company", "=", True]], ["acme", "globex", "labs"], id="boolean-eq"),
        pytest.param(
            [["is_company", "=", True], ["email", "!=", False]], ["acme", "globex"], id="implicit-and"
        ),
        pytest.param(["|", ["ref", "=", "A-1"], ["ref", "=", "A-2"]], ["acme", "labs"], id="or"),
        pytest.param(["!", ["is_company", "=", True]], ["jane"], id="not"),
        pytest.param(
            ["&", ["is_company", "=", True], "|", ["x_prm_id", "=", "par_2"], ["ref", "=", "A-2"]],
            ["globex", "labs"],
            id="nested-and-or",
        ),
        pytest.param([["name", "ilike", "acme"]], ["acme", "labs"], id="ilike-wraps"),
        pytest.param([["name", "like", "acme"]], ["labs"], id="like-is-case-sensitive"),
        pytest.param([["name", "=ilike", "ACME%"]], ["acme", "labs"], id="eq-ilike-pattern"),
        pytest.param([["email", "=like", "%@acme.test"]], ["acme", "jane"], id="eq-like-pattern"),
        pytest.param([["x_prm_id", "in", ["par_1", "par_2"]]], ["acme", "globex"], id="in"),
        pytest.param(
            [["x_prm_id", "not in", ["par_1"]]], ["globex", "jane", "labs"], id="not-in-includes-null"
        ),
        pytest.param([["ref", "!=", "A-1"]], ["globex", "jane", "labs"], id="ne-includes-null"),
        pytest.param([["email", "=", False]], ["labs"], id="eq-false-is-empty"),
        pytest.param([["name", "not ilike", "acme"]], ["globex", "jane"], id="not-ilike"),
    ],
)
def test_search_domains(
    erp_sandbox: Any, partners: dict[str, int], domain: list[Any], expected: list[str]
) -> None:
    ids = kw(erp_sandbox, "res.partner", "search", [domain])
    by_id = {v: k for k, v in partners.items()}
    assert sorted(by_id[i] for i in ids) == sorted(expected)


@pytest.mark.parametrize(
    "domain, needle",
    [
        pytest.param([["nope", "=", 1]], "Invalid field res.partner.nope", id="unknown-field"),
        pytest.param([["name", "~", "x"]], "unknown operator", id="unknown-operator"),
        pytest.param(["|", ["name", "=", "x"]], "missing its operands", id="dangling-or"),
        pytest.param([["name", "in", "x"]], "must be a list", id="in-needs-list"),
    ],
)
def test_malformed_domains_are_value_errors(
    erp_sandbox: Any, partners: dict[str, int], domain: Any, needle: str
) -> None:
    error = kw(erp_sandbox, "res.partner", "search", [domain])
    assert error_name(error) == "builtins.ValueError"
    assert needle in error["data"]["message"]


def test_search_read_order_limit_offset_and_count(erp_sandbox: Any, partners: dict[str, int]) -> None:
    rows = kw(
        erp_sandbox,
        "res.partner",
        "search_read",
        [[["is_company", "=", True]]],
        {"fields": ["name"], "order": "name desc, id asc", "limit": 2, "offset": 1},
    )
    assert rows == [
        {"id": partners["globex"], "name": "Globex"},
        {"id": partners["acme"], "name": "Acme Corp"},
    ]
    assert kw(erp_sandbox, "res.partner", "search_count", [[["is_company", "=", True]]]) == 3


def test_create_read_write_unlink(erp_sandbox: Any) -> None:
    erp_sandbox.app.clock = T0
    new_ids = kw(erp_sandbox, "res.partner", "create", [[{"name": "A"}, {"name": "B"}]])
    single = kw(erp_sandbox, "res.partner", "create", [{"name": "C", "x_prm_id": "par_c"}])
    assert isinstance(new_ids, list) and isinstance(single, int)
    erp_sandbox.app.clock = T0 + timedelta(seconds=5)
    assert kw(erp_sandbox, "res.partner", "write", [new_ids, {"email": "x@y.test"}]) is True
    rows = kw(erp_sandbox, "res.partner", "read", [[*new_ids, single], ["email", "write_date"]])
    assert [r["email"] for r in rows] == ["x@y.test", "x@y.test", False]
    assert [r["write_date"] for r in rows] == [
        "2024-06-03 09:30:05",
        "2024-06-03 09:30:05",
        "2024-06-03 09:30:00",
    ]
    assert kw(erp_sandbox, "res.partner", "unlink", [[single]]) is True
    assert error_name(kw(erp_sandbox, "res.partner", "read", [[single]])) == "odoo.exceptions.MissingError"


def test_write_date_never_goes_backwards(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    app.clock = T0
    first = app.insert_records("res.partner", [{"name": "First"}])[0]
    app.clock = T0 - timedelta(days=1)
    second = app.insert_records("res.partner", [{"name": "Second"}])[0]
    assert (
        app.get_record("res.partner", first)["write_date"]
        == app.get_record("res.partner", second)["write_date"]
    )


@pytest.mark.parametrize(
    "model, vals, name, needle",
    [
        pytest.param(
            "res.partner", {"email": "x@y"}, "odoo.exceptions.ValidationError", "mandatory", id="required"
        ),
        pytest.param(
            "res.partner",
            {"name": "X", "colour": "red"},
            "builtins.ValueError",
            "Invalid field 'colour'",
            id="unknown-field",
        ),
        pytest.param(
            "account.move", {"move_type": "bogus"}, "builtins.ValueError", "Wrong value", id="bad-selection"
        ),
        pytest.param(
            "account.move",
            {"partner_id": 999},
            "odoo.exceptions.MissingError",
            "res.partner(999,)",
            id="dangling-many2one",
        ),
        pytest.param(
            "account.move",
            {"invoice_date": "03/06/2024"},
            "builtins.ValueError",
            "does not match format",
            id="bad-date",
        ),
        pytest.param(
            "account.payment",
            {"amount": -5},
            "odoo.exceptions.ValidationError",
            "strictly positive",
            id="negative-payment",
        ),
    ],
)
def test_create_validation_errors(
    erp_sandbox: Any, model: str, vals: dict[str, Any], name: str, needle: str
) -> None:
    error = kw(erp_sandbox, model, "create", [vals])
    assert error_name(error) == name
    assert needle in error["data"]["message"]


def test_many2one_reads_as_id_and_name_and_filters_by_name(
    erp_sandbox: Any, partners: dict[str, int]
) -> None:
    move = kw(
        erp_sandbox, "account.move", "create", [{"move_type": "out_invoice", "partner_id": partners["acme"]}]
    )
    (row,) = kw(
        erp_sandbox, "account.move", "read", [[move], ["partner_id", "currency_id", "reversed_entry_id"]]
    )
    assert row["partner_id"] == [partners["acme"], "Acme Corp"]
    assert row["currency_id"] == [1, "USD"]
    assert row["reversed_entry_id"] is False
    assert kw(erp_sandbox, "account.move", "search", [[["partner_id", "ilike", "acme co"]]]) == [move]


def test_fields_get_describes_fields(erp_sandbox: Any) -> None:
    fields = kw(
        erp_sandbox, "account.move", "fields_get", [], {"attributes": ["type", "relation", "selection"]}
    )
    assert fields["partner_id"] == {"type": "many2one", "relation": "res.partner"}
    assert ["out_refund", "Customer Credit Note"] in fields["move_type"]["selection"]


def _invoice(app: ErpSandbox, partner: int, total: float, **extra: Any) -> int:
    vals = {
        "move_type": "out_invoice",
        "partner_id": partner,
        "amount_total": total,
        "state": "posted",
        "invoice_date": "2024-06-01",
        **extra,
    }
    return app.insert_records("account.move", [vals])[0]


def _state(app: ErpSandbox, move: int) -> tuple[float, str]:
    row = app.get_record("account.move", move)
    return row["amount_residual"], row["payment_state"]


def test_payments_recompute_residual_and_state(erp_sandbox: Any, partners: dict[str, int]) -> None:
    app = erp_sandbox.app
    invoice = _invoice(app, partners["acme"], 1000.0)
    assert _state(app, invoice) == (1000.0, "not_paid")
    app.register_payment(invoice, 400.0, "2024-06-10")
    assert _state(app, invoice) == (600.0, "partial")
    payment = kw(
        erp_sandbox,
        "account.payment",
        "create",
        [
            {
                "amount": 600.0,
                "payment_type": "inbound",
                "partner_id": partners["acme"],
                "x_invoice_ids": [invoice],
                "date": "2024-06-20",
            }
        ],
    )
    assert _state(app, invoice) == (600.0, "partial")  # a draft payment settles nothing
    assert kw(erp_sandbox, "account.payment", "action_post", [[payment]]) is True
    assert _state(app, invoice) == (0.0, "paid")


def test_residual_change_bumps_invoice_write_date(erp_sandbox: Any, partners: dict[str, int]) -> None:
    app = erp_sandbox.app
    app.clock = T0
    invoice = _invoice(app, partners["acme"], 100.0)
    app.clock = T0 + timedelta(minutes=1)
    app.register_payment(invoice, 100.0, "2024-06-03")
    assert app.get_record("account.move", invoice)["write_date"] == "2024-06-03 09:31:00"


def test_credit_memo_reduces_residual_and_full_reversal(erp_sandbox: Any, partners: dict[str, int]) -> None:
    app = erp_sandbox.app
    partial = _invoice(app, partners["acme"], 500.0)
    memo = app.credit_memo(partial, 200.0, "2024-06-05")
    assert _state(app, partial) == (300.0, "partial")
    assert app.get_record("account.move", memo)["reversed_entry_id"] == partial
    reversed_invoice = _invoice(app, partners["globex"], 80.0)
    app.credit_memo(reversed_invoice, 80.0, "2024-06-05")
    assert _state(app, reversed_invoice) == (0.0, "reversed")


def test_refund_is_outbound_payment_and_leaves_residual(erp_sandbox: Any, partners: dict[str, int]) -> None:
    app = erp_sandbox.app
    invoice = _invoice(app, partners["acme"], 300.0)
    app.register_payment(invoice, 300.0, "2024-06-10")
    refund = app.refund(invoice, 120.0, "2024-06-15")
    row = app.get_record("account.payment", refund)
    assert (row["payment_type"], row["x_invoice_ids"], row["state"]) == ("outbound", [invoice], "posted")
    assert _state(app, invoice) == (0.0, "paid")


def test_vendor_bill_is_settled_by_outbound_payment(erp_sandbox: Any, partners: dict[str, int]) -> None:
    app = erp_sandbox.app
    bill = app.insert_records(
        "account.move",
        [
            {
                "move_type": "in_invoice",
                "partner_id": partners["globex"],
                "amount_total": 50.0,
                "state": "posted",
                "x_prm_id": "pout_1",
            }
        ],
    )[0]
    app.register_payment(bill, 50.0, "2024-06-10")  # inbound: does not pay a vendor bill
    assert _state(app, bill) == (50.0, "not_paid")
    app.refund(bill, 50.0, "2024-06-11")
    assert _state(app, bill) == (0.0, "paid")


def test_payment_against_draft_invoice_is_user_error(erp_sandbox: Any, partners: dict[str, int]) -> None:
    draft = erp_sandbox.app.insert_records(
        "account.move", [{"move_type": "out_invoice", "amount_total": 10.0}]
    )[0]
    error = kw(
        erp_sandbox,
        "account.payment",
        "create",
        [{"amount": 10.0, "x_invoice_ids": [draft], "state": "posted"}],
    )
    assert error_name(error) == "odoo.exceptions.UserError"


def test_posted_entry_cannot_be_unlinked(erp_sandbox: Any, partners: dict[str, int]) -> None:
    invoice = _invoice(erp_sandbox.app, partners["acme"], 10.0)
    assert error_name(kw(erp_sandbox, "account.move", "unlink", [[invoice]])) == "odoo.exceptions.UserError"


def test_invalid_values_fault_is_validation_error(erp_sandbox: Any) -> None:
    erp_sandbox.app.faults.invalid_values = {"x_prm_id": ["par_bad"]}
    error = kw(
        erp_sandbox, "res.partner", "create", [[{"name": "Ok"}, {"name": "Bad", "x_prm_id": "par_bad"}]]
    )
    assert error_name(error) == "odoo.exceptions.ValidationError"
    assert erp_sandbox.app.all_records("res.partner") == []  # create with a list is atomic


def test_http_faults(erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    app.faults.burst_429 = 1
    app.faults.retry_after_seconds = 3
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"service": "common", "method": "version", "args": []},
    }
    limited = requests.post(f"{erp_sandbox.url}/jsonrpc", json=payload, timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    app.faults.fail_next_5xx = 1
    assert requests.post(f"{erp_sandbox.url}/jsonrpc", json=payload, timeout=5).status_code == 503
    app.faults.quota_remaining = 0
    exhausted = requests.post(f"{erp_sandbox.url}/jsonrpc", json=payload, timeout=5)
    assert (exhausted.status_code, exhausted.json()["error"]) == (403, "quota_exceeded")


def test_drop_after_write_commits_then_drops(erp_sandbox: Any) -> None:
    erp_sandbox.app.faults.drop_after_write = 1
    with pytest.raises(requests.exceptions.ConnectionError):
        kw(erp_sandbox, "res.partner", "create", [{"name": "Lost answer"}])
    assert [r["name"] for r in erp_sandbox.app.all_records("res.partner")] == ["Lost answer"]


def test_dump_and_load_state_round_trip(partners: dict[str, int], erp_sandbox: Any) -> None:
    app = erp_sandbox.app
    invoice = _invoice(app, partners["acme"], 10.0)
    app.register_payment(invoice, 4.0, "2024-06-10")
    clone = ErpSandbox()
    clone.load_state(app.dump_state())
    assert clone.dump_state() == app.dump_state()
    assert clone.insert_records("res.partner", [{"name": "Next"}]) == [partners["labs"] + 1]
