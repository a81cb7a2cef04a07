"""The outbox index per channel, and one index fewer on every delivery write.

Each channel now has its own dispatcher thread claiming ``WHERE channel = ?``
in ``(not_before_us, campaign_id)`` order; with ``channel`` first, that claim
is an index scan even when another channel holds most of the outbox (0002's
order put a whole campaign's emails ahead of its SMS).

``ix_deliveries_outbox`` is dropped: the partial index serves every outbox
query, and every status change of a delivery (queued, sent, delivered) moved
it in this index too, an index write per receipt for nothing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Literal on purpose: a partial index is only used when the query's predicate
# visibly implies this one, which a bound parameter does not.
OUTBOX_PREDICATE = "status_rank <= 2"


def upgrade() -> None:
    op.drop_index("ix_deliveries_outbox", "deliveries")
    op.drop_index("ix_deliveries_due", "deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["channel", "not_before_us", "campaign_id"],
        postgresql_where=sa.text(OUTBOX_PREDICATE),
        sqlite_where=sa.text(OUTBOX_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", "deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["not_before_us", "campaign_id", "channel"],
        postgresql_where=sa.text(OUTBOX_PREDICATE),
        sqlite_where=sa.text(OUTBOX_PREDICATE),
    )
    op.create_index("ix_deliveries_outbox", "deliveries", ["status_rank", "not_before_us"])
