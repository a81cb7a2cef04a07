"""A campaign's deliveries in id order, and the ones untouched since intake.

Writers no longer bump the campaign's ``event_seq`` under its row lock and
stamp the rows they move with it: a moved delivery's ``seq`` is now a constant
2. ``ix_deliveries_campaign_seq`` (``campaign_id, seq, id``) served two
readers, which each get an index of their own:

- the export pages by ``(campaign_id, id)``, an order no write changes, so a
  delivery changing under an export is neither missed nor repeated;
- the watch lists the deliveries still at ``seq`` 1 (untouched since intake)
  by a partial index that holds only those: a delivery leaves it with its
  first move and never re-enters it.

Existing rows keep their seq: any value other than 1 means "moved".

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Literal on purpose: a partial index is only used when the query's predicate
# visibly implies this one, which a bound parameter does not.
INTAKE_PREDICATE = "seq = 1"


def upgrade() -> None:
    op.create_index("ix_deliveries_campaign_id", "deliveries", ["campaign_id", "id"])
    op.create_index(
        "ix_deliveries_intake",
        "deliveries",
        ["campaign_id", "id"],
        postgresql_where=sa.text(INTAKE_PREDICATE),
        sqlite_where=sa.text(INTAKE_PREDICATE),
    )
    op.drop_index("ix_deliveries_campaign_seq", "deliveries")


def downgrade() -> None:
    # The previous version's export relies on a moved row getting a seq above
    # every one already stamped: its bumps must start above 2.
    op.execute("UPDATE campaigns SET event_seq = 2 WHERE event_seq < 2")
    op.create_index("ix_deliveries_campaign_seq", "deliveries", ["campaign_id", "seq", "id"])
    op.drop_index("ix_deliveries_intake", "deliveries")
    op.drop_index("ix_deliveries_campaign_id", "deliveries")
