"""The conflict check's stored account index: built once, caught up from saves, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from prm_sync.config.settings import ConflictRules
from prm_sync.model import DealRegistration, EndCustomer, Opportunity
from prm_sync.rules import account_index
from prm_sync.rules.account_index import StoreIndex, indexed_count, refresh_index
from prm_sync.rules.normalize import profile
from prm_sync.store import Store
from prm_sync.store.records import delete_record, save_records

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = ConflictRules()


def found(session: Session, name: str, now: datetime = NOW, **kw: str) -> set[str]:
    return {c.record_id for c in StoreIndex(session, now).lookup(profile(name, **kw))}


def seed(store: Store) -> None:
    with store.session() as session:
        save_records(session, [
            EndCustomer(id="cus_acme", name="Acme Robotics Inc", domain="acme.com", city="Austin", country="US",
                        is_customer=True),
            EndCustomer(id="cus_globex", name="Globex Corporation", country="US", is_customer=False),
            EndCustomer(id="cus_initech", name="Initech", country="US", is_customer=False),
            Opportunity(id="opp_globex", name="Globex - Platform", end_customer_id="cus_globex"),
            DealRegistration(id="reg_umbrella", partner_id="ptn_a", customer_name="Umbrella Health",
                             submitted_at=NOW - timedelta(days=1)),
            DealRegistration(id="reg_rejected", partner_id="ptn_a", customer_name="Umbrella Health", status="rejected"),
        ])


def test_the_first_check_builds_the_index_and_later_ones_only_catch_up(store: Store) -> None:
    seed(store)
    with store.session() as session:
        first = refresh_index(session, RULES)
        assert first.rebuilt and indexed_count(session) == 3  # a customer, an open direct deal, an active registration
        assert found(session, "ACME Robotics LLC") == {"cus_acme"}
        assert found(session, "Globex Corp") == {"opp_globex"}
        assert found(session, "Umbrella Health") == {"reg_umbrella"}
        assert found(session, "Initech") == set()  # a prospect without an open deal is nobody's yet
    with store.session() as session:
        again = refresh_index(session, RULES)
    assert not again.rebuilt and again.examined == 0


def test_saves_reach_the_index_through_the_dirty_list(store: Store) -> None:
    seed(store)
    with store.session() as session:
        refresh_index(session, RULES)
    with store.session() as session:
        save_records(session, [
            EndCustomer(id="cus_acme", name="Acme Automation Inc", domain="acme.com", city="Austin", country="US",
                        is_customer=True),  # renamed
            Opportunity(id="opp_globex", name="Globex - Platform", end_customer_id="cus_globex", is_closed=True),
            Opportunity(id="opp_initech", name="Initech - Won", end_customer_id="cus_initech", is_closed=True, is_won=True),
            DealRegistration(id="reg_wayne", partner_id="ptn_b", customer_name="Wayne Enterprises", submitted_at=NOW),
        ])
        stats = refresh_index(session, RULES)
        assert (stats.rebuilt, stats.removed) == (False, 1)  # the closed deal left
        assert found(session, "Acme Automation") == {"cus_acme"}
        [acme] = StoreIndex(session, NOW).lookup(profile("Acme Robotics"))
        assert acme.profile.norm == "acme automation"  # found by its first word, profiled under its new name
        assert found(session, "Globex Corp") == set()
        assert found(session, "Initech") == {"cus_initech"}  # a won deal makes its customer a customer
        assert found(session, "Wayne Enterprises") == {"reg_wayne"}
    with store.session() as session:
        delete_record(session, "end_customer", "cus_acme")
        refresh_index(session, RULES)
        assert found(session, "Acme Automation") == set()


def test_an_unchanged_profile_is_not_profiled_again(store: Store) -> None:
    seed(store)
    with store.session() as session:
        refresh_index(session, RULES)
        save_records(session, [EndCustomer(id="cus_acme", name="Acme Robotics Inc", domain="acme.com", city="Austin",
                                           country="US", is_customer=True, industry="Robotics")])
        stats = refresh_index(session, RULES)
    assert (stats.examined, stats.profiled) == (1, 0)


def test_an_approval_that_lapsed_is_no_candidate_without_any_write(store: Store) -> None:
    with store.session() as session:
        save_records(session, [DealRegistration(id="reg_old", partner_id="ptn_a", customer_name="Hooli", status="approved",
                                                submitted_at=NOW - timedelta(days=100), expires_at=NOW + timedelta(days=1))])
        refresh_index(session, RULES)
        assert found(session, "Hooli") == {"reg_old"}
        assert found(session, "Hooli", now=NOW + timedelta(days=2)) == set()


def test_another_fingerprint_rebuilds_the_index(store: Store) -> None:
    seed(store)
    with store.session() as session:
        refresh_index(session, RULES)
        stats = refresh_index(session, ConflictRules(public_mail_domains=["gmail.com"]))
    assert stats.rebuilt and stats.profiled == 3


def test_a_name_block_too_big_to_say_anything_is_skipped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account_index, "MAX_BLOCK", 3)
    with store.session() as session:
        save_records(session, [EndCustomer(id=f"cus_{i}", name=f"Global Tra{i}ding", country="US", is_customer=True)
                               for i in range(5)])
        refresh_index(session, RULES)
        assert found(session, "Global Zorblax") == set()  # shares only the first word with five others
        assert found(session, "Global Tra3ding") == {"cus_3"}  # the exact name is always read
        save_records(session, [EndCustomer(id=f"cus_{i}", name=f"Unique{i} Widgets", country="US", is_customer=True)
                               for i in range(5, 10)])
        refresh_index(session, RULES)  # a block that grows past the limit on a catch-up is marked too
        assert found(session, "Zorblax Widgets") == set()  # shares only the word now held by five


@pytest.mark.parametrize("typed", ["Kleatbrairain Robotics", "Kleatbriarrain Robotics", "Kleatbrairrainn Robotics",
                                   "Kleatbroirrain Robotics"])
def test_one_typo_in_a_long_first_word_still_finds_the_customer(store: Store, typed: str) -> None:
    with store.session() as session:
        save_records(session, [
            EndCustomer(id="cus_kleat", name="Kleatbrairrain Robotics Inc", country="US", is_customer=True),
            EndCustomer(id="cus_other", name="Kleatmoorvan Robotics Inc", country="US", is_customer=True),
        ])
        refresh_index(session, RULES)
        # a dropped, swapped, added or changed letter; another firm with the same first letters and the same
        # generic second word is no candidate at all
        assert found(session, typed) == {"cus_kleat"}


def test_initials_shared_by_many_customers_name_none_of_them(store: Store) -> None:
    from prm_sync.rules.candidates import MAX_ACRONYM_BLOCK

    with store.session() as session:
        save_records(session, [EndCustomer(id=f"cus_kb{i}", name=f"Kel{i}x Bro{i}z", country="US", is_customer=True)
                               for i in range(MAX_ACRONYM_BLOCK + 1)])
        save_records(session, [EndCustomer(id="cus_zq", name="Zarn Quillip", country="US", is_customer=True)])
        refresh_index(session, RULES)
        assert found(session, "ZQ Inc", country="US") == {"cus_zq"}  # initials of one firm: a candidate
        assert found(session, "KB Inc", country="US") == set()  # of fifty-one: none
