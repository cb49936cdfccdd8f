"""Silent authentication for apps (issue 14)

``sna_requests``: initiate/link/verify-code requests, the claimed number as a keyed
digest and sealed, codes as keyed digests, single use. ``webhook_events``: webhooks
delivered at least once by the worker, bodies sealed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sna_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('link_digest', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('proof_id', sa.Integer(), nullable=True),
    sa.Column('proof', sa.String(length=16), nullable=False),
    sa.Column('msisdn_digest', sa.String(length=64), nullable=False),
    sa.Column('msisdn_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('code_digest', sa.String(length=64), nullable=True),
    sa.Column('code_expires_at', UTCDateTime(), nullable=True),
    sa.Column('code_used_at', UTCDateTime(), nullable=True),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.client_id'],
                            name=op.f('fk_sna_requests_client_id_api_clients'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proof_id'], ['number_proofs.id'],
                            name=op.f('fk_sna_requests_proof_id_number_proofs'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sna_requests')),
    sa.UniqueConstraint('request_id', name=op.f('uq_sna_requests_request_id')),
    sa.UniqueConstraint('code_digest', name=op.f('uq_sna_requests_code_digest')),
    sa.UniqueConstraint('link_digest', name=op.f('uq_sna_requests_link_digest'))
    )
    op.create_index(op.f('ix_sna_requests_client_id'), 'sna_requests', ['client_id'],
                    unique=False)
    op.create_index(op.f('ix_sna_requests_proof_id'), 'sna_requests', ['proof_id'],
                    unique=False)
    op.create_index(op.f('ix_sna_requests_expires_at'), 'sna_requests', ['expires_at'],
                    unique=False)

    op.create_table('webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('body_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('claimed_until', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.client_id'],
                            name=op.f('fk_webhook_events_client_id_api_clients'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_webhook_events_event_id'))
    )
    op.create_index(op.f('ix_webhook_events_client_id'), 'webhook_events', ['client_id'],
                    unique=False)
    op.create_index(op.f('ix_webhook_events_next_attempt_at'), 'webhook_events',
                    ['next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_events')
    op.drop_table('sna_requests')
