"""Durable simulator: the parts the virtual network accepted for virtual phones and has
not delivered yet (--simulate only), so that what phones receive outlives the worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sim_pending_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('concat_reference', sa.Integer(), nullable=True),
    sa.Column('part_number', sa.Integer(), nullable=False),
    sa.Column('part_count', sa.Integer(), nullable=False),
    sa.Column('submitted_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_pending_parts'))
    )


def downgrade() -> None:
    op.drop_table('sim_pending_parts')
