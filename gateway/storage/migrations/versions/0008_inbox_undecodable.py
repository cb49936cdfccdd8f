"""Undecodable SMS in the inbox: the raw PDU, sealed (issue 11)

An SMS whose PDU cannot be decoded (its bytes contradict its own lengths, or its user data
is compressed) is kept in the inbox with ``kind = undecodable`` before it is deleted from
the SIM: ``pdu_sealed`` holds its raw PDU sealed under the server secret
(gateway.pipeline.inbound), NULL for every other row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('inbox', sa.Column('pdu_sealed', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # SQLite's own ALTER TABLE DROP COLUMN (3.35 and later), as in 0007: no table copy.
    op.drop_column('inbox', 'pdu_sealed')
