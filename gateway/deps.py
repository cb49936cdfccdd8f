"""What every use case needs, built once by the composition root (gateway.cli.commands or a test)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from gateway.clock import Clock
from gateway.crypto.tokens import ServerSecret
from gateway.config.settings import Settings
from gateway.storage.uow import UnitOfWork


@dataclass(frozen=True)
class Deps:
    settings: Settings
    clock: Clock
    secret: ServerSecret
    uow: Callable[[], UnitOfWork]
    signing_key: object  # gateway.crypto.browserid.SigningKey

    def now(self) -> datetime:
        return self.clock.now()

    def later(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)
