"""Simulated modem commands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sim_modem_commands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('modem', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('fault', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('applied_at', UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_modem_commands'))
    )
    with op.batch_alter_table('sim_modem_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_modem_commands_applied_at'), ['applied_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sim_modem_commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_modem_commands_applied_at'))

    op.drop_table('sim_modem_commands')
