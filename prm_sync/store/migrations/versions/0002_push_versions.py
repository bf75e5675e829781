"""Record versions, so an incremental push visits only what changed.

Every canonical record gets ``row_version``, which the store increments on
each save that changes the row. A link state remembers which version of its
record it last agreed on (``record_version``) and under which mapping
(``push_fingerprint``). A push then plans only records that are newer than
their link, never linked, or linked under another mapping, instead of every
record of the entity. Existing links start without a version: the first push
after the upgrade checks them all once, as before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITY_TABLES = (
    "partner", "partner_contact", "end_customer", "deal_registration", "opportunity", "closure", "attribution",
    "course_completion", "certification", "invoice", "payment", "payout",
)


def upgrade() -> None:
    for table in ENTITY_TABLES:
        op.add_column(table, sa.Column("row_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    op.add_column("sync_state", sa.Column("record_version", sa.BigInteger(), nullable=True))
    op.add_column("sync_state", sa.Column("push_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("push_fingerprint")
        batch.drop_column("record_version")
    for table in ENTITY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("row_version")
