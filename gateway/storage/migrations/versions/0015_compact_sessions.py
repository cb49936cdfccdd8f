"""Compact session rows (issue 9)

A verified session stays for days: its row is what a verified user costs once the
cleanup has run. ``hawk_id_digest`` becomes its 32 raw bytes (HexDigest: still 64 hex
characters in Python) and the three times integer milliseconds since the epoch
(UTCEpochMillis). With the Hawk key sealed as 32 bytes, a verified session's row and its
two index entries take about 230 bytes of SQLite pages instead of about 405.

Each changed column is added under a temporary name, filled from the old one through the
column types the code uses (a row's values are converted by the same functions that
write new rows), then the old columns are dropped and the new ones renamed. On SQLite the
drop is a copy of the table (alembic's batch mode); ``verification_codes`` references
``sessions.id`` ON DELETE CASCADE, so the migration environment (env.py) runs migrations
with foreign keys off and checks them before committing.

New Hawk keys are sealed as their 32 bytes (gateway.crypto.sealing.seal_hex_key); the keys
already sealed as 64 characters stay so and keep opening (``open_hex_key``): re-sealing
them would need the hawk id, which the server never stores. Downgrading converts the
digests and times back; a session registered after the upgrade keeps its compact sealed
key, which the code of 0014 cannot open: such a client gets 401 and registers again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from gateway.storage.column_types import HexDigest, UTCDateTime, UTCEpochMillis

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

NULLABLE = {'hawk_id_digest': False, 'verified_at': True, 'created_at': False,
            'expires_at': False}
TIMES = ('verified_at', 'created_at', 'expires_at')
NAMES = {name: name for name in NULLABLE}
OLD_TYPES = {'hawk_id_digest': sa.String(length=64), **{name: UTCDateTime() for name in TIMES}}
NEW_TYPES = {'hawk_id_digest': HexDigest(), **{name: UTCEpochMillis() for name in TIMES}}
ROWS_PER_CHUNK = 5000  # rows converted at a time: bounded memory on a big table


def upgrade() -> None:
    _retype(OLD_TYPES, NEW_TYPES, 'compact')


def downgrade() -> None:
    _retype(NEW_TYPES, OLD_TYPES, 'wide')


def _retype(old_types: dict, new_types: dict, suffix: str) -> None:
    """Give the sessions columns of ``old_types`` the types of ``new_types``, converting
    every row (Python values in between: hex digests and aware datetimes)."""
    temporary = {name: f'{name}_{suffix}' for name in new_types}
    for name, type_ in new_types.items():
        op.add_column('sessions', sa.Column(temporary[name], type_, nullable=True))
    _copy(old_types, new_types, temporary)
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sessions_hawk_id_digest', type_='unique')
        batch_op.drop_index('ix_sessions_expires_at')
        for name in new_types:
            batch_op.drop_column(name)
        for name, type_ in new_types.items():
            batch_op.alter_column(temporary[name], new_column_name=name,
                                  existing_type=_stored(type_), nullable=NULLABLE[name])
        # Until its copy is made, batch mode (SQLite) still names a renamed column by its
        # old name; elsewhere each operation has run when the next one is given.
        names = temporary if op.get_context().dialect.name == 'sqlite' else NAMES
        batch_op.create_unique_constraint('uq_sessions_hawk_id_digest',
                                          [names['hawk_id_digest']])
        batch_op.create_index('ix_sessions_expires_at', [names['expires_at']], unique=False)


def _stored(type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """The type the database sees (alembic's batch rename cannot take a TypeDecorator)."""
    if isinstance(type_, sa.types.TypeDecorator):
        return type_.load_dialect_impl(op.get_context().dialect)
    return type_


def _copy(old_types: dict, new_types: dict, temporary: dict) -> None:
    """Fill the temporary columns from the old ones, ROWS_PER_CHUNK rows at a time."""
    old = sa.table('sessions', sa.column('id', sa.Integer),
                   *(sa.column(name, type_) for name, type_ in old_types.items()))
    new = sa.table('sessions', sa.column('id', sa.Integer),
                   *(sa.column(temporary[name], type_) for name, type_ in new_types.items()))
    read = (sa.select(old).where(old.c.id > sa.bindparam('after')).order_by(old.c.id)
            .limit(ROWS_PER_CHUNK))
    write = (new.update().where(new.c.id == sa.bindparam('row_id'))
             .values({temporary[name]: sa.bindparam(f'value_{name}', type_=type_)
                      for name, type_ in new_types.items()}))
    bind = op.get_bind()
    after = 0
    while rows := bind.execute(read, {'after': after}).mappings().all():
        bind.execute(write, [{'row_id': row['id'],
                              **{f'value_{name}': row[name] for name in new_types}}
                             for row in rows])
        after = rows[-1]['id']
