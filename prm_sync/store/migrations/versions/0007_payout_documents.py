"""Credit notes in the ERP: customer credit notes are read, clawbacks written as vendor credit notes.

``invoice.kind`` tells a customer invoice from a customer credit note
(Odoo ``out_refund``), which reduces what can ever be earned on the deal;
``payout.kind`` tells a payout bill (``in_invoice``) from a clawback written
as a vendor credit note (``in_refund``). Existing rows are invoices and
bills.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoice", sa.Column("kind", sa.String(length=32), server_default=sa.text("'invoice'"), nullable=False))
    op.add_column("payout", sa.Column("kind", sa.String(length=32), server_default=sa.text("'bill'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payout") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("kind")
