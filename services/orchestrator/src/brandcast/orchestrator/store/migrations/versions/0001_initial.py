"""Initial schema: campaigns, recipients, deliveries, suppressions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("audience_size", sa.BigInteger, nullable=False),
        sa.Column("trace_context", sa.Text, nullable=False),
        sa.Column("send_at_us", sa.BigInteger),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("completed_us", sa.BigInteger),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_campaigns_created", "campaigns", ["created_us", "id"])
    op.create_table(
        "recipients",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("recipient_id", sa.String(200), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("recipient_id", sa.String(200), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("status_rank", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("provider_message_id", sa.String(300), nullable=False),
        sa.Column("error_code", sa.String(100), nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("public_url", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("not_before_us", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_deliveries_outbox", "deliveries", ["status_rank", "not_before_us"])
    op.create_index("ix_deliveries_campaign_status", "deliveries", ["campaign_id", "status_rank"])
    op.create_index("ix_deliveries_campaign_seq", "deliveries", ["campaign_id", "seq", "id"])
    op.create_table(
        "suppressions",
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("channel", "address", name="uq_suppressions_channel_address"),
    )


def downgrade() -> None:
    for table in ("suppressions", "deliveries", "recipients", "campaigns"):
        op.drop_table(table)
