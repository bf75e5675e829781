"""Commission payouts: accrued only on money actually paid, clawed back on refunds.

Commission earned on an attribution is its amount times the share of the
opportunity's invoices paid: customer payments less refunds, over the
invoiced total, capped at what credit notes (Odoo ``out_refund``) and credit
memos leave collectible.

Each payout is one ERP document, a partner's due for a period:

* what the partner has earned up to the end of the period, minus every other
  payout document (bills less clawbacks) already written for them;
* positive: a vendor **bill** (``in_invoice``) of that amount; negative: a
  **clawback**, written as a vendor **credit note** (``in_refund``) of the
  amount owed back, which finance nets against the partner's next bill;
* the period's payout is recomputed in place while it is pending (re-runs
  are idempotent). Once the ERP says it is paid (or submitted), it is never
  rewritten: a refund that lands afterwards is a new adjustment payout in the
  current period (``<period>#1``, ``#2``...), so the clawback is visible in
  the ERP the day it happens, not at the next month's run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.errors import UsageError
from prm_sync.model import Attribution, Invoice, InvoiceKind, Payout, PayoutKind, PayoutStatus
from prm_sync.rules.recording import record_decision
from prm_sync.store.orm import AttributionRow, InvoiceRow, PaymentRow, PayoutRow, RecordExternalIdRow
from prm_sync.store.records import chunks, get_record, save_record, to_record

CENT = Decimal("0.01")
ZERO = Decimal("0")


def period_of(when: datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def period_end(period: str) -> datetime:
    """First instant after the period ("2026-11" -> 2026-12-01T00:00Z)."""
    try:
        year, month = (int(p) for p in period.split("-"))
    except ValueError:
        msg = f"payout period {period!r} must look like YYYY-MM"
        raise UsageError(msg) from None
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def payout_id(partner_id: str, period: str) -> str:
    return "pout_" + hashlib.sha1(f"{partner_id}|{period}".encode()).hexdigest()[:20]


def paid_ratio(session: Session, opportunity_id: str, until: datetime) -> Decimal:
    """Share of the opportunity's invoiced amount paid by ``until``, in [0, 1].

    Paid: customer payments on its invoices less refunds (on the invoices or
    on their credit notes). Collectible: the invoiced total less credit notes
    and credit memos issued by then; nothing beyond it is ever earned.
    """
    documents = session.scalars(select(InvoiceRow).where(
        InvoiceRow.opportunity_id == opportunity_id, InvoiceRow.status != "void")).all()
    invoices = [d for d in documents if d.kind == InvoiceKind.invoice.value]
    total = sum((inv.amount for inv in invoices), ZERO)
    if total <= 0:
        return ZERO
    credited = sum((d.amount for d in documents if d.kind == InvoiceKind.credit_note.value
                    and datetime.combine(d.issued_at, time(), UTC) < until), ZERO)
    paid = ZERO
    ids = [d.id for d in documents]
    for row in session.scalars(select(PaymentRow).where(PaymentRow.invoice_id.in_(ids), PaymentRow.paid_at < until)):
        if row.kind == "payment":
            paid += row.amount
        elif row.kind == "refund":
            paid -= abs(row.amount)
        else:  # credit memo: the customer owes less, so less can ever be earned
            credited += abs(row.amount)
    collectible = max(ZERO, total - credited)
    return max(ZERO, min(paid, collectible)) / total


def link_invoices_to_new_deals(session: Session, opportunity_ids: set[str], now: datetime, *,
                               run_id: str | None = None) -> set[str]:
    """Invoices that named one of these deals by its CRM id before the deal reached the PRM now point at it.

    Finance can invoice a deal (``x_opportunity_ref``: its Salesforce or HubSpot
    id) before the sync has pulled it: the invoice is stored with that id, which
    names no PRM opportunity, and is not read again unless it changes in the ERP.
    Without this its payments would never count towards the partner's
    commission. Returns the invoices re-pointed.
    """
    refs: dict[str, str] = {}
    for part in chunks(sorted(opportunity_ids)):
        refs.update(session.execute(select(RecordExternalIdRow.remote_id, RecordExternalIdRow.record_id).where(
            RecordExternalIdRow.entity == "opportunity", RecordExternalIdRow.record_id.in_(part))).tuples().all())
    changed: set[str] = set()
    for part in chunks(sorted(refs)):
        for row in session.scalars(select(InvoiceRow).where(InvoiceRow.opportunity_id.in_(part))).all():
            invoice = to_record(row)
            if not isinstance(invoice, Invoice) or invoice.opportunity_id is None:
                continue
            deal = refs[invoice.opportunity_id]
            save_record(session, invoice.model_copy(update={"opportunity_id": deal, "updated_at": now}))
            record_decision(session, action="invoice.opportunity", entity=Invoice.entity, record_id=invoice.id,
                            rule="payouts.accrual", now=now, run_id=run_id,
                            reason=f"{invoice.number} named the deal by its CRM id {invoice.opportunity_id}, "
                                   "which reached the PRM after the invoice",
                            before={"opportunity_id": invoice.opportunity_id}, after={"opportunity_id": deal})
            changed.add(invoice.id)
    return changed


def settle_invoices(session: Session, invoice_ids: set[str], now: datetime, *, run_id: str | None = None) -> int:
    """``amount_paid`` of these invoices from their payments (less refunds); returns how many changed.

    The ERP's payment state says paid or not; ``amount_paid`` says how much,
    which is what partial payments and commission reports need. On a credit
    note it is what was refunded in cash.
    """
    changed = 0
    for part in chunks(sorted(invoice_ids)):
        payments: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for row in session.scalars(select(PaymentRow).where(PaymentRow.invoice_id.in_(part))).all():
            sign = {"payment": 1, "refund": -1}.get(row.kind, 0)
            payments[row.invoice_id] += sign * abs(row.amount)
        for row in session.scalars(select(InvoiceRow).where(InvoiceRow.id.in_(part))).all():
            value = payments[row.id]
            value = abs(value) if row.kind == InvoiceKind.credit_note.value else max(value, ZERO)
            invoice = to_record(row)
            if not isinstance(invoice, Invoice) or invoice.amount_paid == value:
                continue
            save_record(session, invoice.model_copy(update={"amount_paid": value, "updated_at": now}))
            record_decision(session, action="invoice.amount_paid", entity=Invoice.entity, record_id=invoice.id,
                            rule="payouts.accrual", reason=f"payments less refunds on {invoice.number}", now=now,
                            run_id=run_id, before={"amount_paid": invoice.amount_paid}, after={"amount_paid": value})
            changed += 1
    return changed


def earned(session: Session, attributions: list[Attribution], until: datetime) -> dict[str, Decimal]:
    """Commission earned per attribution by ``until``; reversed attributions earn nothing."""
    ratios: dict[str, Decimal] = {}
    out: dict[str, Decimal] = {}
    for att in attributions:
        if att.reversed:
            out[att.id] = ZERO
            continue
        if att.opportunity_id not in ratios:
            ratios[att.opportunity_id] = paid_ratio(session, att.opportunity_id, until)
        out[att.id] = (att.amount * ratios[att.opportunity_id]).quantize(CENT, ROUND_HALF_UP)
    return out


def compute_payouts(session: Session, period: str, now: datetime, *, run_id: str | None = None) -> list[Payout]:
    """The period's payout per partner with commission: recomputed, created as an adjustment, or as it stands."""
    until = min(period_end(period), now)
    by_partner: dict[str, list[Attribution]] = defaultdict(list)
    for row in session.scalars(select(AttributionRow)):
        att = to_record(row)
        if isinstance(att, Attribution):
            by_partner[att.partner_id].append(att)
    results: list[Payout] = []
    for partner_id, atts in sorted(by_partner.items()):
        payout = _partner_payout(session, partner_id, atts, period, until, now, run_id)
        if payout is not None:
            results.append(payout)
    return results


def _partner_payout(session: Session, partner_id: str, atts: list[Attribution], period: str, until: datetime,
                    now: datetime, run_id: str | None) -> Payout | None:
    rows = session.scalars(select(PayoutRow).where(
        PayoutRow.partner_id == partner_id, PayoutRow.period <= period,
        PayoutRow.status != PayoutStatus.cancelled.value).order_by(PayoutRow.created_at, PayoutRow.id)).all()
    this_period = [r for r in rows if r.period == period]
    target = next((r for r in this_period if r.status == PayoutStatus.pending.value), None)
    existing = get_record(session, Payout.entity, target.id) if target is not None else None
    settled = sum((r.amount - r.clawback for r in rows if r is not target), ZERO)
    now_earned = earned(session, atts, until)
    total_earned = sum(now_earned.values(), ZERO)
    due = total_earned - settled
    if not isinstance(existing, Payout):
        if due == 0:  # nothing owed either way: the period's latest document, if any, stands
            return to_record(this_period[-1]) if this_period else None  # type: ignore[return-value]
        sequence = len(this_period)  # the period's documents are frozen: this one adjusts them
        pid = payout_id(partner_id, period if sequence == 0 else f"{period}#{sequence}")
    else:
        pid = existing.id
    payout = Payout(
        id=pid, partner_id=partner_id, kind=PayoutKind.bill if due >= 0 else PayoutKind.credit_note,
        amount=max(due, ZERO), clawback=max(-due, ZERO), currency=atts[0].currency, period=period,
        status=PayoutStatus.pending, attribution_ids=sorted(a for a, v in now_earned.items() if v != 0),
        external_ids=existing.external_ids if isinstance(existing, Payout) else {},
        created_at=existing.created_at if isinstance(existing, Payout) else now, updated_at=now,
    )
    if isinstance(existing, Payout) and (existing.kind, existing.amount, existing.clawback, existing.attribution_ids) == (
            payout.kind, payout.amount, payout.clawback, payout.attribution_ids):
        return existing
    save_record(session, payout)
    reason = f"earned {total_earned} on paid invoices to {until.date().isoformat()}, less {settled} in earlier payouts"
    if payout.clawback:
        reason += f"; refunds and credit notes exceed what was paid out by {payout.clawback}: clawed back"
    if existing is None and this_period:
        reason += f" (the period's payout is already {this_period[-1].status}: this adjusts it)"
    record_decision(session, action="payout.compute", entity=Payout.entity, record_id=pid, rule="payouts.accrual",
                    reason=reason, now=now, run_id=run_id,
                    after={"kind": payout.kind, "amount": payout.amount, "clawback": payout.clawback})
    return payout
