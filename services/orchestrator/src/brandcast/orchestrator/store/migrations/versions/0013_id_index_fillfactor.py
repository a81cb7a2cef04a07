"""PostgreSQL: the deliveries' id indexes keep half of each leaf page free.

A delivery's QUEUED mark takes it out of the outbox's partial indexes, so it
cannot be a HOT update: its new version gets a second entry, under the same
key, in ``deliveries_pkey`` and ``ix_deliveries_campaign_id``. Ids ascend as
they are written (UUIDv7), so at intake those indexes fill their leaf pages to
the default 90 %, and the marks then split nearly every one of them. Filled to
50 %, a page holds its keys' second entries: the mark splits nothing, and the
receipt after it is HOT and adds no entry. ``bench/bench_store_paths.py``
(three runs of 20,000 deliveries, twice): the claim and QUEUED mark took 16.2
and 17.1 µs of wall time per delivery against 18.4 and 19.2.

The setting applies to pages split from now on; existing pages stay as full as
they are (``REINDEX ... CONCURRENTLY`` rewrites them without blocking writes).
Changing it takes a brief lock. SQLite has no such setting: nothing to do.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Percentage of a leaf page filled at insert (schema.py says the same).
FILLFACTOR = 50
INDEXES = ("deliveries_pkey", "ix_deliveries_campaign_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in INDEXES:
            op.execute(f"ALTER INDEX {index} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (fillfactor)")
