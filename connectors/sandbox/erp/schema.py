"""The models and fields the ERP sandbox knows, shaped like Odoo 17's ``fields_get``.

Only what prm-sync touches is modelled (see ``connectors/sandbox/README.md``):
``res.partner``, ``account.move``, ``account.payment`` and ``res.currency``
(the target of ``currency_id``). Every model also has Odoo's magic fields
``id``, ``display_name``, ``create_date`` and ``write_date``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class OdooError(Exception):
    """An error Odoo reports inside a JSON-RPC ``error`` object.

    ``name`` is the Python class path Odoo puts in ``error.data.name``
    (``odoo.exceptions.ValidationError``, ``builtins.ValueError`` ...).
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def validation_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.ValidationError", message)


def user_error(message: str) -> OdooError:
    return OdooError("odoo.exceptions.UserError", message)


def value_error(message: str) -> OdooError:
    return OdooError("builtins.ValueError", message)


def missing_error(model: str, ids: list[int]) -> OdooError:
    record = f"{model}({', '.join(str(i) for i in ids)},)"
    return OdooError(
        "odoo.exceptions.MissingError",
        f"Record does not exist or has been deleted.\n(Record: {record}, User: 2)",
    )


@dataclass(frozen=True)
class OdooField:
    """One field: Odoo's type name plus the attributes ``fields_get`` reports."""

    name: str
    type: str  # char, boolean, integer, float, monetary, date, datetime, selection, many2one, many2many
    string: str
    required: bool = False
    readonly: bool = False
    relation: str | None = None
    selection: tuple[tuple[str, str], ...] = ()
    default: Any = None
    computed: bool = False  # recomputed by the server; client values are ignored

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.type,
            "string": self.string,
            "required": self.required,
            "readonly": self.readonly or self.computed,
            "store": True,
            "searchable": True,
            "sortable": self.type != "many2many",
        }
        if self.relation:
            info["relation"] = self.relation
        if self.selection:
            info["selection"] = [list(pair) for pair in self.selection]
        return info


@dataclass(frozen=True)
class OdooModel:
    name: str
    description: str
    fields: dict[str, OdooField] = field(default_factory=dict)


def _model(name: str, description: str, *fields: OdooField) -> OdooModel:
    magic = (
        OdooField("id", "integer", "ID", readonly=True, computed=True),
        OdooField("display_name", "char", "Display Name", readonly=True, computed=True),
        OdooField("create_date", "datetime", "Created on", readonly=True, computed=True),
        OdooField("write_date", "datetime", "Last Updated on", readonly=True, computed=True),
    )
    return OdooModel(name, description, {f.name: f for f in (*magic, *fields)})


_STATE = (("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled"))

MODELS: dict[str, OdooModel] = {
    m.name: m
    for m in (
        _model(
            "res.currency",
            "Currency",
            OdooField("name", "char", "Currency", required=True),
            OdooField("symbol", "char", "Symbol"),
        ),
        _model(
            "res.partner",
            "Contact",
            OdooField("name", "char", "Name", required=True),
            OdooField("ref", "char", "Reference"),
            OdooField("email", "char", "Email"),
            OdooField("is_company", "boolean", "Is a Company", default=False),
            OdooField("x_prm_id", "char", "PRM Id"),
        ),
        _model(
            "account.move",
            "Journal Entry",
            OdooField("name", "char", "Number"),
            OdooField("ref", "char", "Reference"),
            OdooField(
                "move_type",
                "selection",
                "Type",
                required=True,
                default="entry",
                selection=(
                    ("entry", "Journal Entry"),
                    ("out_invoice", "Customer Invoice"),
                    ("out_refund", "Customer Credit Note"),
                    ("in_invoice", "Vendor Bill"),
                    ("in_refund", "Vendor Credit Note"),
                ),
            ),
            OdooField("partner_id", "many2one", "Partner", relation="res.partner"),
            OdooField("x_opportunity_ref", "char", "Opportunity (CRM id)"),
            OdooField("x_prm_id", "char", "PRM Id"),
            OdooField("amount_total", "monetary", "Total", default=0.0),
            OdooField("amount_residual", "monetary", "Amount Due", computed=True),
            OdooField(
                "currency_id", "many2one", "Currency", required=True, relation="res.currency", default=1
            ),
            OdooField("state", "selection", "Status", required=True, default="draft", selection=_STATE),
            OdooField(
                "payment_state",
                "selection",
                "Payment Status",
                computed=True,
                selection=(
                    ("not_paid", "Not Paid"),
                    ("in_payment", "In Payment"),
                    ("paid", "Paid"),
                    ("partial", "Partially Paid"),
                    ("reversed", "Reversed"),
                    ("invoicing_legacy", "Invoicing App Legacy"),
                ),
            ),
            OdooField("invoice_date", "date", "Invoice/Bill Date"),
            OdooField("reversed_entry_id", "many2one", "Reversal of", relation="account.move"),
        ),
        _model(
            "account.payment",
            "Payments",
            OdooField("name", "char", "Number"),
            OdooField("amount", "monetary", "Amount", required=True),
            OdooField(
                "payment_type",
                "selection",
                "Payment Type",
                required=True,
                default="inbound",
                selection=(("outbound", "Send"), ("inbound", "Receive")),
            ),
            OdooField("partner_id", "many2one", "Customer/Vendor", relation="res.partner"),
            OdooField(
                "partner_type",
                "selection",
                "Partner Type",
                required=True,
                default="customer",
                selection=(("customer", "Customer"), ("supplier", "Vendor")),
            ),
            OdooField("date", "date", "Date"),
            OdooField("x_invoice_ids", "many2many", "Invoices", relation="account.move"),
            OdooField(
                "currency_id", "many2one", "Currency", required=True, relation="res.currency", default=1
            ),
            OdooField("state", "selection", "Status", required=True, default="draft", selection=_STATE),
        ),
    )
}

SEED_CURRENCIES = (("USD", "$"), ("EUR", "€"), ("GBP", "£"))


def get_model(name: str) -> OdooModel:
    """The model definition, or the KeyError Odoo's registry raises for an unknown model."""
    model = MODELS.get(name)
    if model is None:
        raise OdooError("builtins.KeyError", f"'{name}'")
    return model


def get_field(model: OdooModel, name: str) -> OdooField:
    found = model.fields.get(name)
    if found is None:
        raise value_error(f"Invalid field '{name}' on model '{model.name}'")
    return found


def fields_get(model: OdooModel, allfields: list[str] | None, attributes: list[str] | None) -> dict[str, Any]:
    names = allfields or list(model.fields)
    result: dict[str, Any] = {}
    for name in names:
        info = get_field(model, name).describe()
        result[name] = {k: v for k, v in info.items() if not attributes or k in attributes}
    return result
