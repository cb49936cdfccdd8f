"""Sliding-window rate limit events (issue 10)

The ring of event times of each sliding window (gateway.storage.rate_windows); the
rate_counters rows become the windows' heads. The fixed-window rows left in rate_counters
have keys the sliding windows never use: the housekeeping removes them once expired.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_events",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot", name="pk_rate_events"),
        sqlite_with_rowid=False,  # the primary key is the table: one B-tree per write
    )


def downgrade() -> None:
    op.drop_table("rate_events")
