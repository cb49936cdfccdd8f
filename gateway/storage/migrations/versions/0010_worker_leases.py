"""Several boxes on one database: workers and their heartbeat, leases on claimed outbox
rows, modem status per worker (issue 12)

``workers`` holds each worker's identity and heartbeat. ``outbox.lease_expires_at`` is
until when the claim of a row being sent holds: its worker renews it while it lives; any
live worker marks a row still ``sending`` past it ``unknown``. Rows being sent at the
upgrade get a lease that has already ended (their ``updated_at``): the first worker to
run marks them ``unknown``, as its own start did with its own rows before.

``modem_status`` is keyed by (worker, name): two boxes may both call a modem ``modem0``.
Its rows are what the workers last published, every few seconds: the table is made anew
(empty) rather than converted. Every worker must run this version: an older one would
publish rows without a worker.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OUTBOX = sa.table('outbox', sa.column('status', sa.String),
                  sa.column('updated_at', UTCDateTime), sa.column('lease_expires_at', UTCDateTime))


def _modem_status(*key: sa.Column) -> None:
    op.create_table('modem_status',
    *key,
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
    sa.Column('power_warning', sa.Text(), nullable=True),
    sa.Column('sent_today', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('daily_quota', sa.Integer(), nullable=True),
    sa.Column('seconds_per_part', sa.Float(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint(*(column.name for column in key), name=op.f('pk_modem_status'))
    )


def upgrade() -> None:
    op.create_table('workers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('boot_id', sa.String(length=64), nullable=True),
    sa.Column('instance', sa.String(length=32), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen', UTCDateTime(), nullable=False),
    sa.Column('stopped_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:  # ADD COLUMN: no copy
        batch_op.add_column(sa.Column('lease_expires_at', UTCDateTime(), nullable=True))
    op.execute(OUTBOX.update().where(OUTBOX.c.status == 'sending')
               .values(lease_expires_at=OUTBOX.c.updated_at))
    op.drop_table('modem_status')
    _modem_status(sa.Column('worker', sa.String(length=64), nullable=False),
                  sa.Column('name', sa.String(length=64), nullable=False))


def downgrade() -> None:
    op.drop_table('modem_status')
    _modem_status(sa.Column('name', sa.String(length=64), nullable=False))
    # SQLite's own ALTER TABLE DROP COLUMN: a batch copy of the table would
    # cascade-delete its outbox_parts (see 0007).
    op.drop_column('outbox', 'lease_expires_at')
    op.drop_table('workers')
