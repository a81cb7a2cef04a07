"""Each delivery keeps the status it had before its last move (``prev_status``).

A write that moves deliveries must move the campaign's counters from exactly
the status each one left. Until now it read (and locked) the rows first, then
updated them: two statements per batch of deliveries, the first one taking a
row lock, which PostgreSQL writes into the tuple. Now the update itself says
what it replaced: ``SET prev_status = status, status = ...`` evaluates the
right-hand sides against the row being replaced, and ``RETURNING prev_status``
hands it back. Under concurrency PostgreSQL re-evaluates the update against
the newest committed version of a row another transaction moved meanwhile, so
the status returned is the one this update actually replaced.

The column is in no index, so receipts stay HOT updates (migration 0009).
Adding a column with a constant default neither rewrites the table nor holds
its lock for longer than the catalogue change, on PostgreSQL 11 and later and
on SQLite. Existing rows read 0 (DELIVERY_STATUS_UNSPECIFIED): no earlier
status is known for them.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("prev_status", sa.Integer, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("deliveries", "prev_status")
