"""ERP sandbox: Odoo 17's external API over JSON-RPC (``POST /jsonrpc``).

Speaks the wire format of Odoo's ``/jsonrpc`` endpoint: ``common.version``,
``common.authenticate`` and ``object.execute_kw`` with ``search_read``,
``search``, ``search_count``, ``read``, ``create``, ``write``, ``unlink``,
``fields_get`` and ``action_post``. Credentials travel inside the call
(database, uid, API key) as in Odoo, so no bearer header is needed; a
wrong key answers Odoo's ``AccessDenied`` error object with HTTP 200.

Errors raised by the ORM (``ValidationError``, ``UserError``,
``MissingError``, ``ValueError``) come back as Odoo's JSON-RPC error
(``code`` 200, ``message`` "Odoo Server Error", ``data.name`` the class),
and so do the dispatch faults of Odoo 17's ``odoo.service``: an unknown
model is ``UserError`` "Object x doesn't exist", a private method
``AccessError``, an unknown ``object`` method ``NameError``, an unknown
``common`` method ``Exception`` "Method not found", an unknown service
``KeyError``. What Odoo's HTTP layer refuses before any RPC runs is not
JSON-RPC: a body that is not JSON (a compressed one too: Odoo does not
decode ``Content-Encoding``) is ``400`` "Invalid JSON data" (a JSON
value that is not an object, "Invalid JSON-RPC data"), a request that is not
``application/json`` a werkzeug ``400 Bad Request`` page, as Odoo answers.
Faults: 503 and 429 (``Retry-After``) over HTTP as a proxy in front of Odoo
would answer; an exhausted quota is 403 ``{"error": "quota_exceeded"}``;
``drop_after_write`` loses the answer of a successful create/write;
``invalid_values`` rejects a field's value with a ``ValidationError``.
"""

from __future__ import annotations

import copy
import html
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any

from connectors.sandbox.erp.orm import Orm, Row
from connectors.sandbox.erp.schema import (
    MODELS,
    OdooError,
    fields_get,
    get_model,
    user_error,
    validation_error,
)
from connectors.sandbox.http import DropConnection, SandboxApp, SandboxRequest, SandboxResponse

SERVER_VERSION = {
    "server_version": "17.0",
    "server_version_info": [17, 0, 0, "final", 0, ""],
    "server_serie": "17.0",
    "protocol_version": 1,
}
UID = 2  # Odoo's first real user after the superuser; the one integration users usually get
_WRITES = ("create", "write", "unlink", "action_post")
_JSON_TYPES = ("application/json", "application/json-rpc")
_RPC_SERVICES = ("common", "db", "object")


def werkzeug_error(status: int, description: str) -> SandboxResponse:
    """The HTML error page werkzeug (Odoo's HTTP layer) answers with."""
    phrase = HTTPStatus(status).phrase
    text = html.escape(description).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")  # markupsafe's escape
    page = (
        f"<!doctype html>\n<html lang=en>\n<title>{status} {phrase}</title>\n"
        f"<h1>{phrase}</h1>\n<p>{text}</p>\n"
    )
    return SandboxResponse.text(status, page, "text/html; charset=utf-8")


class ErpSandbox(SandboxApp):
    """An in-memory Odoo 17 speaking the external JSON-RPC API."""

    system = "erp"
    ignores_content_coding = True  # werkzeug hands Odoo the body as sent: a gzip body is "Invalid JSON data"

    def __init__(
        self,
        *,
        strict: bool = False,
        access_token: str = "sandbox-token",
        database: str = "prm",
        login: str = "prm-sync",
    ) -> None:
        super().__init__(strict=strict, access_token=access_token)
        self.database = database
        self.login = login
        self.clock: datetime | None = None  # set to freeze write_date; None = wall clock
        self.orm = Orm(self.now)
        self.route("POST", r"/jsonrpc", self._jsonrpc, "erp.jsonrpc")
        for method in ("GET", "PUT", "PATCH", "DELETE"):  # Odoo's route takes every method: the body decides
            self.route(method, r"/jsonrpc", self._jsonrpc, "erp.jsonrpc")

    # -- SandboxApp hooks ------------------------------------------------------------
    def authenticate(self, request: SandboxRequest) -> SandboxResponse | None:
        """Odoo authenticates each call from its arguments, not from a header."""
        return None

    def quota_exhausted_response(self) -> SandboxResponse:
        return SandboxResponse.json(403, {"error": "quota_exceeded", "message": "request quota exhausted"})

    def http_error_response(self, status: int, message: str) -> SandboxResponse:
        return werkzeug_error(status, message)

    def rate_limited_response(self) -> SandboxResponse:
        return SandboxResponse.json(
            429,
            {"error": "rate_limited", "message": "too many requests"},
            {"Retry-After": str(self.faults.retry_after_seconds)},
        )

    def unavailable_response(self) -> SandboxResponse:
        return SandboxResponse.text(
            503, "<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html"
        )

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    # -- helpers for tests, seeding and the demo (no faults, no auth) ----------------------
    def insert_records(self, model: str, rows: list[Row]) -> list[int]:
        with self.lock:
            return self.orm.create(model, copy.deepcopy(rows))

    def get_record(self, model: str, record_id: int) -> Row:
        """The raw stored row (many2one as an id or None)."""
        with self.lock:
            return copy.deepcopy(self.orm.browse(model, [record_id])[0])

    def all_records(self, model: str) -> list[Row]:
        with self.lock:
            get_model(model)
            return copy.deepcopy(sorted(self.orm.tables[model].values(), key=lambda r: r["id"]))

    def update_record(self, model: str, record_id: int, vals: Row) -> None:
        with self.lock:
            self.orm.write(model, [record_id], copy.deepcopy(vals))

    def register_payment(self, invoice_id: int, amount: float, day: date | str) -> int:
        """A posted inbound payment settling the invoice (Odoo's "Register Payment")."""
        return self._payment(invoice_id, amount, day, "inbound")

    def refund(self, invoice_id: int, amount: float, day: date | str) -> int:
        """Money sent back to the customer: a posted outbound payment linked to the invoice."""
        return self._payment(invoice_id, amount, day, "outbound")

    def credit_memo(self, invoice_id: int, amount: float, day: date | str) -> int:
        """A posted credit note reversing (part of) the invoice."""
        with self.lock:
            invoice = self.orm.browse("account.move", [invoice_id])[0]
            vals = {
                "move_type": "out_refund",
                "partner_id": invoice.get("partner_id") or False,
                "currency_id": invoice.get("currency_id") or 1,
                "ref": f"Reversal of: {invoice.get('name')}",
                "x_opportunity_ref": invoice.get("x_opportunity_ref") or False,
                "amount_total": amount,
                "invoice_date": str(day),
                "reversed_entry_id": invoice_id,
                "state": "posted",
            }
            return self.orm.create("account.move", [vals])[0]

    def pay_bill(self, bill_id: int, amount: float, day: date | str) -> int:
        """Accounts payable posts a vendor bill (if still a draft) and pays it: a supplier payment."""
        with self.lock:
            if self.orm.browse("account.move", [bill_id])[0].get("state") != "posted":
                self.orm.write("account.move", [bill_id], {"state": "posted"})
        return self._payment(bill_id, amount, day, "outbound", partner_type="supplier")

    def _payment(
        self, invoice_id: int, amount: float, day: date | str, payment_type: str, *, partner_type: str = "customer"
    ) -> int:
        with self.lock:
            invoice = self.orm.browse("account.move", [invoice_id])[0]
            vals = {
                "amount": amount,
                "payment_type": payment_type,
                "partner_type": partner_type,
                "partner_id": invoice.get("partner_id") or False,
                "currency_id": invoice.get("currency_id") or 1,
                "date": str(day),
                "x_invoice_ids": [invoice_id],
                "state": "posted",
            }
            return self.orm.create("account.payment", [vals])[0]

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "tables": {m: list(copy.deepcopy(rows).values()) for m, rows in self.orm.tables.items()},
                "next_id": dict(self.orm.next_id),
                "sequences": dict(self.orm.sequences),
                "last_stamp": self.orm.last_stamp,
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            orm = Orm(self.now)
            for model, rows in state.get("tables", {}).items():
                get_model(model)
                orm.tables[model] = {int(r["id"]): copy.deepcopy(r) for r in rows}
            orm.next_id.update({m: int(n) for m, n in state.get("next_id", {}).items()})
            orm.sequences = dict(state.get("sequences", {}))
            orm.last_stamp = str(state.get("last_stamp", ""))
            self.orm = orm

    # -- JSON-RPC ---------------------------------------------------------------------------
    def _jsonrpc(self, request: SandboxRequest) -> SandboxResponse:
        if request.media_type not in _JSON_TYPES:
            msg = "Request inferred type is compatible with ['http'] but '/jsonrpc' is type='json'."
            return werkzeug_error(400, msg)
        try:
            payload = request.json()
        except ValueError:  # UnicodeDecodeError is one too
            return SandboxResponse.text(400, "Invalid JSON data", "text/html; charset=utf-8")
        if not isinstance(payload, dict):
            return SandboxResponse.text(400, "Invalid JSON-RPC data", "text/html; charset=utf-8")
        call_id = payload.get("id")
        params = payload.get("params")
        params = params if isinstance(params, dict) else {}
        service, method, args = params.get("service"), params.get("method"), params.get("args")
        try:
            if service is None or method is None or args is None:
                missing = [n for n, v in (("service", service), ("method", method), ("args", args)) if v is None]
                msg = f"RPC.jsonrpc() missing {len(missing)} required positional argument(s): {', '.join(missing)}"
                raise OdooError("builtins.TypeError", msg)
            args = list(args)
            with self.lock:
                if service not in _RPC_SERVICES:
                    raise OdooError("builtins.KeyError", repr(service))
                if service == "common":
                    result = self._common(str(method), args)
                elif service == "object":
                    result = self._object(str(method), args)
                else:
                    raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")  # db service: no master password
        except OdooError as exc:
            return self._rpc_error(call_id, exc)
        if (
            service == "object"
            and len(args) > 4
            and args[4] in ("create", "write")
            and self.consume_write_drop()
        ):
            raise DropConnection
        return SandboxResponse.json(200, {"jsonrpc": "2.0", "id": call_id, "result": result})

    @staticmethod
    def _rpc_error(call_id: Any, exc: OdooError) -> SandboxResponse:
        error = {
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": exc.name,
                "debug": f"Traceback (most recent call last):\n{exc.name}: {exc.message}\n",
                "message": exc.message,
                "arguments": [exc.message],
                "context": {},
            },
        }
        return SandboxResponse.json(200, {"jsonrpc": "2.0", "id": call_id, "error": error})

    def _common(self, method: str, args: list[Any]) -> Any:
        if method == "version":
            return dict(SERVER_VERSION)
        if method in ("authenticate", "login"):
            if len(args) < 3:
                raise OdooError("builtins.TypeError", f"{method}() missing required positional arguments")
            db, login, key = args[0], args[1], args[2]
            self._check_db(db)
            return UID if (login == self.login and key == self.access_token) else False
        raise OdooError("builtins.Exception", f"Method not found: {method}")

    def _check_db(self, db: Any) -> None:
        if db != self.database:
            raise OdooError(
                "psycopg2.OperationalError",
                f'connection to server failed: FATAL:  database "{db}" does not exist',
            )

    def _object(self, method: str, args: list[Any]) -> Any:
        """``odoo.service.model.dispatch``: credentials first, then ``execute_kw``."""
        if len(args) < 3:
            raise OdooError("builtins.IndexError", "list index out of range")
        db, uid, key = args[:3]
        self._check_db(db)
        if uid != UID or key != self.access_token:
            raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
        if method != "execute_kw":
            raise OdooError("builtins.NameError", f"Method not available {method}")
        if len(args) < 5:
            raise OdooError("builtins.TypeError", "execute_kw() needs db, uid, password, model, method")
        return self._execute_kw(args)

    def _execute_kw(self, args: list[Any]) -> Any:
        model, method = args[3], args[4]
        positional = list(args[5]) if len(args) > 5 and args[5] is not None else []
        kwargs = dict(args[6]) if len(args) > 6 and args[6] else {}
        if str(method).startswith("_"):
            msg = f"Private methods (such as '{model}.{method}') cannot be called remotely."
            raise OdooError("odoo.exceptions.AccessError", msg)
        if str(model) not in MODELS:
            raise user_error(f"Object {model} doesn't exist")
        if method in _WRITES and method != "unlink":
            self._inject_invalid(method, positional)
        return self._call(str(model), str(method), positional, kwargs)

    def _inject_invalid(self, method: str, positional: list[Any]) -> None:
        """``invalid_values`` fault: the named field rejects the listed values."""
        if method == "create" and positional:
            rows = positional[0] if isinstance(positional[0], list) else [positional[0]]
        elif method == "write" and len(positional) > 1:
            rows = [positional[1]]
        else:
            return
        for vals in rows:
            for name, value in (vals or {}).items() if isinstance(vals, dict) else ():
                if self.invalid_value(name, value):
                    raise validation_error(f"Invalid value for field '{name}': {value!r} is not accepted.")

    def _call(self, model: str, method: str, positional: list[Any], kwargs: dict[str, Any]) -> Any:
        orm = self.orm
        names = ("domain", "fields", "offset", "limit", "order")
        if method in ("search_read", "search", "search_count"):
            bound = dict(
                zip(
                    names if method == "search_read" else ("domain", "offset", "limit", "order"),
                    positional,
                    strict=False,
                )
            )
            bound.update(kwargs)
            domain = bound.get("domain") or []
            if method == "search_count":
                return len(orm.search(model, domain, limit=bound.get("limit")))
            ids = orm.search(
                model,
                domain,
                offset=bound.get("offset") or 0,
                limit=bound.get("limit"),
                order=bound.get("order"),
            )
            if method == "search":
                return ids
            return orm.read(model, ids, bound.get("fields") or None)
        if method == "read":
            ids = positional[0] if positional else kwargs.get("ids", [])
            fields = positional[1] if len(positional) > 1 else kwargs.get("fields")
            return orm.read(model, ids, fields or None)
        if method == "create":
            vals = positional[0] if positional else kwargs.get("vals_list")
            if isinstance(vals, list):
                return orm.create(model, vals)
            return orm.create(model, [vals])[0]
        if method == "write":
            if len(positional) < 2:
                raise OdooError("builtins.TypeError", "write() takes ids and a dict of values")
            orm.write(
                model, positional[0] if isinstance(positional[0], list) else [positional[0]], positional[1]
            )
            return True
        if method == "unlink":
            orm.unlink(model, positional[0] if positional else [])
            return True
        if method == "fields_get":
            allfields = positional[0] if positional else kwargs.get("allfields")
            return fields_get(MODELS[model], allfields, kwargs.get("attributes"))
        if method == "action_post" and model in ("account.move", "account.payment"):
            rows = orm.browse(model, positional[0] if positional else [])
            orm.write(model, [r["id"] for r in rows], {"state": "posted"})
            return True
        raise OdooError(
            "builtins.AttributeError", f"The method '{method}' does not exist on the model '{model}'"
        )
