"""Pipeline: outbox parts, inbox, modem status, simulator mailboxes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('modem', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=True),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('smsc_timestamp', UTCDateTime(), nullable=True),
    sa.Column('partial', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_inbox_dedupe_key'))
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_received_at'), ['received_at'], unique=False)

    op.create_table('modem_status',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('healthy', sa.Boolean(), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=True),
    sa.Column('imsi_masked', sa.String(length=32), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=True),
    sa.Column('mcc', sa.String(length=3), nullable=True),
    sa.Column('mnc', sa.String(length=3), nullable=True),
    sa.Column('region', sa.String(length=2), nullable=True),
    sa.Column('signal_dbm', sa.Integer(), nullable=True),
    sa.Column('registration', sa.String(length=16), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_today', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('daily_quota', sa.Integer(), nullable=True),
    sa.Column('seconds_per_part', sa.Float(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_modem_status'))
    )
    op.create_table('sim_mo_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_mo_requests'))
    )
    with op.batch_alter_table('sim_mo_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_mo_requests_sent_at'), ['sent_at'], unique=False)

    op.create_table('sim_phone_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_phone_messages'))
    )
    with op.batch_alter_table('sim_phone_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_phone_messages_phone'), ['phone'], unique=False)

    op.create_table('outbox_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('part_number', sa.Integer(), nullable=False),
    sa.Column('part_count', sa.Integer(), nullable=False),
    sa.Column('modem', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('submitted_at', UTCDateTime(), nullable=False),
    sa.Column('reported_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_parts_outbox_id_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_parts'))
    )
    with op.batch_alter_table('outbox_parts', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_parts_match', ['modem', 'reference', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_parts_outbox_id'), ['outbox_id'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('sent_at')

    with op.batch_alter_table('outbox_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_parts_outbox_id'))
        batch_op.drop_index('ix_outbox_parts_match')

    op.drop_table('outbox_parts')
    with op.batch_alter_table('sim_phone_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_phone_messages_phone'))

    op.drop_table('sim_phone_messages')
    with op.batch_alter_table('sim_mo_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_mo_requests_sent_at'))

    op.drop_table('sim_mo_requests')
    op.drop_table('modem_status')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_received_at'))

    op.drop_table('inbox')
