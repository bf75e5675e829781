"""Commission payouts: accrued only on money actually paid, clawed back on refunds.

Commission earned on an attribution is its amount times the share of the
opportunity's invoices paid (payments minus refunds, over the invoice total,
capped at what credit memos leave collectible). A period's payout is what the
partner has earned up to the end of that period minus every earlier payout:
so a refund after a payout shows up as a negative adjustment (``clawback``)
in the next period, and a payout already submitted or paid is never rewritten.
A pending payout for the same period is recomputed in place, which makes
re-runs idempotent.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from prm_sync.errors import UsageError
from prm_sync.model import Attribution, Payout, PayoutStatus
from prm_sync.rules.recording import record_decision
from prm_sync.store.orm import AttributionRow, InvoiceRow, PaymentRow, PayoutRow
from prm_sync.store.records import get_record, save_record, to_record

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
    """Share of the opportunity's invoiced amount paid by ``until``, in [0, 1]."""
    invoices = session.scalars(select(InvoiceRow).where(InvoiceRow.opportunity_id == opportunity_id, InvoiceRow.status != "void")).all()
    total = sum((inv.amount for inv in invoices), ZERO)
    if total <= 0:
        return ZERO
    paid = credited = ZERO
    ids = [inv.id for inv in invoices]
    for row in session.scalars(select(PaymentRow).where(PaymentRow.invoice_id.in_(ids), PaymentRow.paid_at < until)):
        if row.kind == "payment":
            paid += row.amount
        elif row.kind == "refund":
            paid -= abs(row.amount)
        else:  # credit memo: the customer owes less, so less can ever be earned
            credited += abs(row.amount)
    collectible = max(ZERO, total - credited)
    return max(ZERO, min(paid, collectible)) / total


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
    """One pending payout per partner for ``period``, netting earlier payouts and clawbacks."""
    until = min(period_end(period), now)
    by_partner: dict[str, list[Attribution]] = defaultdict(list)
    for row in session.scalars(select(AttributionRow)):
        att = to_record(row)
        if isinstance(att, Attribution):
            by_partner[att.partner_id].append(att)
    results: list[Payout] = []
    for partner_id, atts in sorted(by_partner.items()):
        pid = payout_id(partner_id, period)
        existing = get_record(session, Payout.entity, pid)
        if isinstance(existing, Payout) and existing.status != PayoutStatus.pending:
            results.append(existing)  # submitted or paid: frozen, later changes go to a later period
            continue
        prior = session.scalars(select(PayoutRow).where(PayoutRow.partner_id == partner_id, PayoutRow.period < period,
                                                        PayoutRow.status != PayoutStatus.cancelled.value)).all()
        already = sum((p.amount for p in prior), ZERO)
        now_earned = earned(session, atts, until)
        total_earned = sum(now_earned.values(), ZERO)
        due = total_earned - already
        if not prior and due == 0 and existing is None:
            continue
        gross = max(due, ZERO)
        clawback = max(-due, ZERO)
        if existing is None and gross == 0 and clawback == 0:
            continue
        payout = Payout(
            id=pid, partner_id=partner_id, amount=gross, currency=atts[0].currency, period=period,
            status=PayoutStatus.pending, attribution_ids=sorted(a for a, v in now_earned.items() if v != 0),
            clawback=clawback, external_ids=existing.external_ids if isinstance(existing, Payout) else {},
            created_at=existing.created_at if isinstance(existing, Payout) else now, updated_at=now,
        )
        same = isinstance(existing, Payout) and (existing.amount, existing.clawback, existing.attribution_ids) == (
            payout.amount, payout.clawback, payout.attribution_ids)
        if not same:
            save_record(session, payout)
            reason = f"earned {total_earned} on paid invoices to {until.date().isoformat()}, less {already} paid out before"
            if clawback:
                reason += f"; refunds/credits exceed earlier payouts by {clawback}, carried to the next payout"
            record_decision(session, action="payout.compute", entity=Payout.entity, record_id=pid, rule="payouts.accrual",
                            reason=reason, now=now, run_id=run_id,
                            after={"amount": payout.amount, "clawback": payout.clawback})
        results.append(existing if same and isinstance(existing, Payout) else payout)
    return results
