"""Alembic environment: the engine comes from the caller (gateway.storage.migrate)."""
from alembic import context

from gateway.storage.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      transaction_per_migration=False,
                      transactional_ddl=True)  # SQLite and PostgreSQL both have it
    with context.begin_transaction():
        context.run_migrations()
