"""Data at rest: scrubbed outbox rows, inbox retention (issue 10)

The outbox no longer holds numbers and texts in clear: ``recipient`` becomes the masked
number, ``text`` goes, ``sealed`` holds both while a row waits (gateway.crypto.sealing),
``session_id`` links a row to its session and ``recipient_digest`` matches delivery
reports. The inbox keeps the sender of an SMS-MO verification request masked only.

Rows are changed in place: on SQLite a copy of the table would cascade-delete its
``outbox_parts`` (foreign keys are on), so ``text`` is dropped with SQLite's own
``ALTER TABLE DROP COLUMN`` (3.35 and later).

A migration has no key to seal with: rows still waiting are given up (``expired``, or
``unknown`` for one being sent), as the codes in them expire within minutes anyway.
Downgrading cannot bring numbers and texts back: ``text`` returns empty and ``recipient``
stays masked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

from modem.numbers import mask_number


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

GIVEN_UP = "not sent: queued before the upgrade that seals the outbox"
OUTBOX = sa.table('outbox', sa.column('id', sa.Integer), sa.column('recipient', sa.String),
                  sa.column('status', sa.String), sa.column('last_error', sa.Text))
INBOX = sa.table('inbox', sa.column('id', sa.Integer), sa.column('sender', sa.String),
                 sa.column('kind', sa.String))


def _mask(bind, table, column, *where) -> None:
    for row_id, number in bind.execute(sa.select(table.c.id, column).where(*where)).all():
        masked = mask_number(number)
        if masked != number:
            bind.execute(table.update().where(table.c.id == row_id)
                         .values({column.key: masked}))


def _give_up_pending(bind) -> None:
    for status, final in (("queued", "expired"), ("sending", "unknown")):
        bind.execute(OUTBOX.update().where(OUTBOX.c.status == status)
                     .values(status=final, last_error=GIVEN_UP))


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:  # ADD COLUMN: no copy
        batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recipient_digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_session_id'), ['session_id'], unique=False)
    bind = op.get_bind()
    _give_up_pending(bind)
    _mask(bind, OUTBOX, OUTBOX.c.recipient)
    _mask(bind, INBOX, INBOX.c.sender, INBOX.c.kind == 'momt-verify')
    op.drop_column('outbox', 'text')


def downgrade() -> None:
    bind = op.get_bind()
    _give_up_pending(bind)  # nothing to send them with any more
    op.add_column('outbox', sa.Column('text', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_session_id'))
    for column in ('recipient_digest', 'session_id', 'sealed'):
        op.drop_column('outbox', column)
