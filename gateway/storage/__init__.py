"""Storage: SQLAlchemy engine, tables, migrations and the unit of work."""
