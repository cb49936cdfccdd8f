"""Storage: SQLAlchemy engine, tables, repositories, the unit of work, Alembic migrations,
and the database gauges of ``/metrics``. Callers go through the unit of work's
repositories; none builds queries itself.

May import the kernel, gateway.config and ``modem``.
"""
