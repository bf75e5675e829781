"""Partner contacts found by learner email, case-insensitively, with an index.

Every sync resolves LMS learners (an xAPI statement names only an email) to
partner contacts by ``lower(trim(email))`` (``prm_sync.rules.learners``);
an expression index makes that one lookup per run an index probe instead
of a scan of every contact. SQLite (3.9+) and PostgreSQL both index
expressions. SQLite's batch mode cannot reflect such an index: a later
migration that rebuilds ``partner_contact`` in batch mode must drop it first
and create it again (as 0006's downgrade does).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_partner_contact_email_key", "partner_contact", [sa.text("lower(trim(email))")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_partner_contact_email_key", table_name="partner_contact")
