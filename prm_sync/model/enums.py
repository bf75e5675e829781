"""Closed vocabularies of the channel: stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class PartnerType(StrEnum):
    reseller = "reseller"
    distributor = "distributor"
    system_integrator = "system_integrator"
    msp = "msp"
    isv = "isv"
    referral = "referral"


class PartnerTier(StrEnum):
    registered = "registered"
    silver = "silver"
    gold = "gold"
    platinum = "platinum"


class PartnerStatus(StrEnum):
    prospect = "prospect"
    active = "active"
    suspended = "suspended"
    terminated = "terminated"


class RegistrationStatus(StrEnum):
    """Lifecycle of a deal registration (see prm_sync.rules.lifecycle)."""

    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    approved = "approved"
    rejected = "rejected"
    returned = "returned"
    won = "won"
    lost = "lost"
    expired = "expired"


class ConflictDecision(StrEnum):
    clear = "clear"
    review = "review"
    conflict = "conflict"


class ClosureOutcome(StrEnum):
    won = "won"
    lost = "lost"


class AttributionRole(StrEnum):
    sourced = "sourced"
    influenced = "influenced"
    fulfilled = "fulfilled"


class CertificationStatus(StrEnum):
    active = "active"
    expiring = "expiring"
    expired = "expired"


class InvoiceStatus(StrEnum):
    open = "open"
    partially_paid = "partially_paid"
    paid = "paid"
    void = "void"


class InvoiceKind(StrEnum):
    """A customer invoice, or a credit note reducing what the customer owes (Odoo ``out_refund``)."""

    invoice = "invoice"
    credit_note = "credit_note"


class PayoutKind(StrEnum):
    """The ERP document a payout is: a vendor bill the vendor pays, or a vendor credit note (a clawback)."""

    bill = "bill"
    credit_note = "credit_note"


class PaymentKind(StrEnum):
    payment = "payment"
    refund = "refund"
    credit_memo = "credit_memo"


class PayoutStatus(StrEnum):
    pending = "pending"
    submitted = "submitted"
    paid = "paid"
    cancelled = "cancelled"
