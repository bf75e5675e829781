"""Commission on paid money only: proportional accrual, credit memos, refunds clawed back and netted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from prm_sync.model import Attribution, Invoice, Payment, Payout
from prm_sync.rules.payouts import compute_payouts, period_end, settle_invoices
from prm_sync.store.records import get_record, save_record

NOV = datetime(2026, 11, 30, tzinfo=UTC)
DEC = datetime(2026, 12, 31, tzinfo=UTC)
JAN = datetime(2027, 1, 31, tzinfo=UTC)


def deal(session: Session, opp: str = "opp_1", commission: str = "1000", total: str = "10000") -> None:
    save_record(session, Attribution(id=f"att_{opp}", closure_id=f"clo_{opp}", opportunity_id=opp, partner_id="ptn_1",
                                     role="sourced", split_pct=Decimal("10"), amount=Decimal(commission)))
    save_record(session, Invoice(id=f"inv_{opp}", number=f"INV-{opp}", opportunity_id=opp, amount=Decimal(total),
                                 issued_at=date(2026, 11, 1)))


def pay(session: Session, pid: str, amount: str, when: datetime, kind: str = "payment", opp: str = "opp_1") -> None:
    save_record(session, Payment(id=pid, invoice_id=f"inv_{opp}", kind=kind, amount=Decimal(amount), paid_at=when))


def amounts(payouts: list[Payout]) -> list[tuple[Decimal, Decimal]]:
    return [(p.amount, p.clawback) for p in payouts]


@pytest.mark.parametrize(
    ("payments", "expected"),
    [
        pytest.param([("payment", "2500")], Decimal("250.00"), id="quarter-paid"),
        pytest.param([("payment", "10000")], Decimal("1000.00"), id="fully-paid"),
        pytest.param([("payment", "12000")], Decimal("1000.00"), id="overpaid-capped"),
        pytest.param([("credit_memo", "2000"), ("payment", "8000")], Decimal("800.00"), id="credit-memo-reduces"),
        pytest.param([("payment", "6000"), ("refund", "1000")], Decimal("500.00"), id="refund-before-payout"),
    ],
)
def test_commission_proportional_to_payment(session: Session, payments: list[tuple[str, str]], expected: Decimal) -> None:
    deal(session)
    for i, (kind, amount) in enumerate(payments):
        pay(session, f"pay_{i}", amount, datetime(2026, 11, 10 + i, tzinfo=UTC), kind)
    [payout] = compute_payouts(session, "2026-11", NOV)
    assert (payout.amount, payout.clawback, payout.status) == (expected, Decimal("0"), "pending")


def test_nothing_paid_no_payout(session: Session) -> None:
    deal(session)
    assert compute_payouts(session, "2026-11", NOV) == []


def test_rerun_is_idempotent_one_per_partner_per_period(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "5000", datetime(2026, 11, 10, tzinfo=UTC))
    first = compute_payouts(session, "2026-11", NOV)
    again = compute_payouts(session, "2026-11", NOV)
    assert amounts(first) == amounts(again) == [(Decimal("500.00"), Decimal("0"))]
    assert first[0].id == again[0].id


def test_refund_after_payout_is_a_clawback_credit_note_and_later_bills_stay_gross(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "10000", datetime(2026, 11, 10, tzinfo=UTC))
    [nov] = compute_payouts(session, "2026-11", NOV)
    save_record(session, nov.model_copy(update={"status": "paid"}))
    pay(session, "ref_1", "4000", datetime(2026, 12, 5, tzinfo=UTC), kind="refund")
    assert amounts(compute_payouts(session, "2026-11", DEC)) == [(Decimal("1000.00"), Decimal("0"))]  # paid: untouched
    [december] = compute_payouts(session, "2026-12", DEC)
    assert (december.kind, december.amount, december.clawback) == ("credit_note", Decimal("0"), Decimal("400.00"))
    deal(session, "opp_2", commission="500", total="5000")
    pay(session, "pay_2", "5000", datetime(2027, 1, 10, tzinfo=UTC), opp="opp_2")
    # the December credit note is a document of its own (finance nets it against this bill): no double clawback
    [january] = compute_payouts(session, "2027-01", JAN)
    assert (january.kind, january.amount, january.clawback) == ("bill", Decimal("500.00"), Decimal("0"))
    stored = get_record(session, "payout", nov.id)
    assert isinstance(stored, Payout) and stored.amount == Decimal("1000.00")


def test_refund_after_a_paid_payout_adjusts_the_same_period(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "10000", datetime(2026, 11, 10, tzinfo=UTC))
    [nov] = compute_payouts(session, "2026-11", NOV)
    save_record(session, nov.model_copy(update={"status": "paid"}))
    pay(session, "ref_1", "2500", datetime(2026, 11, 20, tzinfo=UTC), kind="refund")
    [adjustment] = compute_payouts(session, "2026-11", NOV)
    assert adjustment.id != nov.id and adjustment.period == "2026-11"
    assert (adjustment.kind, adjustment.amount, adjustment.clawback) == ("credit_note", Decimal("0"), Decimal("250.00"))
    assert compute_payouts(session, "2026-11", NOV) == [adjustment]  # recomputed in place: idempotent


def test_customer_credit_note_limits_what_can_be_earned(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "10000", datetime(2026, 11, 10, tzinfo=UTC))
    save_record(session, Invoice(id="inv_cn", number="RINV-1", kind="credit_note", opportunity_id="opp_1",
                                 amount=Decimal("3000"), issued_at=date(2026, 11, 12)))
    [payout] = compute_payouts(session, "2026-11", NOV)
    assert (payout.amount, payout.clawback) == (Decimal("700.00"), Decimal("0"))


def test_reversed_attribution_claws_back(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "10000", datetime(2026, 11, 10, tzinfo=UTC))
    compute_payouts(session, "2026-11", NOV)
    att = get_record(session, "attribution", "att_opp_1")
    assert att is not None
    save_record(session, att.model_copy(update={"reversed": True}))
    assert amounts(compute_payouts(session, "2026-12", DEC)) == [(Decimal("0"), Decimal("1000.00"))]


def test_period_format_is_checked() -> None:
    assert period_end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(Exception, match="YYYY-MM"):
        period_end("Nov 2026")


def test_invoices_show_what_was_paid_less_refunds(session: Session) -> None:
    deal(session)
    pay(session, "pay_1", "6000", datetime(2026, 11, 10, tzinfo=UTC))
    pay(session, "pay_2", "4000", datetime(2026, 11, 11, tzinfo=UTC))
    pay(session, "ref_1", "1500", datetime(2026, 11, 12, tzinfo=UTC), kind="refund")
    assert settle_invoices(session, {"inv_opp_1"}, NOV) == 1
    invoice = get_record(session, "invoice", "inv_opp_1")
    assert isinstance(invoice, Invoice) and invoice.amount_paid == Decimal("8500")
    assert settle_invoices(session, {"inv_opp_1"}, NOV) == 0  # settled: nothing to change
