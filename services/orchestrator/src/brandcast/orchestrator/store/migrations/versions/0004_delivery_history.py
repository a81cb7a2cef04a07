"""Delivery history, the DISPATCHED state's times, test sends and duplicates.

``delivery_events`` keeps every receipt (attempts, provider answers, errors)
with its time, so a receipt that changes nothing is still on record and the
delivery's detail can show what happened in order. Campaigns gain the time
they became DISPATCHED and the end of their report windows, a test flag and the
campaign they were duplicated from.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.create_index("ix_delivery_events_delivery", "delivery_events", ["delivery_id", "at_us"])
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("dispatched_us", sa.BigInteger))
        batch.add_column(sa.Column("report_window_ends_us", sa.BigInteger))
        batch.add_column(sa.Column("test", sa.Integer, nullable=False, server_default=sa.text("0")))
        batch.add_column(
            sa.Column("duplicated_from", sa.String(36), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for column in ("duplicated_from", "test", "report_window_ends_us", "dispatched_us"):
            batch.drop_column(column)
    op.drop_index("ix_delivery_events_delivery", "delivery_events")
    op.drop_table("delivery_events")
