"""What every use case needs, built once by the composition root (gateway.process.wiring,
or a test with its own parts): settings, a clock, the server secret, a unit-of-work
factory and the certificate signing key.

Part of the shared kernel: at run time it imports only gateway.clock; the types it names
come from gateway.config, gateway.crypto and gateway.storage for type checkers only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.clock import Clock

if TYPE_CHECKING:
    from gateway.config.settings import Settings
    from gateway.crypto.browserid import SigningKey
    from gateway.crypto.tokens import ServerSecret
    from gateway.storage.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class Deps:
    settings: Settings
    clock: Clock
    secret: ServerSecret | None  # None in admin commands that need no keys
    # ``deps.uow()`` opens a unit of work (``read_only=True`` for one that only reads);
    # inside a request it is nested in the request's one (gateway.storage.uow).
    uow: UnitOfWorkFactory
    signing_key: SigningKey | None

    def now(self) -> datetime:
        """The clock's time, aware UTC."""
        return self.clock.now()

    def later(self, seconds: float) -> datetime:
        """``seconds`` after now, aware UTC (expiry times)."""
        return self.clock.now() + timedelta(seconds=seconds)
