"""Data at rest: scrubbed outbox rows, inbox retention (issue 10)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: filled by the change that needs it


def downgrade() -> None:
    pass
