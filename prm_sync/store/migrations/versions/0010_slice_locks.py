"""Slice locks: a run lock names its holder's host and pid.

The sync now takes one lock per (system, entity) slice instead of one
``sync`` lock per store; ``host`` and ``pid`` let another process on the
same host see that a holder was killed and take its lock over at once
instead of waiting for the heartbeat to expire. A ``sync`` row of the old
scheme is kept: it may belong to a sync of the previous release that is
still running while the store is upgraded under it (the embedded SQLite
file upgrades itself when any newer command opens it), and
``prm_sync.store.locks`` treats it as a lock on every slice until its
holder finishes or its heartbeat is older than ``stale_after``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_lock", sa.Column("host", sa.String(length=255), nullable=True))
    op.add_column("run_lock", sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_lock") as batch:
        batch.drop_column("pid")
        batch.drop_column("host")
