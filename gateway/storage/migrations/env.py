"""Alembic environment: the engine comes from the caller (gateway.storage.migrate).

On PostgreSQL several boxes may start at once on one database, each migrating it at start:
a transaction-scoped advisory lock makes them take turns, and the second one, once it has
the lock, finds the schema already at the head and does nothing. On SQLite the
transaction's BEGIN IMMEDIATE (gateway.storage.db) does the same for the processes of a box.

On SQLite, changing a column's type copies its table (alembic's batch mode): create the
new table, copy the rows, drop the old one, rename. With foreign keys on, dropping a table
that others reference ON DELETE CASCADE (``sessions``, referenced by
``verification_codes``) would delete their rows. So migrations run as SQLite prescribes
for such changes (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
Schema Changes"): foreign keys off before the transaction (``PRAGMA foreign_keys`` does
nothing inside one), the migrations, ``PRAGMA foreign_key_check`` before the commit
(a violation rolls everything back), then foreign keys as they were before.
"""
from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage.db import execute_on_driver
from gateway.storage.models import Base

# Any constant shared by every process that migrates the database ("msisdn-g" in ASCII).
MIGRATION_LOCK = 0x6D7369736E2D67


class ForeignKeyViolation(SQLAlchemyError):
    """A migration left rows whose foreign key matches no row (SQLite): rolled back. A
    SQLAlchemyError, which the commands report as a database that cannot be opened."""


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      transaction_per_migration=False,
                      transactional_ddl=True)  # SQLite and PostgreSQL both have it
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # held until this transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        migration = context.get_context()
        heads = migration.get_current_heads()
        context.run_migrations()
        if (connection.dialect.name == "sqlite"
                and migration.get_current_heads() != heads):
            check_foreign_keys(connection)


def check_foreign_keys(connection: Connection) -> None:
    """Raise ForeignKeyViolation when any row's foreign key matches no row (SQLite)."""
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        tables = sorted({f"{table} -> {parent}" for table, _, parent, _ in violations})
        raise ForeignKeyViolation(
            f"after the migration {len(violations)} rows have a foreign key that matches "
            f"no row ({', '.join(tables)}): rolled back, the database is unchanged")


def foreign_keys_enabled(connection: Connection) -> bool:
    """PRAGMA foreign_keys read on the driver's connection: no transaction is begun."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        return bool(cursor.execute("PRAGMA foreign_keys").fetchone()[0])
    finally:
        cursor.close()


engine = context.config.attributes["engine"]

with engine.connect() as connection:
    if connection.dialect.name != "sqlite":
        run(connection)
    else:
        enabled = foreign_keys_enabled(connection)  # on: gateway.storage.db sets it so
        execute_on_driver(connection, "PRAGMA foreign_keys=OFF")
        try:
            run(connection)
        finally:  # the connection goes back to the pool as it came
            execute_on_driver(connection, f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
