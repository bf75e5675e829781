"""A registration linked to a HubSpot deal carries labelled links to its partner, customer and deal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prm_sync.model import DealRegistration, Partner
from prm_sync.rules.lifecycle import move
from prm_sync.store import records


def test_hubspot_registration_is_associated_with_partner_customer_and_deal(make_sync_env) -> None:
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    hs = env.apps["hubspot"]
    (company,) = hs.insert_records("companies", [{"name": "Umbrella Health", "domain": "umbrellahealth.com",
                                                  "country": "US", "lifecyclestage": "customer"}])
    (deal,) = hs.insert_records("deals", [{"dealname": "Umbrella Health - Platform", "dealstage": "qualifiedtobuy",
                                           "pipeline": "default", "amount": "80000",
                                           "closedate": (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%dT00:00:00Z")}])

    with hs.lock:
        hs.assocs.add(hs.assocs.default("deals", "companies"), deal, company)
    with env.runtime.store.session() as session:
        records.save_records(session, [
            Partner(id="ptn_links", name="Linking Partners"),
            DealRegistration(id="reg_links", partner_id="ptn_links", customer_name="Umbrella Health Inc",
                             customer_domain="umbrellahealth.com", customer_country="US", product_lines=["platform"],
                             amount=Decimal("80000"), submitted_at=datetime.now(UTC) - timedelta(days=1)),
        ])
    env.run()  # partner and registration reach HubSpot; customer and deal reach the PRM
    with env.runtime.store.session() as session:
        move(session, "reg_links", "approved", actor="test", reason="verified", now=datetime.now(UTC),
             protection=env.runtime.config.rules.protection)
    env.run()  # the approved registration links to the customer's open deal and is written back
    env.run()

    reg = hs.find_record("p_deal_registrations", "prm_id", "reg_links")
    partner = hs.find_record("companies", "prm_id", "ptn_links")
    linked_companies = set(hs.associations("p_deal_registrations", reg["hs_object_id"], "companies"))
    assert {partner["hs_object_id"], company} <= linked_companies
    assert deal in hs.associations("p_deal_registrations", reg["hs_object_id"], "deals")
    labels = {hs.assocs.label_of("p_deal_registrations", "companies", link)["label"]
              for link in hs.assocs.targets("p_deal_registrations", reg["hs_object_id"], "companies").get(company, set())}
    assert "End customer" in labels
    assert hs.get_record("deals", deal)["registered_partner_id"] == "ptn_links"


def test_an_update_sends_only_changed_links_removes_the_old_ones_and_a_full_sync_resends_them(make_sync_env) -> None:
    env = make_sync_env(systems=("hubspot",), seed_data=False)
    hs = env.apps["hubspot"]
    with env.runtime.store.session() as session:
        records.save_records(session, [
            Partner(id="ptn_a", name="First Partners"), Partner(id="ptn_b", name="Second Partners"),
            DealRegistration(id="reg_1", partner_id="ptn_a", customer_name="Initech", product_lines=["platform"],
                             amount=Decimal("1000"), submitted_at=datetime.now(UTC) - timedelta(days=1)),
        ])
    env.run()
    reg = hs.find_record("p_deal_registrations", "prm_id", "reg_1")["hs_object_id"]
    first, second = (hs.find_record("companies", "prm_id", p)["hs_object_id"] for p in ("ptn_a", "ptn_b"))
    assert hs.associations("p_deal_registrations", reg, "companies") == [first]

    def update(**changes: object) -> None:
        with env.runtime.store.session() as session:
            current = records.get_record(session, "deal_registration", "reg_1")
            records.save_records(session, [current.model_copy(update=changes)])
        hs.calls.clear()

    update(amount=Decimal("2000"))  # not a link: the registration is written, its link is in place
    report = env.run()
    assert report.slice("hubspot", "deal_registration").updated == 1
    assert float(hs.get_record("p_deal_registrations", reg)["amount"]) == 2000
    assert hs.calls["associations.batch.create"] == 0

    update(partner_id="ptn_b")  # a new partner: that one link goes out, and the old partner's is removed
    env.run()
    assert (hs.calls["associations.batch.create"], hs.calls["associations.batch.archive"]) == (1, 1)
    assert hs.associations("p_deal_registrations", reg, "companies") == [second]

    with hs.lock:  # someone removes the link in HubSpot; a full sync that writes the record puts it back
        hs.assocs.remove("p_deal_registrations", reg, "companies", second)
    update(amount=Decimal("3000"))
    env.run(full=True)
    assert (hs.calls["associations.batch.create"], hs.calls["associations.batch.archive"]) == (1, 0)
    assert hs.associations("p_deal_registrations", reg, "companies") == [second]
