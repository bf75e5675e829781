"""Partners born in a CRM: a rep creates the partner account in Salesforce, a marketer the company in HubSpot.

The shipped mappings say ``on_unmatched: adopt`` for partners: the sync
matches the new record to a PRM partner by its natural key (domain, else
normalised name + country) or creates the PRM partner, writes the PRM id
back onto the CRM record, and the other CRM gets the partner too. A record
that could be two PRM partners is reported, never guessed.
"""

from __future__ import annotations

from typing import Any

from prm_sync.model import Partner
from prm_sync.store import identity

SYSTEMS = ("salesforce", "hubspot")
ACCOUNT = "Id, Name, PRM_Id__c, Partner_Tier__c, Domain__c"
COMPANY = ["name", "domain", "partner_tier", "country", "prm_id"]


def _partner_account(world: Any, name: str, domain: str, **extra: Any) -> str:
    fields = {"Name": name, "IsPartner": True, "Type": "Partner", "Domain__c": domain, **extra}
    return str(world.salesforce.Account.create(fields)["id"])


def test_a_partner_account_created_in_salesforce_is_adopted_and_reaches_hubspot(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    account_id = _partner_account(world, "Northwind Partners", "northwind.example", Partner_Tier__c="Silver",
                                  BillingCountry="US")

    synced = world.cli("sync")  # as an admin runs it: the run report says who was adopted

    assert synced.exit_code == 0, synced.output
    assert "identity: salesforce/partner adopted 1" in synced.stdout
    [partner] = world.prm.all("partner")
    assert (partner.name, partner.tier, partner.external_ids["salesforce"]) == ("Northwind Partners", "silver", account_id)
    account = world.salesforce_records(f"SELECT {ACCOUNT} FROM Account WHERE Id = '{account_id}'")[0]
    assert account["PRM_Id__c"] == partner.id  # our id written back onto the rep's record
    company = world.hubspot_by_prm_id("companies", partner.id, COMPANY)
    assert (company["name"], company["domain"], company["partner_tier"]) == (
        "Northwind Partners", "northwind.example", "silver")
    assert len(world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = true")) == 1  # no duplicate
    world.assert_settled()


def test_a_partner_company_created_in_hubspot_is_adopted_and_reaches_salesforce(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    created = world.hubspot.crm.companies.basic_api.create(
        {"properties": {"name": "Contoso Channel GmbH", "domain": "contoso.example", "is_partner": "true",
                        "country": "Germany"}})

    world.sync()

    [partner] = world.prm.all("partner")
    assert partner.external_ids["hubspot"] == created.id and partner.country == "Germany"
    company = world.hubspot.crm.companies.basic_api.get_by_id(created.id, properties=COMPANY)
    assert company.properties["prm_id"] == partner.id
    account = world.salesforce_by_prm_id("Account", partner.id, ACCOUNT + ", BillingCountry")
    assert (account["Name"], account["Domain__c"], account["BillingCountry"]) == (
        "Contoso Channel GmbH", "contoso.example", "Germany")
    world.assert_settled()


def test_a_crm_record_matching_a_prm_partner_is_linked_not_duplicated(make_world: Any) -> None:
    """The PRM already has the partner (not yet in Salesforce): a rep's account with its domain becomes its copy."""
    world = make_world(systems=("salesforce",))
    world.prm.save(Partner(id="ptn_fabrikam", name="Fabrikam", domain="fabrikam.example", tier="gold"))
    account_id = _partner_account(world, "Fabrikam Inc.", "www.Fabrikam.example")

    world.sync()

    assert [p.id for p in world.prm.all("partner")] == ["ptn_fabrikam"]
    rows = world.salesforce_records("SELECT Id, PRM_Id__c, Partner_Tier__c FROM Account WHERE IsPartner = true")
    assert rows == [{"Id": account_id, "PRM_Id__c": "ptn_fabrikam", "Partner_Tier__c": "Gold"}]
    world.assert_settled()


def test_two_accounts_for_one_partner_are_reported_not_guessed(make_world: Any) -> None:
    world = make_world(systems=("salesforce",))
    first = _partner_account(world, "Litware", "litware.example")
    second = _partner_account(world, "Litware Partners", "litware.example")

    report = world.sync()

    stats = report.slice("salesforce", "partner")
    assert (stats.adopted, stats.unmatched) == (1, 1)
    [partner] = world.prm.all("partner")
    assert partner.external_ids["salesforce"] == first
    [sample] = stats.unmatched_records
    assert (sample.remote_id, sample.reason, sample.candidates) == (second, "linked_elsewhere", [partner.id])
    with world.env.runtime.store.session(readonly=True) as session:
        [row] = identity.list_unmatched(session, system="salesforce")
        assert identity.unmatched_counts(session) == {("salesforce", "partner", "linked_elsewhere"): 1}
    assert row.remote_id == second and "litware.example" in (row.detail or "")
    second_row = world.salesforce_records(f"SELECT PRM_Id__c FROM Account WHERE Id = '{second}'")[0]
    assert second_row["PRM_Id__c"] is None  # left for a person (a merge in Salesforce settles it)
    status = world.cli("status", "--json")  # the health page counts it until a person settles it
    [health] = [s for s in status.json()["slices"] if (s["system"], s["entity"]) == ("salesforce", "partner")]
    assert health["unmatched"] == 1
    assert "unmatched salesforce/partner: 1 waiting for a person (`prm-sync unmatched` lists them)" in world.cli(
        "status").stdout
    shown = world.cli("runs", "show", report.run_id)
    assert "identity: salesforce/partner adopted 1, unmatched 1 (`prm-sync unmatched` lists the unmatched)" in (
        " ".join(shown.stdout.split()))
    world.assert_settled()

    world.salesforce.Account.delete(second)  # the person settles it: the second account was a mistake
    world.sync()
    assert world.cli("unmatched", "--json").json() == []  # nothing waits any more
    world.assert_settled()


def test_a_registration_a_partner_enters_in_salesforce_is_adopted_checked_and_reaches_hubspot(make_world: Any) -> None:
    """A partner user enters a deal registration in Salesforce (the partner community), naming their account."""
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Integrators", domain="acme.example"))
    world.sync()
    acme_account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id")["Id"]

    entered = world.salesforce.Deal_Registration__c.create({
        "Partner__c": acme_account, "Customer_Name__c": "Initech Ltd", "Customer_Domain__c": "initech.example",
        "Product_Lines__c": "Platform", "Amount__c": 50000, "Status__c": "Submitted"})["id"]
    report = world.sync()

    assert report.slice("salesforce", "deal_registration").adopted == 1
    [registration] = world.prm.all("deal_registration")
    assert (registration.partner_id, registration.customer_name, registration.external_ids["salesforce"]) == (
        "ptn_acme", "Initech Ltd", entered)  # the partner worked out from the account it names
    row = world.salesforce_records(
        f"SELECT PRM_Id__c, Conflict_Decision__c, Status__c FROM Deal_Registration__c WHERE Id = '{entered}'")[0]
    assert row["PRM_Id__c"] == registration.id  # our id written back
    assert row["Conflict_Decision__c"] == "Clear"  # and the conflict check ran on it
    copy = world.hubspot_by_prm_id("p_deal_registrations", registration.id, ["customer_name", "partner_prm_id"])
    assert (copy["customer_name"], copy["partner_prm_id"]) == ("Initech Ltd", "ptn_acme")
    company = world.hubspot_by_prm_id("companies", "ptn_acme", ["name"])["id"]
    links = world.hubspot.crm.associations.v4.basic_api.get_page("p_deal_registrations", copy["id"], "companies").results
    assert [str(link.to_object_id) for link in links] == [company]  # the registering partner, associated
    assert len(world.salesforce_records("SELECT Id FROM Deal_Registration__c")) == 1  # no second copy
    world.assert_settled()


def test_a_registration_entered_in_hubspot_finds_its_partner_by_the_registering_partner_association(
    make_world: Any,
) -> None:
    """A partner manager creates the registration in HubSpot and associates the partner company (as HubSpot's UI does)."""
    from hubspot.crm.associations.v4 import AssociationSpec

    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_acme", name="Acme Integrators", domain="acme.example"),
                   Partner(id="ptn_bolt", name="Bolt Systems", domain="bolt.example"))
    world.sync()
    acme = world.hubspot_by_prm_id("companies", "ptn_acme", ["name"])["id"]
    customer = world.hubspot.crm.companies.basic_api.create({"properties": {"name": "Initech Ltd",
                                                                            "domain": "initech.example"}}).id
    entered = world.hubspot.crm.objects.basic_api.create("p_deal_registrations", {"properties": {
        "customer_name": "Initech Ltd", "customer_domain": "initech.example", "product_lines": "platform",
        "amount": "50000", "status": "submitted"}}).id
    labels = {d.label: d.type_id for d in world.hubspot.crm.associations.v4.schema.definitions_api.get_all(
        "p_deal_registrations", "companies").results if d.label}
    for company, label in ((customer, "End customer"), (acme, "Registering partner")):
        world.hubspot.crm.associations.v4.basic_api.create("p_deal_registrations", entered, "companies", company, [
            AssociationSpec(association_category="USER_DEFINED", association_type_id=labels[label])])

    report = world.sync()

    assert report.slice("hubspot", "deal_registration").adopted == 1
    [registration] = world.prm.all("deal_registration")
    assert (registration.partner_id, registration.external_ids["hubspot"]) == ("ptn_acme", entered)
    copy = world.hubspot.crm.objects.basic_api.get_by_id("p_deal_registrations", entered,
                                                         properties=["prm_id", "partner_prm_id", "conflict_decision"])
    assert (copy.properties["prm_id"], copy.properties["partner_prm_id"]) == (registration.id, "ptn_acme")
    assert copy.properties["conflict_decision"] == "clear"
    account = world.salesforce_by_prm_id("Account", "ptn_acme", "Id")["Id"]
    row = world.salesforce_by_prm_id("Deal_Registration__c", registration.id, "Partner__c, Customer_Name__c")
    assert (row["Partner__c"], row["Customer_Name__c"]) == (account, "Initech Ltd")
    world.assert_settled()


def test_under_report_a_new_account_waits_for_a_person_who_gives_it_the_prm_id(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    world.set_policy("salesforce", "partner", on_unmatched="report")
    account_id = _partner_account(world, "Fabrikam EMEA", "fabrikam-emea.example")

    report = world.sync()

    assert (report.slice("salesforce", "partner").unmatched, report.slice("salesforce", "partner").adopted) == (1, 0)
    listed = world.cli("unmatched", "--json").json()
    assert [(r["remote_id"], r["reason"]) for r in listed] == [(account_id, "no_prm_id")]
    assert world.prm.all("partner") == [] and world.hubspot.crm.companies.basic_api.get_page().results == []

    # the channel manager adds the partner in the PRM; the admin puts its PRM id on the rep's account
    world.prm.save(Partner(id="ptn_femea", name="Fabrikam EMEA", domain="fabrikam-emea.example"))
    world.salesforce.Account.update(account_id, {"PRM_Id__c": "ptn_femea"})
    world.sync()

    assert world.prm.get("partner", "ptn_femea").external_ids["salesforce"] == account_id
    assert len(world.salesforce_records("SELECT Id FROM Account WHERE IsPartner = true")) == 1  # linked, not doubled
    assert world.cli("unmatched", "--json").json() == []  # no longer waiting for a person
    [health] = [s for s in world.cli("status", "--json").json()["slices"]
                if (s["system"], s["entity"]) == ("salesforce", "partner")]
    assert health["unmatched"] == 0
    world.assert_settled()


def test_a_bare_account_linked_to_a_known_partner_fills_blanks_and_never_wipes_them(make_world: Any) -> None:
    """A rep types only the name and domain of a partner the PRM knows (phone, city): nothing the PRM knew is lost,
    and what the rep typed that the PRM lacked (the website) reaches the PRM and HubSpot."""
    world = make_world(systems=SYSTEMS)
    world.prm.save(Partner(id="ptn_fabrikam", name="Fabrikam", domain="fabrikam.example", phone="+1 555 0100",
                           city="Boston"))
    world.sync(systems=["hubspot"])  # the partner is in HubSpot; Salesforce is connected later
    account_id = _partner_account(world, "Fabrikam Inc.", "fabrikam.example", Website="https://fabrikam.example/partners")

    world.sync()

    partner = world.prm.get("partner", "ptn_fabrikam")
    assert (partner.phone, partner.city, partner.website) == ("+1 555 0100", "Boston", "https://fabrikam.example/partners")
    [account] = world.salesforce_records(f"SELECT PRM_Id__c, Phone, BillingCity FROM Account WHERE Id = '{account_id}'")
    assert account == {"PRM_Id__c": "ptn_fabrikam", "Phone": "+1 555 0100", "BillingCity": "Boston"}
    company = world.hubspot_by_prm_id("companies", "ptn_fabrikam", ["phone", "city", "website"])
    assert (company["phone"], company["city"], company["website"]) == (
        "+1 555 0100", "Boston", "https://fabrikam.example/partners")
    world.assert_settled()


def test_a_partner_born_in_both_crms_keeps_what_each_rep_typed(make_world: Any) -> None:
    world = make_world(systems=SYSTEMS)
    account_id = _partner_account(world, "Northwind Partners", "northwind.example", Phone="+1 555 0100")
    company = world.hubspot.crm.companies.basic_api.create(
        {"properties": {"name": "Northwind Partners", "domain": "northwind.example", "is_partner": "true",
                        "city": "Boston"}}).id

    world.sync()

    [partner] = world.prm.all("partner")  # one partner, linked to both records
    assert partner.external_ids == {"salesforce": account_id, "hubspot": company}
    assert (partner.phone, partner.city) == ("+1 555 0100", "Boston")
    [account] = world.salesforce_records(f"SELECT Phone, BillingCity FROM Account WHERE Id = '{account_id}'")
    assert account == {"Phone": "+1 555 0100", "BillingCity": "Boston"}
    shown = world.hubspot_by_prm_id("companies", partner.id, ["phone", "city"])
    assert (shown["phone"], shown["city"]) == ("+1 555 0100", "Boston")
    world.assert_settled()
