"""Alembic environment: the engine comes from the caller (gateway.storage.migrate).

On PostgreSQL several boxes may start at once on one database, each migrating it at start:
a transaction-scoped advisory lock makes them take turns, and the second one, once it has
the lock, finds the schema already at the head and does nothing."""
from alembic import context
from sqlalchemy import text

from gateway.storage.models import Base

# Any constant shared by every process that migrates the database ("msisdn-g" in ASCII).
MIGRATION_LOCK = 0x6D7369736E2D67

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      transaction_per_migration=False,
                      transactional_ddl=True)  # SQLite and PostgreSQL both have it
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # held until this transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        context.run_migrations()
