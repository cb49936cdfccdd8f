"""API clients, one-time proofs and OIDC grants (issue 13)

``api_clients``: the applications of the OAuth/OIDC faces, secrets as SHA-256 digests.
``number_proofs``: pending one-time proofs by SMS-MO or two-way SMS (token digests,
numbers sealed or as keyed digests). ``oidc_grants``: authorization codes and access
tokens and CIBA auth_req_ids as keyed digests, single use.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_digest', sa.String(length=64), nullable=False),
    sa.Column('redirect_uris', sa.Text(), nullable=False),
    sa.Column('webhook_url', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_api_clients_client_id'))
    )
    op.create_table('number_proofs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('address_digest', sa.String(length=64), nullable=True),
    sa.Column('hint_digest', sa.String(length=64), nullable=True),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('msisdn_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('proven_at', UTCDateTime(), nullable=True),
    sa.Column('consumed_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.client_id'],
                            name=op.f('fk_number_proofs_client_id_api_clients'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_proofs')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_number_proofs_token_digest'))
    )
    op.create_index(op.f('ix_number_proofs_address_digest'), 'number_proofs',
                    ['address_digest'], unique=False)
    op.create_index(op.f('ix_number_proofs_client_id'), 'number_proofs', ['client_id'],
                    unique=False)
    op.create_index(op.f('ix_number_proofs_expires_at'), 'number_proofs', ['expires_at'],
                    unique=False)
    op.create_table('oidc_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('proof_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.Column('polled_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['proof_id'], ['number_proofs.id'],
                            name=op.f('fk_oidc_grants_proof_id_number_proofs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_grants')),
    sa.UniqueConstraint('digest', name=op.f('uq_oidc_grants_digest'))
    )
    op.create_index(op.f('ix_oidc_grants_expires_at'), 'oidc_grants', ['expires_at'],
                    unique=False)
    op.create_index(op.f('ix_oidc_grants_proof_id'), 'oidc_grants', ['proof_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_table('oidc_grants')
    op.drop_table('number_proofs')
    op.drop_table('api_clients')
