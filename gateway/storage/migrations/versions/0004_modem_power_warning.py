"""Modem power warnings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modem_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('power_warning', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('modem_status', schema=None) as batch_op:
        batch_op.drop_column('power_warning')

