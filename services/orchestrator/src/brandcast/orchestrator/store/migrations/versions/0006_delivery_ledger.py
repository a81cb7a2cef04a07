"""The delivery ledger and the per-campaign counters.

``ledger`` replaces ``delivery_events``: every receipt on record moves over
(with whether it moved its delivery, worked out by the forward-only rank rule
in the order they happened), and each delivery whose current status no
receipt explains (queued, deferred, cancelled, suppressed, skipped, failed
before dispatch) gets one event for its last change, at its ``updated_us``. The
events are numbered in time order. ``delivery_counters`` starts as a count of
every campaign's deliveries per channel and status.

The numbers below are brandcast.v1's DeliveryStatus and LedgerEventType and
``_ledger.Source`` values as of this revision, written out so the migration
never changes with them.

Revision ID: 0006
Revises: 0005
"""

# Only this module's integer constants are formatted into its statements.
# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: DeliveryStatus → LedgerEventType.
_EVENT_OF_STATUS = {1: 8, 2: 8, 10: 8, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 8: 6, 9: 7, 11: 9}
#: DeliveryStatus → rank (the forward-only rule; a deferral has none).
_RANK_OF_STATUS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 6, 8: 6, 9: 6, 11: 6}
_SOURCE_RECEIPT = 3
_SOURCE_MIGRATION = 5


def _case(column: str, mapping: dict[int, int], default: int) -> str:
    whens = " ".join(f"WHEN {key} THEN {value}" for key, value in mapping.items())
    return f"CASE {column} {whens} ELSE {default} END"


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("event", sa.Integer, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("provider_message_id", sa.String(300), nullable=False),
        sa.Column("error_code", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("applied", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("delivery_ids", sa.Text, nullable=False),
        sa.Column("source", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "delivery_counters",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.Integer, primary_key=True),
        sa.Column("status", sa.Integer, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO delivery_counters (campaign_id, channel, status, count) "
        "SELECT campaign_id, channel, status, COUNT(*) FROM deliveries "
        "GROUP BY campaign_id, channel, status"
    )
    rank = _case("e.status", _RANK_OF_STATUS, 0)
    columns = (
        "campaign_id, delivery_id, channel, event, at_us, attempt, provider, "
        "provider_message_id, error_code, detail, applied, batch_id, delivery_ids, source"
    )
    receipts = f"""
        SELECT e.campaign_id, e.delivery_id, COALESCE(d.channel, 0) AS channel,
               {_case("e.status", _EVENT_OF_STATUS, 0)} AS event, e.at_us,
               e.attempts AS attempt, e.provider, e.provider_message_id, e.error_code,
               e.error_message AS detail,
               CASE WHEN {rank} > COALESCE(MAX({rank}) OVER (
                   PARTITION BY e.delivery_id ORDER BY e.at_us
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 1)
                   THEN 1 ELSE 0 END AS applied,
               '' AS batch_id, '' AS delivery_ids, {_SOURCE_RECEIPT} AS source
        FROM delivery_events e LEFT JOIN deliveries d ON d.id = e.delivery_id
    """
    unexplained = f"""
        SELECT d.campaign_id, d.id, d.channel, {_case("d.status", _EVENT_OF_STATUS, 0)},
               d.updated_us, d.attempts, d.provider, d.provider_message_id, d.error_code,
               d.error_message, 1, '', '', {_SOURCE_MIGRATION}
        FROM deliveries d
        WHERE d.status_rank > 1 AND NOT EXISTS (
            SELECT 1 FROM delivery_events e
            WHERE e.delivery_id = d.id AND e.status = d.status)
    """
    op.execute(
        f"INSERT INTO ledger ({columns}) SELECT * FROM ({receipts} UNION ALL {unexplained}) "
        "AS backfill ORDER BY at_us"
    )
    op.create_index("ix_ledger_campaign", "ledger", ["campaign_id", "position"])
    op.create_index("ix_ledger_delivery", "ledger", ["delivery_id", "position"])
    op.drop_index("ix_delivery_events_delivery", "delivery_events")
    op.drop_table("delivery_events")


def downgrade() -> None:
    op.create_table(
        "delivery_events",
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("provider_message_id", sa.String(300), nullable=False),
        sa.Column("error_code", sa.String(100), nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
    )
    status_of_event = {1: 3, 2: 4, 3: 5, 4: 6, 5: 7, 6: 8, 7: 9, 8: 10, 9: 11}
    op.execute(
        "INSERT INTO delivery_events (delivery_id, campaign_id, at_us, status, attempts, "
        "provider, provider_message_id, error_code, error_message) "
        f"SELECT delivery_id, campaign_id, at_us, {_case('event', status_of_event, 0)}, "
        "attempt, provider, provider_message_id, error_code, detail FROM ledger "
        f"WHERE source = {_SOURCE_RECEIPT} AND delivery_id <> '' ORDER BY position"
    )
    op.create_index("ix_delivery_events_delivery", "delivery_events", ["delivery_id", "at_us"])
    op.drop_index("ix_ledger_delivery", "ledger")
    op.drop_index("ix_ledger_campaign", "ledger")
    op.drop_table("ledger")
    op.drop_table("delivery_counters")
