"""PostgreSQL: campaign, delivery and recipient ids compare byte by byte (``COLLATE "C"``).

Every index on the hot tables is keyed by these ids, and a column of the
database's collation compares through the locale even when the database's
collation is ``C.UTF-8`` (PostgreSQL 15 treats only ``C`` and ``POSIX`` as
plain byte order). Measured with ``bench/bench_store_paths.py`` (three runs
of 20,000 deliveries, wall time per delivery, server included, means of two
pairs): on a ``C.UTF-8`` database the QUEUED mark 17.5 → 15.8 µs, and 19.3 →
18.4 µs in two later pairs (``--setup-sql`` restoring the collation); on an
ICU ``en-US`` database the mark 18.9 → 15.5 µs and receipts 18.9 → 17.7 µs.

The order does not change for the ids Brandcast makes (UUIDs: lowercase hex
and dashes at fixed places sort the same under any of those collations), and
it now matches SQLite's BINARY and Python's ``sorted``, which the watch uses
within one ledger event. Recipient ids (the caller's) may sort differently
than before; only the orchestrator pages through them, within one run.

Only the collation changes, so no table is rewritten, but every index on
these columns is rebuilt under an exclusive lock: on a large database run
this while no campaign is dispatching. SQLite compares bytes already (BINARY);
the migration does nothing there.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: (table, column, length) of every id column; columns compared with each other
#: (a join, an IN over another table) share the collation, so those joins can
#: still use the indexes.
_COLUMNS = (
    ("campaigns", "id", 36),
    ("recipients", "campaign_id", 36),
    ("recipients", "recipient_id", 200),
    ("deliveries", "id", 36),
    ("deliveries", "campaign_id", 36),
    ("deliveries", "recipient_id", 200),
    ("ledger", "campaign_id", 36),
    ("ledger", "delivery_id", 36),
    ("delivery_counters", "campaign_id", 36),
)


def upgrade() -> None:
    _set_collation('"C"')


def downgrade() -> None:
    _set_collation("pg_catalog.default")


def _set_collation(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    tables: dict[str, list[str]] = {}
    for table, column, length in _COLUMNS:
        tables.setdefault(table, []).append(
            f"ALTER COLUMN {column} TYPE varchar({length}) COLLATE {collation}"
        )
    for table, changes in tables.items():
        # One statement per table: its indexes are rebuilt once.
        op.execute(f"ALTER TABLE {table} " + ", ".join(changes))
