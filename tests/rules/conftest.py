"""Fixtures for the rules tests: a migrated in-memory store and record factories.

Time is always injected (``NOW``) so windows, expiries and grace periods are
deterministic; nothing reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from prm_sync.config.settings import RulesConfig
from prm_sync.model import DealRegistration, EndCustomer, Opportunity, Partner
from prm_sync.store.db import Store, make_engine
from prm_sync.store.migrate import upgrade
from prm_sync.store.records import save_record

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    engine = make_engine("sqlite://")
    upgrade(engine)
    with Store(engine) as s:
        yield s


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    with store.session() as s:
        yield s


@pytest.fixture
def rules() -> RulesConfig:
    return RulesConfig.model_validate(
        {
            "protection": {"default_days": 90, "per_tier": {"gold": 120}, "extension_days": 30, "max_extensions": 1},
            "certification": {"validity_months": 12, "renewal_window_days": 30, "required_for_product_lines": ["security"]},
            "tiers": {"demotion_grace_days": 60, "requirements": {"silver": {"certified_people": 1},
                                                                 "gold": {"certified_people": 2, "closed_revenue": 100000}}},
            "attribution": {"default": {"sourced": 10, "influenced": 2, "fulfilled": 5},
                            "per_tier": {"gold": {"sourced": 15, "influenced": 3, "fulfilled": 5}}},
        }
    )


def partner(session: Session, pid: str, **kw: Any) -> Partner:
    rec = Partner(id=pid, name=kw.pop("name", f"Partner {pid}"), **kw)
    save_record(session, rec)
    return rec


def registration(session: Session, rid: str, partner_id: str, name: str, **kw: Any) -> DealRegistration:
    kw.setdefault("submitted_at", NOW)
    kw.setdefault("product_lines", ["platform"])
    rec = DealRegistration(id=rid, partner_id=partner_id, customer_name=name, **kw)
    save_record(session, rec)
    return rec


def customer(session: Session, cid: str, name: str, **kw: Any) -> EndCustomer:
    rec = EndCustomer(id=cid, name=name, **kw)
    save_record(session, rec)
    return rec


def opportunity(session: Session, oid: str, **kw: Any) -> Opportunity:
    kw.setdefault("name", f"Deal {oid}")
    kw.setdefault("amount", Decimal("100000"))
    rec = Opportunity(id=oid, **kw)
    save_record(session, rec)
    return rec
