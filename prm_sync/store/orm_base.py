"""The store's declarative base and column types, shared by the entity and the bookkeeping tables.

Why a module of its own: ``prm_sync.store.orm`` (entity tables) and
``prm_sync.store.orm_bookkeeping`` (the sync's own tables) both build on one
metadata with one naming convention, so the hand-written migrations and the
metadata agree on every backend whichever module a table lives in.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Double, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase

from prm_sync.store.types import Money, UTCDateTime

# explicit names so the hand-written migration and the metadata agree on every backend
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)  # our own ids: ``ptn_…``, ``run_…``
REMOTE_ID = String(255)
SYSTEM = String(32)
REMOTE_OBJECT = String(128)
ENTITY = String(32)
ENUM = String(32)
# sqlite only autoincrements an INTEGER PRIMARY KEY
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        date: Date(),
        float: Double(),
        str: String(),
        dict[str, Any]: JSON(),
        dict[str, str]: JSON(),
        list[Any]: JSON(),
        list[str]: JSON(),
    }
