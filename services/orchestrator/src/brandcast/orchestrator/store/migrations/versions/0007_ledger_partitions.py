"""PostgreSQL: the ledger range-partitioned on ``position``.

A table cannot be altered into a partitioned one, so in one transaction the
old table is renamed, a partitioned ``ledger`` created with partitions
covering every existing position and two ranges ahead plus a DEFAULT one, the
rows moved, the old table dropped and the position sequence handed to the new
table (positions go on where they were: never reused). The indexes are built
once the rows are in. From then on the housekeeper creates ranges ahead
(``_retention``).

SQLite has no partitions; its ledger is compacted by row deletes and keeps its
table as it is.

The range size is written out here so the migration never changes with
``_retention.PARTITION_SIZE``.

Revision ID: 0007
Revises: 0006
"""

# Only this module's integer constants and table names are formatted in.
# ruff: noqa: S608

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SIZE = 10_000_000
_AHEAD = 2
_SEQUENCE = "ledger_position_seq"
_COLUMNS = """
    campaign_id VARCHAR(36) NOT NULL,
    delivery_id VARCHAR(36) NOT NULL,
    channel INTEGER NOT NULL,
    event INTEGER NOT NULL,
    at_us BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    provider VARCHAR(100) NOT NULL,
    provider_message_id VARCHAR(300) NOT NULL,
    error_code VARCHAR(100) NOT NULL,
    detail TEXT NOT NULL,
    applied INTEGER NOT NULL,
    batch_id VARCHAR(36) NOT NULL,
    delivery_ids TEXT NOT NULL,
    source INTEGER NOT NULL
"""
_NAMES = (
    "position, campaign_id, delivery_id, channel, event, at_us, attempt, provider, "
    "provider_message_id, error_code, detail, applied, batch_id, delivery_ids, source"
)


def _set_aside(old: str) -> None:
    """Rename ``ledger`` to ``old`` and free every name the new table takes."""
    op.drop_index("ix_ledger_campaign", "ledger")
    op.drop_index("ix_ledger_delivery", "ledger")
    op.execute(f"ALTER TABLE ledger RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT ledger_pkey TO {old}_pkey")
    op.execute(f"ALTER TABLE {old} ALTER COLUMN position DROP DEFAULT")
    op.execute(f"ALTER SEQUENCE {_SEQUENCE} OWNED BY NONE")


def _move_from(old: str) -> None:
    op.execute(f"INSERT INTO ledger ({_NAMES}) SELECT {_NAMES} FROM {old} ORDER BY position")
    op.execute(f"DROP TABLE {old}")
    op.execute(f"ALTER SEQUENCE {_SEQUENCE} OWNED BY ledger.position")
    op.create_index("ix_ledger_campaign", "ledger", ["campaign_id", "position"])
    op.create_index("ix_ledger_delivery", "ledger", ["delivery_id", "position"])


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _set_aside("ledger_unpartitioned")
    op.execute(
        f"CREATE TABLE ledger (position BIGINT NOT NULL DEFAULT nextval('{_SEQUENCE}'), "
        f"{_COLUMNS}, CONSTRAINT ledger_pkey PRIMARY KEY (position)) "
        "PARTITION BY RANGE (position)"
    )
    top = op.get_bind().execute(text("SELECT max(position) FROM ledger_unpartitioned")).scalar()
    for k in range((top or 0) // _SIZE + _AHEAD):
        op.execute(
            f"CREATE TABLE ledger_p{k * _SIZE} PARTITION OF ledger "
            f"FOR VALUES FROM ({k * _SIZE}) TO ({(k + 1) * _SIZE})"
        )
    # Created last, so no range above had to scan it; appends that outrun the
    # housekeeper's ranges land here instead of failing.
    op.execute("CREATE TABLE ledger_default PARTITION OF ledger DEFAULT")
    _move_from("ledger_unpartitioned")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _set_aside("ledger_partitioned")
    op.execute(
        f"CREATE TABLE ledger (position BIGINT NOT NULL DEFAULT nextval('{_SEQUENCE}'), "
        f"{_COLUMNS}, CONSTRAINT ledger_pkey PRIMARY KEY (position))"
    )
    # Dropping the partitioned table drops its partitions with it.
    _move_from("ledger_partitioned")
