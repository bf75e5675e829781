"""When each field of a PRM record last changed, for the ``newest`` rule.

``newest`` settles a field edited on both sides by which edit is later. The
record's ``updated_at`` is the wrong clock for that: it moves when any field
changes. ``field_changed_at`` keeps, per record, the time each field's value
last changed (stamped by the store on save). Rows from before this migration
have none (NULL) and fall back to ``updated_at`` until their next change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITY_TABLES = (
    "partner", "partner_contact", "end_customer", "deal_registration", "opportunity", "closure", "attribution",
    "course_completion", "certification", "invoice", "payment", "payout",
)


def upgrade() -> None:
    for table in ENTITY_TABLES:
        op.add_column(table, sa.Column("field_changed_at", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # SQLite's batch mode rebuilds the table from what it can reflect, which leaves out 0004's
    # expression index: drop it first and build it again afterwards
    op.execute("DROP INDEX IF EXISTS ix_partner_contact_email_key")
    for table in ENTITY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("field_changed_at")
    op.create_index("ix_partner_contact_email_key", "partner_contact", [sa.text("lower(trim(email))")], unique=False)
