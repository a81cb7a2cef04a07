"""A partial index in the dispatcher's claim order, over the outbox only.

The claim asks for due pending/scheduled deliveries ordered by
(not_before_us, campaign_id, channel). With the index on (status_rank,
not_before_us) every claim sorted all dispatchable rows (bench/RESULTS.md: 37% of
the dispatcher's busy time); this one hands them over already in order and
shrinks as deliveries leave the outbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Literal on purpose: a partial index is only used when the query's predicate
# visibly implies this one, which a bound parameter does not.
OUTBOX_PREDICATE = "status_rank <= 2"


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["not_before_us", "campaign_id", "channel"],
        postgresql_where=sa.text(OUTBOX_PREDICATE),
        sqlite_where=sa.text(OUTBOX_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", "deliveries")
