"""The engine hook end to end on a store: decisions counted, re-runs change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from conftest import NOW, customer, opportunity, partner, registration
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import CourseCompletion, Invoice, Opportunity, Payment
from prm_sync.rules import apply_rules
from prm_sync.store.db import Store
from prm_sync.store.records import get_record, list_records, save_record
from prm_sync.sync.stats import RunReport


@dataclass
class FakeConfig:
    rules: RulesConfig


@dataclass
class FakeContext:
    """The parts of ``RunContext`` the hook uses: store transaction, clock, pulled ids, run id."""

    store: Store
    config: FakeConfig
    pulled: dict[str, set[str]] = field(default_factory=dict)
    run_id: str = "run_test"
    now: datetime = NOW

    def clock(self) -> datetime:
        return self.now

    @contextmanager
    def transaction(self, *, every_entity: bool = False) -> Iterator[Session]:
        assert every_entity  # the rules write across slices: they take their turn on every entity
        with self.store.session() as session:
            yield session


def seed(store: Store) -> None:
    with store.session() as s:
        partner(s, "ptn_a", name="Alpha Partners", tier="silver")
        partner(s, "ptn_b", name="Beta Partners")
        customer(s, "cus_1", "Acme Robotics", domain="acme.com", country="US")
        registration(s, "reg_a", "ptn_a", "Acme Robotics Inc", customer_domain="acme.com", submitted_at=NOW - timedelta(days=2))
        registration(s, "reg_b", "ptn_b", "ACME ROBOTICS LLC", contact_email="x@acme.com")
        registration(s, "reg_sec", "ptn_b", "Initech", product_lines=["security"])
        registration(s, "reg_old", "ptn_b", "Old Co", status="approved", expires_at=NOW - timedelta(hours=1), opportunity_id="opp_old")
        opportunity(s, "opp_old", registration_id="reg_old", registered_partner_id="ptn_b", registration_status="approved")
        registration(s, "reg_won", "ptn_a", "Globex", status="approved", expires_at=NOW + timedelta(days=10),
                     submitted_at=NOW - timedelta(days=50))
        opportunity(s, "opp_won", registration_id="reg_won", is_closed=True, is_won=True, close_date=date(2026, 11, 1),
                    amount=Decimal("50000"))
        save_record(s, CourseCompletion(id="cmp_1", learner_email="x@alpha.com", partner_id="ptn_a", course_id="c",
                                        product_line="platform", completed_at=NOW - timedelta(days=3), score=0.9))
        save_record(s, Invoice(id="inv_1", number="1", opportunity_id="opp_won", amount=Decimal("50000"), issued_at=date(2026, 11, 1)))
        save_record(s, Payment(id="pay_1", invoice_id="inv_1", amount=Decimal("25000"), paid_at=NOW - timedelta(hours=2)))


def test_apply_rules_counts_decisions_and_is_idempotent(store: Store, rules: RulesConfig) -> None:
    seed(store)
    pulled = {"deal_registration": {"reg_a", "reg_b"}, "opportunity": {"opp_won"}, "course_completion": {"cmp_1"},
              "payment": {"pay_1"}}
    report = RunReport(run_id="run_test", status="running", started_at=NOW, mapping_version="v1")
    apply_rules(FakeContext(store, FakeConfig(rules), pulled), report)  # type: ignore[arg-type]
    decisions = report.rule_decisions
    assert decisions["clear"] == 1 and decisions["conflict"] == 1  # reg_a first, reg_b second by partner b
    assert decisions["returned"] == 1  # reg_sec: security without certification
    assert decisions["expired"] == 1 and decisions["attributed"] == 1 and decisions["payouts"] == 1
    assert decisions["certified"] == 1
    with store.session() as s:
        old = get_record(s, "opportunity", "opp_old")
        won = get_record(s, "opportunity", "opp_won")
        assert isinstance(old, Opportunity) and old.registered_partner_id is None
        assert isinstance(won, Opportunity) and won.attribution_summary == "Sourced: Alpha Partners (10%)"
        [payout] = list_records(s, "payout")
        assert payout.amount == Decimal("2500.00")  # type: ignore[attr-defined]

    again = RunReport(run_id="run_2", status="running", started_at=NOW, mapping_version="v1")
    later = NOW + timedelta(minutes=5)
    apply_rules(FakeContext(store, FakeConfig(rules), pulled, run_id="run_2", now=later), again)  # type: ignore[arg-type]
    assert "attributed" not in again.rule_decisions and "expired" not in again.rule_decisions
    with store.session() as s:
        assert len(list_records(s, "attribution")) == 1 and len(list_records(s, "payout")) == 1


def test_unchecked_registrations_are_checked_without_a_pull(store: Store, rules: RulesConfig) -> None:
    with store.session() as s:
        registration(s, "reg_x", "ptn_a", "Lonely Co", submitted_at=datetime(2026, 10, 1, tzinfo=UTC))
    report = RunReport(run_id="r", status="running", started_at=NOW, mapping_version="v1")
    apply_rules(FakeContext(store, FakeConfig(rules)), report)  # type: ignore[arg-type]
    assert report.rule_decisions == {"clear": 1}
