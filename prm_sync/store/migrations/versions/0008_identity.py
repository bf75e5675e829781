"""Identity: remote records the sync could not tie to a PRM record, and PRM ids merged away.

``unmatched_record`` keeps what an ``on_unmatched: report`` policy, an
ambiguous natural key or an adoption plan could not decide, one row per
remote record, for ``prm-sync status``, the health view and a person.
``record_alias`` maps a merged-away PRM id to its survivor so that a CRM
field or a file still naming the old id resolves instead of re-creating it.
Both start empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unmatched_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("remote_object", sa.String(length=128), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_record")),
    )
    op.create_index("uq_unmatched_record_remote", "unmatched_record", ["system", "remote_object", "remote_id"],
                    unique=True)
    op.create_index("ix_unmatched_record_status", "unmatched_record", ["status", "entity"], unique=False)
    op.create_table(
        "record_alias",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("entity", "record_id", name=op.f("pk_record_alias")),
    )
    op.create_index("ix_record_alias_survivor_id", "record_alias", ["survivor_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_record_alias_survivor_id", table_name="record_alias")
    op.drop_table("record_alias")
    op.drop_index("ix_unmatched_record_status", table_name="unmatched_record")
    op.drop_index("uq_unmatched_record_remote", table_name="unmatched_record")
    op.drop_table("unmatched_record")
