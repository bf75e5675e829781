"""The ERP sandbox's in-memory ORM: typed records, validation, ``write_date``.

Behaves like the slice of Odoo's ORM the external API exposes: ``create``
(one dict or a list, atomic), ``write`` (same values to many ids),
``unlink``, ``read`` (many2one as ``[id, display_name]``, empty as
``False``) and ``search`` (domain, offset, limit, order). Records are kept
in their raw form (many2one as an id or ``None``). Every change stamps
``write_date`` ("YYYY-MM-DD HH:MM:SS", UTC, never decreasing; ``clock``
freezes it) and re-settles invoices, bumping the ``write_date`` of any
invoice whose residual or payment state changed, as Odoo's stored computed
fields do.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from connectors.sandbox.erp.accounting import REVERSES, settle
from connectors.sandbox.erp.domain import compile_domain, parse_order, sort_rows
from connectors.sandbox.erp.schema import (
    MODELS,
    SEED_CURRENCIES,
    OdooField,
    OdooModel,
    get_field,
    get_model,
    missing_error,
    user_error,
    validation_error,
    value_error,
)

Row = dict[str, Any]
WRITE_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_SEQUENCE_PREFIX = {"out_invoice": "INV", "out_refund": "RINV", "in_invoice": "BILL", "in_refund": "RBILL", "entry": "MISC"}


class Orm:
    """Tables of raw rows per model plus the rules Odoo enforces on them."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.tables: dict[str, dict[int, Row]] = {name: {} for name in MODELS}
        self.next_id: dict[str, int] = dict.fromkeys(MODELS, 1)
        self.sequences: dict[str, int] = {}
        self.last_stamp: str = ""
        self.create("res.currency", [{"name": code, "symbol": symbol} for code, symbol in SEED_CURRENCIES])
        self.last_stamp = ""  # seed data must not pin write_date to the wall clock for a frozen test clock

    # -- stamps and names -----------------------------------------------------------
    def stamp(self) -> str:
        current = self.now().astimezone(UTC).strftime(WRITE_DATE_FORMAT)
        self.last_stamp = max(current, self.last_stamp)
        return self.last_stamp

    def display_name(self, model: str, record_id: int | None) -> str | None:
        row = self.tables.get(model, {}).get(record_id or 0)
        return None if row is None else str(row.get("name") or f"{model},{record_id}")

    def _sequence(self, prefix: str, day: str | None) -> str:
        year = (day or self.now().strftime("%Y-%m-%d"))[:4]
        key = f"{prefix}/{year}"
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return f"{key}/{self.sequences[key]:05d}"

    # -- validation -------------------------------------------------------------------
    def _convert(self, model: OdooModel, fld: OdooField, value: Any) -> Any:
        """Check one incoming value against its field type; return the raw stored form."""
        if fld.type == "boolean":
            return bool(value)
        if value is False or value is None:
            if fld.type == "many2many":
                return []
            return None
        if fld.type in ("char", "selection"):
            if not isinstance(value, str):
                raise value_error(f"Wrong value for {model.name}.{fld.name}: {value!r}")
            if fld.type == "selection" and value not in {key for key, _ in fld.selection}:
                raise value_error(f"Wrong value for {model.name}.{fld.name}: {value!r}")
            return value
        if fld.type in ("float", "monetary", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise value_error(f"Wrong value for {model.name}.{fld.name}: {value!r} is not a number")
            return round(float(value), 2) if fld.type == "monetary" else value
        if fld.type == "date":
            try:
                return date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise value_error(f"time data {value!r} does not match format '%Y-%m-%d'") from None
        if fld.type == "many2one":
            if isinstance(value, bool) or not isinstance(value, int):
                raise value_error(
                    f"Wrong value for {model.name}.{fld.name}: expected a record id, got {value!r}"
                )
            if value not in self.tables[fld.relation or ""]:
                raise missing_error(fld.relation or "", [value])
            return value
        if fld.type == "many2many":
            return self._m2m_ids(model, fld, value)
        raise value_error(f"Field {model.name}.{fld.name} of type {fld.type} cannot be written")

    def _m2m_ids(
        self, model: OdooModel, fld: OdooField, value: Any, current: list[int] | None = None
    ) -> list[int]:
        """Plain id lists and the x2many commands 6 (set), 4 (link), 3 (unlink), 5 (clear)."""
        if not isinstance(value, list):
            raise value_error(f"Wrong value for {model.name}.{fld.name}: {value!r}")
        ids = list(current or [])
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                command: list[Any] = [4, item]
            elif isinstance(item, list | tuple) and item and item[0] in (3, 4, 5, 6):
                command = list(item)
            else:
                raise value_error(f"Wrong value for {model.name}.{fld.name}: unsupported command {item!r}")
            if command[0] == 6:
                ids = list(command[2])
            elif command[0] == 5:
                ids = []
            elif command[0] == 4 and command[1] not in ids:
                ids.append(command[1])
            elif command[0] == 3 and command[1] in ids:
                ids.remove(command[1])
        missing = [i for i in ids if i not in self.tables[fld.relation or ""]]
        if missing:
            raise missing_error(fld.relation or "", missing)
        return ids

    def _clean(self, model: OdooModel, vals: Any, current: Row | None = None) -> Row:
        if not isinstance(vals, dict):
            raise value_error(f"Expected a dict of field values for {model.name}, got {vals!r}")
        clean: Row = {}
        for name, value in vals.items():
            fld = get_field(model, name)
            if fld.computed:
                continue  # like Odoo, a computed field is recomputed whatever the client sends
            if fld.type == "many2many" and current is not None:
                clean[name] = self._m2m_ids(model, fld, value, current.get(name))
            else:
                clean[name] = self._convert(model, fld, value)
        return clean

    def _check_rules(self, model: str, row: Row) -> None:
        """Constraints Odoo enforces with ValidationError / UserError."""
        spec = MODELS[model]
        for fld in spec.fields.values():
            if fld.required and row.get(fld.name) in (None, ""):
                raise validation_error(
                    "The operation cannot be completed: a mandatory field is not set. "
                    f"Model: {spec.description} ({model}), Field: {fld.string} ({fld.name})"
                )
        if model == "account.move":
            if (row.get("amount_total") or 0) < 0:
                raise validation_error("The total of a journal entry cannot be negative.")
            reversed_id = row.get("reversed_entry_id")
            if reversed_id and row.get("move_type") not in REVERSES:
                raise user_error("Only a credit note (out_refund, in_refund) can reverse an invoice or a bill.")
            if reversed_id and self.tables[model][reversed_id]["move_type"] != REVERSES[row["move_type"]]:
                raise user_error("A customer credit note reverses a customer invoice, a vendor credit note a vendor bill.")
        if model == "account.payment":
            if (row.get("amount") or 0) <= 0:
                raise validation_error("The payment amount must be strictly positive.")
            if row.get("state") == "posted":
                moves = self.tables["account.move"]
                if any(moves[i]["state"] != "posted" for i in row.get("x_invoice_ids") or []):
                    raise user_error("You can only register payments for posted journal entries.")

    # -- CRUD ---------------------------------------------------------------------------
    def create(self, model: str, vals_list: list[Any]) -> list[int]:
        """Validate every row first, then insert them all (one bad row inserts nothing)."""
        spec = get_model(model)
        prepared: list[Row] = []
        for vals in vals_list:
            row = {
                n: (copy.deepcopy(f.default) if f.type != "many2many" else []) for n, f in spec.fields.items()
            }
            row.update(self._clean(spec, vals))
            self._check_rules(model, row)
            prepared.append(row)
        stamp = self.stamp()
        ids: list[int] = []
        for row in prepared:
            row["id"] = self.next_id[model]
            self.next_id[model] += 1
            row["create_date"] = row["write_date"] = stamp
            if model == "account.move" and not row.get("name"):
                prefix = _SEQUENCE_PREFIX[row["move_type"]]
                row["name"] = self._sequence(prefix, row.get("invoice_date"))
            if model == "account.payment" and not row.get("name"):
                row["name"] = self._sequence("PBNK1", row.get("date"))
            row["display_name"] = str(row.get("name") or "")
            self.tables[model][row["id"]] = row
            ids.append(row["id"])
        self.resettle(model)
        return ids

    def write(self, model: str, ids: list[int], vals: Any) -> None:
        spec = get_model(model)
        rows = self.browse(model, ids)
        updated = []
        for row in rows:
            candidate = {**row, **self._clean(spec, vals, row)}
            self._check_rules(model, candidate)
            updated.append(candidate)
        stamp = self.stamp()
        for candidate in updated:
            candidate["write_date"] = stamp
            candidate["display_name"] = str(candidate.get("name") or "")
            self.tables[model][candidate["id"]] = candidate
        self.resettle(model)

    def unlink(self, model: str, ids: list[int]) -> None:
        rows = self.browse(model, ids)
        for row in rows:
            if model in ("account.move", "account.payment") and row.get("state") == "posted":
                raise user_error("You cannot delete an entry which has been posted once.")
            for other_model, spec in MODELS.items():
                for fld in spec.fields.values():
                    if fld.relation != model:
                        continue
                    for other in self.tables[other_model].values():
                        value = other.get(fld.name)
                        if value == row["id"] or (isinstance(value, list) and row["id"] in value):
                            raise user_error(
                                "The operation cannot be completed: another model requires the record "
                                f"being deleted. Model: {spec.description} ({other_model}), "
                                f"Constraint: {fld.name}"
                            )
        for row in rows:
            del self.tables[model][row["id"]]
        self.resettle(model)

    def browse(self, model: str, ids: Any) -> list[Row]:
        get_model(model)
        if isinstance(ids, int) and not isinstance(ids, bool):
            ids = [ids]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise value_error(f"Expected a list of record ids, got {ids!r}")
        missing = [i for i in ids if i not in self.tables[model]]
        if missing:
            raise missing_error(model, missing)
        return [self.tables[model][i] for i in ids]

    def read(self, model: str, ids: Any, fields: list[str] | None) -> list[Row]:
        spec = get_model(model)
        names = list(fields or spec.fields)
        for name in names:
            get_field(spec, name)
        if "id" not in names:
            names.insert(0, "id")
        return [self.render(spec, row, names) for row in self.browse(model, ids)]

    def render(self, spec: OdooModel, row: Row, names: list[str]) -> Row:
        out: Row = {}
        for name in names:
            fld = spec.fields[name]
            value = row.get(name)
            if fld.type == "many2one":
                out[name] = [value, self.display_name(fld.relation or "", value)] if value else False
            elif fld.type == "many2many":
                out[name] = list(value or [])
            elif fld.type == "boolean":
                out[name] = bool(value)
            else:
                out[name] = False if value is None else value
        return out

    def search(
        self, model: str, domain: Any, *, offset: int = 0, limit: int | None = None, order: str | None = None
    ) -> list[int]:
        spec = get_model(model)
        predicate = compile_domain(spec, domain, self.display_name)
        keys = parse_order(spec, order)
        if not isinstance(offset, int) or offset < 0 or (limit is not None and not isinstance(limit, int)):
            raise value_error(f"Invalid offset/limit: {offset!r}/{limit!r}")
        rows = sort_rows([r for r in self.tables[model].values() if predicate(r)], keys)
        rows = rows[offset:]
        if limit:
            rows = rows[:limit]
        return [r["id"] for r in rows]

    # -- accounting -------------------------------------------------------------------
    def resettle(self, model: str) -> None:
        """Recompute residuals/payment states; only changed invoices get a new ``write_date``."""
        if model not in ("account.move", "account.payment"):
            return
        moves = self.tables["account.move"]
        outcome = settle(moves, self.tables["account.payment"])
        changed = [
            i
            for i, (residual, state) in outcome.items()
            if (moves[i].get("amount_residual"), moves[i].get("payment_state")) != (residual, state)
        ]
        if not changed:
            return
        stamp = self.stamp()
        for move_id in changed:
            residual, state = outcome[move_id]
            moves[move_id].update(amount_residual=residual, payment_state=state, write_date=stamp)
