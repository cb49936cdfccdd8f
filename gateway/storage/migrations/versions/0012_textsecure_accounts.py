"""TextSecure accounts, prekeys and directory (issue 15)

``textsecure_accounts``: one row per confirmed number, found by keyed digests of the
number and of its directory token (neither stored), the number kept masked; password as
an scrypt hash; signaling key and push ids sealed. ``textsecure_prekeys``: public keys.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import UTCDateTime


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('textsecure_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number_digest', sa.String(length=64), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('number_masked', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('signaling_key_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('supports_sms', sa.Boolean(), nullable=False),
    sa.Column('gcm_id_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('apn_id_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('lookups_day', sa.String(length=10), nullable=True),
    sa.Column('lookups', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_textsecure_accounts')),
    sa.UniqueConstraint('number_digest', name=op.f('uq_textsecure_accounts_number_digest')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_textsecure_accounts_token_digest'))
    )
    op.create_table('textsecure_prekeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('identity_key', sa.String(length=64), nullable=False),
    sa.Column('last_resort', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['textsecure_accounts.id'],
                            name=op.f('fk_textsecure_prekeys_account_id_textsecure_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_textsecure_prekeys')),
    sa.UniqueConstraint('account_id', 'key_id', name=op.f('uq_textsecure_prekeys_account_id'))
    )
    with op.batch_alter_table('textsecure_prekeys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_textsecure_prekeys_account_id'), ['account_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('textsecure_prekeys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_textsecure_prekeys_account_id'))
    op.drop_table('textsecure_prekeys')
    op.drop_table('textsecure_accounts')
