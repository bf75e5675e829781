"""How the ERP sandbox settles invoices: residuals and payment states.

A simplified but faithful picture of Odoo's reconciliation, recomputed
from scratch after every change to ``account.move`` or ``account.payment``:

* a posted credit memo (``out_refund`` with ``reversed_entry_id``) first
  reduces its original invoice's residual (never below zero; any excess
  stays open on the memo as customer credit); a vendor credit note
  (``in_refund``) reversing a vendor bill does the same to the bill;
* posted payments then settle the documents in their ``x_invoice_ids`` in
  id order, oldest payment first: inbound payments settle customer
  invoices and vendor credit notes (the vendor pays us back), outbound
  payments settle credit memos and vendor bills;
* an outbound payment linked to a customer invoice is a refund (money sent
  back): like in Odoo it leaves that invoice's residual alone — pair it
  with a credit memo when the customer no longer owes the amount.

``payment_state``: ``reversed`` when credit memos alone cover an invoice's total,
``paid`` at zero residual, ``partial`` when something was settled,
``not_paid`` otherwise (and always for drafts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SETTLED_BY = {"out_invoice": "inbound", "out_refund": "outbound", "in_invoice": "outbound", "in_refund": "inbound"}
REVERSES = {"out_refund": "out_invoice", "in_refund": "in_invoice"}  # credit note -> what it may reverse
EPSILON = 0.005


@dataclass
class Settlement:
    kind: str
    total: float
    credited: float = 0.0
    paid: float = 0.0

    @property
    def residual(self) -> float:
        return round(max(self.total - self.credited - self.paid, 0.0), 2)

    def state(self) -> str:
        if (
            self.kind in ("out_invoice", "in_invoice")
            and self.credited > 0
            and self.credited + EPSILON >= self.total
            and self.paid == 0
        ):
            return "reversed"
        if self.residual < EPSILON:
            return "paid"
        if self.paid > 0 or self.credited > 0:
            return "partial"
        return "not_paid"


def settle(
    moves: dict[int, dict[str, Any]], payments: dict[int, dict[str, Any]]
) -> dict[int, tuple[float, str]]:
    """``move id -> (amount_residual, payment_state)`` for every move."""
    books = {
        move_id: Settlement(kind=move["move_type"], total=float(move.get("amount_total") or 0.0))
        for move_id, move in moves.items()
        if move.get("state") == "posted" and move.get("move_type") in SETTLED_BY
    }
    for memo_id in sorted(books):
        memo = moves[memo_id]
        original = books.get(memo.get("reversed_entry_id") or 0)
        if memo["move_type"] not in REVERSES or original is None:
            continue
        applied = min(books[memo_id].total, original.residual)
        original.credited += applied
        books[memo_id].credited += applied  # the part of the memo used up against the invoice
    posted = sorted(
        (p for p in payments.values() if p.get("state") == "posted"),
        key=lambda p: (str(p.get("date") or ""), p["id"]),
    )
    for payment in posted:
        left = float(payment.get("amount") or 0.0)
        for move_id in sorted(payment.get("x_invoice_ids") or []):
            book = books.get(move_id)
            if (
                book is None
                or left < EPSILON
                or SETTLED_BY[moves[move_id]["move_type"]] != payment["payment_type"]
            ):
                continue
            take = min(left, book.residual)
            book.paid += take
            left -= take
    result: dict[int, tuple[float, str]] = {}
    for move_id, move in moves.items():
        book = books.get(move_id)
        if book is None:
            result[move_id] = (round(float(move.get("amount_total") or 0.0), 2), "not_paid")
        else:
            result[move_id] = (book.residual, book.state())
    return result
