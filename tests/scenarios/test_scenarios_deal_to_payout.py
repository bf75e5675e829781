"""From a partner's registration to the commission it earns, and back when the customer is refunded.

The story a channel team tells: Alpha registers Acme Robotics, Beta tries
the same customer a day later and is flagged; the channel manager approves
Alpha; the rep's opportunity shows Alpha's protection; it closes won and
shows the attribution; finance invoices and collects in Odoo, and Alpha's
commission appears there as a vendor bill; accounts payable pays it and the
PRM reads it back as paid. Then the customer is refunded a fifth: the
commission on it is clawed back, as a vendor credit note in Odoo, in the
same period. Every step is made and checked where people work: Salesforce
through simple-salesforce, Odoo through its JSON-RPC API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.base import Cursor
from prm_sync.model import DealRegistration, Partner
from prm_sync.rules.payouts import period_of
from prm_sync.store import state

SYSTEMS = ("salesforce", "erp")
REGISTRATION = "Id, Status__c, Conflict_Decision__c, Conflict_Reason__c, Opportunity__c"
OPPORTUNITY = ("Id, StageName, Registered_Partner__c, Registration_Status__c, Protection_Expires__c, "
               "Deal_Registration__c, Attribution_Summary__c")


def test_registration_to_paid_commission_and_a_clawback(make_world: Any, store: Any) -> None:
    world = make_world(systems=SYSTEMS, store=store)
    now = world.clock.set(datetime.now(UTC).replace(microsecond=0))
    today = now.date()
    acme = world.salesforce.Account.create({"Name": "Acme Robotics Inc", "Type": "Prospect",
                                            "Website": "https://www.acmerobotics.com/", "BillingCountry": "US"})["id"]
    world.prm.save(
        Partner(id="ptn_alpha", name="Alpha Integrators"), Partner(id="ptn_beta", name="Beta Solutions"),
        DealRegistration(id="reg_alpha", partner_id="ptn_alpha", customer_name="Acme Robotics",
                         customer_domain="acmerobotics.com", customer_country="US", product_lines=["platform"],
                         amount=Decimal("100000"), submitted_at=now - timedelta(days=2)),
        DealRegistration(id="reg_beta", partner_id="ptn_beta", customer_name="ACME Robotics LLC",
                         customer_domain="acmerobotics.com", customer_country="US", product_lines=["platform"],
                         submitted_at=now - timedelta(days=1)),
    )

    # the conflict check: first come, first served
    world.sync()
    alpha_reg = world.salesforce_by_prm_id("Deal_Registration__c", "reg_alpha", REGISTRATION)
    beta_reg = world.salesforce_by_prm_id("Deal_Registration__c", "reg_beta", REGISTRATION)
    assert alpha_reg["Conflict_Decision__c"] == "Clear"
    assert beta_reg["Conflict_Decision__c"] == "Conflict" and beta_reg["Conflict_Reason__c"].startswith("conflict:")
    assert "Alpha" not in beta_reg["Conflict_Reason__c"]  # a partner never learns who else registered

    # the channel manager approves Alpha's; the rep opens the deal
    approved = world.cli("registrations", "approve", "reg_alpha", "--reason", "first to register, customer confirmed")
    assert approved.exit_code == 0, approved.output
    deal = world.salesforce.Opportunity.create({"Name": "Acme Robotics - Platform", "StageName": "Qualification",
                                                "CloseDate": (today + timedelta(days=60)).isoformat(),
                                                "Amount": 100000, "AccountId": acme})["id"]
    world.sync()
    alpha_account = world.salesforce_by_prm_id("Account", "ptn_alpha", "Id")["Id"]
    opportunity = world.salesforce.Opportunity.get(deal)
    assert opportunity["Registered_Partner__c"] == alpha_account
    assert opportunity["Registration_Status__c"] == "Approved" and opportunity["Protection_Expires__c"]
    assert opportunity["Deal_Registration__c"] == alpha_reg["Id"]
    assert world.salesforce_by_prm_id("Deal_Registration__c", "reg_alpha", REGISTRATION)["Opportunity__c"] == deal

    # closed won: the attribution shows on the opportunity
    world.salesforce.Opportunity.update(deal, {"StageName": "Closed Won", "CloseDate": today.isoformat()})
    world.sync()
    opportunity = world.salesforce.Opportunity.get(deal)
    assert opportunity["Registration_Status__c"] == "Won"
    assert opportunity["Attribution_Summary__c"] == "Sourced: Alpha Integrators (10%)"

    # finance invoices the deal (the quote brought its Salesforce id over) and collects: a vendor bill follows
    odoo = world.odoo
    invoice = odoo.invoice(deal, 100000.0, today, customer="Acme Robotics Inc")
    world.sync()
    assert odoo.read("account.move", [["move_type", "in", ["in_invoice", "in_refund"]]], ["id"]) == []  # unpaid
    odoo.register_payment(invoice, 100000.0, today)
    world.sync()
    [bill] = odoo.read("account.move", [["move_type", "=", "in_invoice"]],
                       ["partner_id", "amount_total", "payment_state", "ref", "x_prm_id"])
    vendor = odoo.read("res.partner", [["x_prm_id", "=", "ptn_alpha"]], ["id"])[0]["id"]
    assert (bill["partner_id"][0], bill["amount_total"], bill["ref"]) == (vendor, 10000.0, period_of(now))
    [stored_invoice] = world.prm.all("invoice")
    assert (stored_invoice.status, stored_invoice.amount_paid) == ("paid", Decimal("100000.00"))

    # accounts payable pays the bill: read back as paid, no failed record
    odoo.pay_bill(bill["id"], today)
    world.sync()
    assert world.prm.get("payout", bill["x_prm_id"]).status == "paid"
    assert world.cli("failures", "list", "--json").json() == []

    # a fifth is refunded: credit note and money back; the commission on it is clawed back this period
    credit_note = odoo.credit_note(invoice, 20000.0, today)
    odoo.register_payment(credit_note, 20000.0, today, payment_type="outbound")
    world.sync()
    [clawback] = odoo.read("account.move", [["move_type", "=", "in_refund"]],
                           ["partner_id", "amount_total", "ref", "x_prm_id", "payment_state"])
    assert (clawback["partner_id"][0], clawback["amount_total"], clawback["ref"]) == (vendor, 2000.0, period_of(now))
    adjustment = world.prm.get("payout", clawback["x_prm_id"])
    assert (adjustment.kind, adjustment.clawback, adjustment.period) == ("credit_note", Decimal("2000.00"), period_of(now))
    assert odoo.execute("account.move", "read", [bill["id"]], ["amount_total"])[0]["amount_total"] == 10000.0  # paid stays
    world.assert_settled()


def _gamma_registered_and_approved(world: Any) -> tuple[datetime, str]:
    """Gamma registers Initech and the channel manager approves it; Initech is a company in HubSpot."""
    now = world.clock.set(datetime.now(UTC).replace(microsecond=0))
    world.prm.save(
        Partner(id="ptn_gamma", name="Gamma Partners"),
        DealRegistration(id="reg_gamma", partner_id="ptn_gamma", customer_name="Initech",
                         customer_domain="initech.example", customer_country="US", product_lines=["security"],
                         amount=Decimal("40000"), submitted_at=now - timedelta(days=1)),
    )
    world.sync()
    approved = world.cli("registrations", "approve", "reg_gamma", "--reason", "customer confirmed")
    assert approved.exit_code == 0, approved.output
    customer = world.hubspot.crm.companies.basic_api.create(
        {"properties": {"name": "Initech", "domain": "initech.example", "country": "US"}}).id
    return now, customer


def _hubspot_deal(world: Any, customer: str, stage: str, close: date) -> str:
    """A rep opens the deal on the customer's company (the primary association, as HubSpot's UI makes it)."""
    return str(world.hubspot.crm.deals.basic_api.create({
        "properties": {"dealname": "Initech - Security", "dealstage": stage, "pipeline": "default",
                       "amount": "40000", "closedate": f"{close}T00:00:00Z"},
        "associations": [{"to": {"id": customer},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]}]}).id)


def _gammas_bill(world: Any, now: datetime) -> dict[str, Any]:
    odoo = world.odoo
    [bill] = odoo.read("account.move", [["move_type", "=", "in_invoice"]], ["partner_id", "amount_total", "ref"])
    vendor = odoo.read("res.partner", [["x_prm_id", "=", "ptn_gamma"]], ["id"])[0]["id"]
    assert (bill["partner_id"][0], bill["amount_total"], bill["ref"]) == (vendor, 4000.0, period_of(now))
    return bill


def _gammas_commission_paid(world: Any) -> tuple[datetime, str, int]:
    """Gamma's HubSpot deal is won, invoiced and collected in Odoo, and accounts payable pays Gamma's bill."""
    now, customer = _gamma_registered_and_approved(world)
    deal = _hubspot_deal(world, customer, "closedwon", now.date())
    world.sync()
    odoo = world.odoo
    invoice = odoo.invoice(deal, 40000.0, now.date(), customer="Initech")
    odoo.register_payment(invoice, 40000.0, now.date())
    world.sync()
    odoo.pay_bill(_gammas_bill(world, now)["id"], now.date())
    world.sync()
    return now, deal, invoice


def _gammas_clawback(world: Any, amount: float, period: datetime) -> None:
    odoo = world.odoo
    vendor = odoo.read("res.partner", [["x_prm_id", "=", "ptn_gamma"]], ["id"])[0]["id"]
    [clawback] = odoo.read("account.move", [["move_type", "=", "in_refund"]], ["partner_id", "amount_total", "ref"])
    assert (clawback["partner_id"][0], clawback["amount_total"], clawback["ref"]) == (vendor, amount, period_of(period))


def test_a_hubspot_deal_from_registration_to_a_paid_commission(make_world: Any, store: Any) -> None:
    """The same story where the deal lives in HubSpot: finance's invoice carries the HubSpot deal id."""
    world = make_world(systems=("hubspot", "erp"), store=store)
    now, customer = _gamma_registered_and_approved(world)
    today = now.date()
    deal = _hubspot_deal(world, customer, "qualifiedtobuy", today + timedelta(days=45))
    world.sync()
    hubspot = world.hubspot
    properties = ["registered_partner_id", "registration_status", "protection_expires", "attribution_summary"]
    shown = hubspot.crm.deals.basic_api.get_by_id(deal, properties=properties).properties
    assert (shown["registered_partner_id"], shown["registration_status"]) == ("ptn_gamma", "approved")
    assert shown["protection_expires"]

    hubspot.crm.deals.basic_api.update(deal, {"properties": {"dealstage": "closedwon"}})
    world.sync()
    shown = hubspot.crm.deals.basic_api.get_by_id(deal, properties=properties).properties
    assert shown["registration_status"] == "won"
    assert shown["attribution_summary"] == "Sourced: Gamma Partners (10%)"

    # finance invoices it (x_opportunity_ref: the HubSpot deal id the quote carried over) and collects
    odoo = world.odoo
    invoice = odoo.invoice(deal, 40000.0, today, customer="Initech")
    odoo.register_payment(invoice, 40000.0, today)
    world.sync()
    [stored_invoice] = world.prm.all("invoice")
    assert stored_invoice.opportunity_id == world.prm.find("opportunity", "hubspot", deal).id
    bill = _gammas_bill(world, now)
    odoo.pay_bill(bill["id"], today)
    world.sync()
    [payout] = world.prm.all("payout")
    assert payout.status == "paid"
    world.assert_settled()


def test_cash_collected_before_the_rep_marks_the_deal_won_still_earns_the_commission(
    make_world: Any, store: Any
) -> None:
    """Finance is ahead of the CRM: the invoice is paid, and the ERP synced, before the deal is Closed Won."""
    world = make_world(systems=("hubspot", "erp"), store=store)
    now, customer = _gamma_registered_and_approved(world)
    deal = _hubspot_deal(world, customer, "contractsent", now.date() + timedelta(days=10))
    world.sync()
    odoo = world.odoo
    invoice = odoo.invoice(deal, 40000.0, now.date(), customer="Initech")
    odoo.register_payment(invoice, 40000.0, now.date())
    world.sync(systems=["erp"])  # the ERP's own schedule: paid, but the deal is not won yet, so nothing is earned
    assert odoo.read("account.move", [["move_type", "=", "in_invoice"]], ["id"]) == []

    world.hubspot.crm.deals.basic_api.update(deal, {"properties": {"dealstage": "closedwon"}})  # the rep catches up
    report = world.sync()

    assert report.rule_decisions["attributed"] == 1
    _gammas_bill(world, now)
    world.assert_settled()


def test_an_invoice_naming_a_deal_the_prm_has_not_seen_yet_earns_once_the_deal_arrives(
    make_world: Any, store: Any
) -> None:
    """The quote, the invoice and the payment all happen before the deal is first synced from HubSpot."""
    world = make_world(systems=("hubspot", "erp"), store=store)
    now, customer = _gamma_registered_and_approved(world)
    world.sync()
    deal = _hubspot_deal(world, customer, "closedwon", now.date())
    odoo = world.odoo
    invoice = odoo.invoice(deal, 40000.0, now.date(), customer="Initech")
    odoo.register_payment(invoice, 40000.0, now.date())
    world.sync(systems=["erp"])  # the invoice is stored naming a deal id the PRM does not know yet
    [stored] = world.prm.all("invoice")
    assert stored.opportunity_id == deal
    # and the ERP's reads move on: the invoice is not read again unless finance changes it (its cursor is
    # past it by more than the overlap the next read looks back over, as if the deal arrived a day later)
    past = datetime.now(UTC) + timedelta(seconds=world.env.runtime.config.sync.overlap_seconds + 60)
    with world.env.runtime.store.session() as session:
        for remote_object, entity in (("account.move", "invoice"), ("account.payment", "payment")):
            state.set_cursor(session, "erp", remote_object, entity, Cursor(modstamp=past))

    report = world.sync()  # the deal arrives: won, attributed, and the invoice now points at it

    assert report.rule_decisions["invoices_linked"] == 1
    [stored] = world.prm.all("invoice")
    assert stored.opportunity_id == world.prm.find("opportunity", "hubspot", deal).id
    _gammas_bill(world, now)
    audit = world.cli("audit", stored.id, "--json").json()
    assert any(e["action"] == "invoice.opportunity" for e in audit), audit
    world.assert_settled()


def test_a_refund_the_month_after_a_paid_commission_is_clawed_back_in_that_month(make_world: Any, store: Any) -> None:
    world = make_world(systems=("hubspot", "erp"), store=store)
    now, _, invoice = _gammas_commission_paid(world)
    odoo = world.odoo

    later = world.clock.set(now + timedelta(days=35))  # next month: the customer is refunded a quarter
    credit_note = odoo.credit_note(invoice, 10000.0, later.date())
    odoo.register_payment(credit_note, 10000.0, later.date(), payment_type="outbound")
    world.sync()

    _gammas_clawback(world, 1000.0, later)
    bills = odoo.read("account.move", [["move_type", "=", "in_invoice"]], ["amount_total", "payment_state"])
    assert [(b["amount_total"], b["payment_state"]) for b in bills] == [(4000.0, "paid")]  # last month's stands
    world.assert_settled()


def test_a_won_deal_later_marked_lost_claws_the_paid_commission_back(make_world: Any, store: Any) -> None:
    """The rep corrects the stage (the deal fell through): the commission already paid comes back as a credit note."""
    world = make_world(systems=("hubspot", "erp"), store=store)
    now, deal, _ = _gammas_commission_paid(world)

    world.hubspot.crm.deals.basic_api.update(deal, {"properties": {"dealstage": "closedlost"}})
    world.sync()

    _gammas_clawback(world, 4000.0, now)
    [attribution] = world.prm.all("attribution")
    assert attribution.reversed
    world.assert_settled()
