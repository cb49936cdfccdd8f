"""Destination guard: SMS and verifications per prefix, blocks (issue 10)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guard_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('bucket_start', UTCDateTime(), nullable=False),
    sa.Column('sms', sa.Integer(), nullable=False),
    sa.Column('verified', sa.Integer(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_counts')),
    sa.UniqueConstraint('prefix', 'bucket_start', name=op.f('uq_guard_counts_prefix'))
    )
    with op.batch_alter_table('guard_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_counts_expires_at'), ['expires_at'],
                              unique=False)

    op.create_table('guard_blocks',
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('blocked_at', UTCDateTime(), nullable=False),
    sa.Column('blocked_until', UTCDateTime(), nullable=False),
    sa.Column('sms', sa.Integer(), nullable=False),
    sa.Column('verified', sa.Integer(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_guard_blocks'))
    )
    with op.batch_alter_table('guard_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_blocks_expires_at'), ['expires_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('guard_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_blocks_expires_at'))
    op.drop_table('guard_blocks')
    with op.batch_alter_table('guard_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_counts_expires_at'))
    op.drop_table('guard_counts')
