"""The ERP sandbox against Odoo 17's external API and its documented faults.

Odoo's external API documentation (``/jsonrpc``: ``common.version``,
``common.authenticate``, ``object.execute_kw``) says a failed call comes back
as a JSON-RPC ``error`` whose ``data.name`` is the Python class Odoo raised;
the classes and messages below are the ones Odoo 17's ``odoo.service`` and
ORM raise for each case. What Odoo's HTTP layer refuses before any RPC runs
is not JSON-RPC at all (last rows). Requests go out with plain ``requests``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

UID = 2


@dataclass(frozen=True)
class Fault:
    id: str
    service: str
    method: str
    args: list[Any]  # "{db}", "{key}", "{partner}", "{deleted}" are filled in
    check: Callable[[dict[str, Any], dict[str, Any]], bool]  # (answer, the world's values)


def error(
    name: str, message: str | None = None, *, contains: str | None = None
) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    def check(body: dict[str, Any], values: dict[str, Any]) -> bool:
        err = body["error"]
        data = err["data"]
        return (
            err["code"] == 200
            and err["message"] == "Odoo Server Error"
            and data["name"] == name
            and (message is None or data["message"] == message)
            and (contains is None or contains in data["message"])
            and data["arguments"] == [data["message"]]
            and "result" not in body
        )

    return check


def kw(model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None, key: str = "{key}") -> list[Any]:
    return ["{db}", UID, key, model, method, args, kwargs or {}]


FAULTS = [
    Fault("common.version answers the server version and protocol", "common", "version", [],
          lambda b, v: b["result"]["server_version"] == "17.0" and b["result"]["protocol_version"] == 1),
    Fault("common.authenticate with a wrong key answers false, not an error", "common", "authenticate",
          ["{db}", "integration@example.com", "wrong", {}], lambda b, v: b["result"] is False),
    Fault("common.authenticate with the right key answers the uid", "common", "authenticate",
          ["{db}", "integration@example.com", "{key}", {}], lambda b, v: b["result"] == UID),
    Fault("a wrong API key is odoo.exceptions.AccessDenied", "object", "execute_kw",
          kw("res.partner", "search", [[]], key="wrong"), error("odoo.exceptions.AccessDenied", "Access Denied")),
    Fault("an unknown model is odoo.exceptions.UserError", "object", "execute_kw", kw("sale.order", "search", [[]]),
          error("odoo.exceptions.UserError", "Object sale.order doesn't exist")),
    Fault("an unknown method is AttributeError", "object", "execute_kw", kw("res.partner", "explode", [[]]),
          error("builtins.AttributeError", "The method 'explode' does not exist on the model 'res.partner'")),
    Fault("a private method is odoo.exceptions.AccessError", "object", "execute_kw",
          kw("res.partner", "_write", [[]]), error("odoo.exceptions.AccessError", contains="cannot be called remotely")),
    Fault("an object service method other than execute_kw is NameError", "object", "execute_dance",
          ["{db}", UID, "{key}"], error("builtins.NameError", "Method not available execute_dance")),
    Fault("an unknown common method is an Exception naming it", "common", "dance", [],
          error("builtins.Exception", "Method not found: dance")),
    Fault("a missing required field is odoo.exceptions.ValidationError", "object", "execute_kw",
          kw("res.partner", "create", [{"email": "nameless@example.com"}]),
          error("odoo.exceptions.ValidationError", contains="mandatory field is not set")),
    Fault("a selection value that does not exist is ValueError", "object", "execute_kw",
          kw("account.move", "create", [{"move_type": "bogus"}]),
          error("builtins.ValueError", "Wrong value for account.move.move_type: 'bogus'")),
    Fault("reading a deleted record is odoo.exceptions.MissingError", "object", "execute_kw",
          kw("res.partner", "read", [["{deleted}"], ["name"]]),
          error("odoo.exceptions.MissingError", contains="Record does not exist or has been deleted")),
    Fault("search_read answers the records with id and the fields asked for", "object", "execute_kw",
          kw("res.partner", "search_read", [[["name", "=", "Wood Corner"]]], {"fields": ["name", "email"]}),
          lambda b, v: b["result"] == [{"id": v["partner"], "name": "Wood Corner", "email": "wood@example.com"}]),
    Fault("write answers true", "object", "execute_kw",
          kw("res.partner", "write", [["{partner}"], {"ref": "WOOD-1"}]), lambda b, v: b["result"] is True),
    Fault("create with a list of values answers a list of ids", "object", "execute_kw",
          kw("res.partner", "create", [[{"name": "A"}, {"name": "B"}]]),
          lambda b, v: isinstance(b["result"], list) and len(b["result"]) == 2),
]


@pytest.fixture
def odoo(erp_sandbox: Any) -> tuple[str, dict[str, Any]]:
    partner, deleted = erp_sandbox.app.insert_records(
        "res.partner", [{"name": "Wood Corner", "email": "wood@example.com"}, {"name": "Gone Ltd"}]
    )
    erp_sandbox.app.orm.unlink("res.partner", [deleted])
    values = {"db": erp_sandbox.database, "key": erp_sandbox.access_token, "partner": partner, "deleted": deleted}
    return f"{erp_sandbox.url}/jsonrpc", values


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in values:
        return values[value[1:-1]]
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_documented_call(fault: Fault, odoo: tuple[str, dict[str, Any]]) -> None:
    url, values = odoo
    payload = {"jsonrpc": "2.0", "method": "call", "id": 41,
               "params": {"service": fault.service, "method": fault.method, "args": _fill(fault.args, values)}}
    response = requests.post(url, json=payload)
    assert response.status_code == 200  # Odoo answers RPC faults with HTTP 200
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 41  # the request's id, error or not
    assert fault.check(body, values), body


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(b'{"jsonrpc": "2.0", "params": ', "application/json", "Invalid JSON data",
                     id="a body that is not JSON is HTTP 400 Invalid JSON data"),
        pytest.param(b"[1, 2]", "application/json", "Invalid JSON-RPC data",
                     id="JSON that is not an object is HTTP 400 Invalid JSON-RPC data"),
        pytest.param(b'{"jsonrpc": "2.0"}', "text/plain",
                     "Request inferred type is compatible with [&#39;http&#39;] but &#39;/jsonrpc&#39; is type=&#39;json&#39;.",
                     id="a request that is not application/json is werkzeug's 400 page"),
    ],
)
def test_http_layer_refusal(body: bytes, content_type: str, expected: str, odoo: tuple[str, dict[str, Any]]) -> None:
    url, _ = odoo
    response = requests.post(url, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert expected in response.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_method_without_a_json_body_is_the_same_werkzeug_400(method: str, odoo: tuple[str, dict[str, Any]]) -> None:
    """``/jsonrpc`` is declared with no method list: a request of any method is typed by its body."""
    url, _ = odoo
    response = requests.request(method, url)
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert "but &#39;/jsonrpc&#39; is type=&#39;json&#39;." in response.text
