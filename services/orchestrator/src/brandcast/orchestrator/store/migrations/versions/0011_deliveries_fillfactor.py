"""PostgreSQL: ``deliveries`` pages are filled to 40 % at insert (fillfactor).

A delivery row is written three times: inserted at acceptance, marked QUEUED,
updated by its receipt. The receipt changes no indexed column (migration
0009), so it could be a HOT update (no new index entries), but only when its
new version fits on the page of the version it replaces. With the 15 % that
0009 left free, most pages had no room once the QUEUED mark's versions were
written: in ``bench/bench_store_paths.py`` (three runs of 20,000 deliveries,
flushes of 2,000 as the collector applies them) 17,430 of 60,000 receipts were
HOT, on 5,560 pages. With 60 % of each page left free, the mark's version lands
beside the original, pruning reclaims the original once it is dead, and all
60,000 were HOT, on a table 16 % smaller (4,694 pages, every version counted);
receipts took 18.7-19.6 µs of wall time per delivery against 21.6-23.3. (At
50 % free 82 % were HOT; at 35 %, 75 %; at 20 %, 43 %.)

The setting applies to pages filled from now on; existing rows stay where they
are. Changing it takes a brief SHARE UPDATE EXCLUSIVE lock (no rewrite).
SQLite has no such setting; the migration does nothing there.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: Percentage of a ``deliveries`` page filled at insert (schema.py says the same).
FILLFACTOR = 40


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE deliveries SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
