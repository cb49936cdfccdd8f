"""Building the object graph: Settings -> engine -> services -> app or scheduler.

Called by the composition root (gateway.cli.server_commands) in each process, and by tests with their
own parts (a fake clock, a temporary database).
"""
from __future__ import annotations

from sqlalchemy import Engine

from gateway.clock import Clock, SystemClock
from gateway.config.keys import Keys, load_keys
from gateway.config.settings import Settings
from gateway.storage.db import make_engine
from gateway.pipeline.doorbell import Doorbell, bell_address
from gateway.storage.uow import uow_factory
from gateway.deps import Deps


def build_deps(settings: Settings, engine: Engine, clock: Clock | None = None,
               keys: Keys | None = None, keep_connections: bool = False) -> Deps:
    """The use cases' dependencies over ``engine``; the keys are read from the settings'
    files unless given (already loaded). Each commit that queues work for the worker rings
    its doorbell (gateway.pipeline.doorbell). ``keep_connections``: see uow_factory.
    Raises SettingsError for missing or bad keys."""
    keys = keys or load_keys(settings)
    return Deps(settings=settings, clock=clock or SystemClock(), secret=keys.secret,
                uow=uow_factory(engine, wake_worker=worker_bell(settings),
                                keep_connections=keep_connections),
                signing_key=keys.signing_key)


def worker_bell(settings: Settings):
    """What rings the doorbell of this box's worker (for ``uow_factory``)."""
    return Doorbell(bell_address(settings.effective_database_url)).ring


def prepare_database(settings: Settings) -> Engine:
    """The engine, with migrations applied. (Alembic is imported here only: with Mako
    and Pygments it weighs 16 MB, which the API processes, which never migrate, do not
    carry.)"""
    from gateway.storage.migrate import upgrade

    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return engine


def build_app(settings: Settings, clock: Clock | None = None):
    from gateway.api.app import create_app

    # The API processes queue for SQLite's write lock (gateway.storage.writer_lock), and
    # on SQLite keep a connection per thread (gateway.storage.transaction.KeptConnections).
    engine = make_engine(settings.effective_database_url, queue_writers=True)
    keep = engine.dialect.name == "sqlite"
    return create_app(build_deps(settings, engine, clock, keep_connections=keep), engine)
