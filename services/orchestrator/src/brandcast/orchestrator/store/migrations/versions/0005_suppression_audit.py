"""The suppression audit trail: who added or removed which address, when and why.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppression_audit",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.Integer, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("action", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_suppression_audit_at", "suppression_audit", ["at_us", "id"])
    op.create_index(
        "ix_suppression_audit_address", "suppression_audit", ["channel", "address", "at_us"]
    )


def downgrade() -> None:
    op.drop_index("ix_suppression_audit_address", "suppression_audit")
    op.drop_index("ix_suppression_audit_at", "suppression_audit")
    op.drop_table("suppression_audit")
