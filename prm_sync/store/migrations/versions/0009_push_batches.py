"""Push batches: one ledger-and-audit row per written batch, and a two-key index of the records in it.

A push used to write a ``write_ledger`` row and an ``audit_log`` row per
record and system (eight index entries between them). From this revision a
push writes one ``push_batch`` row per batch, holding every record's payload
and field changes, and one ``push_batch_record`` key per record so that
``prm-sync audit RECORD`` still finds them (see ``PushBatchRow``). The old
rows stay where they are and read as before: audit and ledger reads merge
both, and retention ages the old ones out. Nothing to copy, so the upgrade
takes no time on a large store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_batch",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("remote_object", sa.String(length=128), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("mapping_version", sa.String(length=64), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_batch")),
    )
    op.create_index("ix_push_batch_run_id", "push_batch", ["run_id"], unique=False)
    op.create_index("ix_push_batch_at", "push_batch", ["at"], unique=False)
    op.create_table(
        "push_batch_record",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("record_id", "batch_id", name=op.f("pk_push_batch_record")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("push_batch_record")
    op.drop_index("ix_push_batch_at", table_name="push_batch")
    op.drop_index("ix_push_batch_run_id", table_name="push_batch")
    op.drop_table("push_batch")
