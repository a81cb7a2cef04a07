"""Receipts become HOT updates on PostgreSQL: no index covers what they change.

PostgreSQL updates a row in place on its page, adding no index entry (a
heap-only tuple), only when no indexed column changes, the columns of a partial
index's predicate included. ``status_rank`` was in two indexes, so every
receipt (queued → sent → delivered) wrote a new entry into each of the table's
five indexes. Now:

- the outbox is the derived column ``in_outbox`` (1 while the rank is pending
  or scheduled), which the outbox indexes filter on: a receipt moves a
  delivery already out of the outbox, so it stays 0;
- ``ix_deliveries_campaign_status (campaign_id, status_rank)`` is gone. Its
  readers were the settled check, which reads the campaign's counters (moved in
  the same transaction as the deliveries), and the cancel and one-campaign
  claim, which read ``ix_deliveries_campaign_outbox (campaign_id, channel)
  WHERE in_outbox = 1``.

A HOT update must also find room on the row's own page, so on PostgreSQL the
table keeps 15 % of each page free (fillfactor 85). The claim's update cannot
be HOT (it leaves the outbox indexes) and puts the new version on a page
filled only to 85 %: in a test, 1,000 deliveries receiving SENT then DELIVERED
in flushes of 20, 77 % of the SENT and 97 % of the DELIVERED updates were HOT
at fillfactor 85, 1 % and 53 % at 100.

PostgreSQL stores the column: adding it rewrites the table once, under an
exclusive lock (at the new fillfactor). SQLite can only add a VIRTUAL
generated column, computed when read or indexed.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Literal on purpose: a partial index is only used when the query's predicate
# visibly implies this one, which a bound parameter does not.
OUTBOX_EXPR = "CASE WHEN status_rank <= 2 THEN 1 ELSE 0 END"
OUTBOX_PREDICATE = "in_outbox = 1"
OLD_OUTBOX_PREDICATE = "status_rank <= 2"
DUE_COLUMNS = ["channel", "not_before_us", "campaign_id"]
FILLFACTOR = 85


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f"ALTER TABLE deliveries SET (fillfactor = {FILLFACTOR})")
    op.add_column(
        "deliveries",
        sa.Column("in_outbox", sa.Integer, sa.Computed(OUTBOX_EXPR, persisted=postgres or None)),
    )
    op.drop_index("ix_deliveries_due", "deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        DUE_COLUMNS,
        postgresql_where=sa.text(OUTBOX_PREDICATE),
        sqlite_where=sa.text(OUTBOX_PREDICATE),
    )
    op.create_index(
        "ix_deliveries_campaign_outbox",
        "deliveries",
        ["campaign_id", "channel"],
        postgresql_where=sa.text(OUTBOX_PREDICATE),
        sqlite_where=sa.text(OUTBOX_PREDICATE),
    )
    op.drop_index("ix_deliveries_campaign_status", "deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_campaign_status", "deliveries", ["campaign_id", "status_rank"])
    op.drop_index("ix_deliveries_campaign_outbox", "deliveries")
    op.drop_index("ix_deliveries_due", "deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        DUE_COLUMNS,
        postgresql_where=sa.text(OLD_OUTBOX_PREDICATE),
        sqlite_where=sa.text(OLD_OUTBOX_PREDICATE),
    )
    op.drop_column("deliveries", "in_outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
