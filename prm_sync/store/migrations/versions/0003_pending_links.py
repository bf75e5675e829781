"""A journal of associations in flight, so a crash cannot lose them.

A push writes a batch of records, commits, and only then sends their
HubSpot associations. ``pending_links`` holds one row per batch whose links
are not yet confirmed; the commit that confirms them deletes it. A row that
outlives its run (the process died in between) makes the next push write
those records again, and link them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_links")),
    )
    op.create_index("ix_pending_links_slice", "pending_links", ["entity", "system"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pending_links_slice", table_name="pending_links")
    op.drop_table("pending_links")
