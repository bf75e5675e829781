"""The conflict check's account index, kept between runs.

Until now every run that checked registrations profiled every active
registration, open direct opportunity and customer again (80 s at a million
accounts). ``conflict_index_entry`` keeps each candidate's profile,
``conflict_index_key`` its hashed blocking keys, ``conflict_index_big_block``
the keys too common to use; ``conflict_index_dirty`` lists the records saved
since the index caught up (the store appends to it on every save of those
entities) and ``conflict_index_meta`` the fingerprint of the index format.
The tables start empty: the first check builds the index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conflict_index_entry",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("source_hash", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=True),
        sa.Column("product_lines", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict_index_entry")),
    )
    op.create_index("uq_conflict_index_entry_record", "conflict_index_entry", ["kind", "record_id"], unique=True)
    op.create_table(
        "conflict_index_key",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "entry_id", name=op.f("pk_conflict_index_key")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "conflict_index_big_block",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_conflict_index_big_block")),
    )
    op.create_table(
        "conflict_index_dirty",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict_index_dirty")),
    )
    op.create_table(
        "conflict_index_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_conflict_index_meta")),
    )


def downgrade() -> None:
    op.drop_table("conflict_index_meta")
    op.drop_table("conflict_index_dirty")
    op.drop_table("conflict_index_big_block")
    op.drop_table("conflict_index_key")
    op.drop_index("uq_conflict_index_entry_record", table_name="conflict_index_entry")
    op.drop_table("conflict_index_entry")
