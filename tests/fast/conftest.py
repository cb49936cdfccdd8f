"""Fixtures of the fast tier: real Deps (settings, keys, a FakeClock) over the in-memory
unit of work, and helpers that act as the worker and the client would."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from fake_storage import fake_deps
from fakes import FakeClock
from gateway.crypto.sealing import open_sms
from gateway.crypto.tokens import SealError, derive_hawk_credentials
from gateway.deps import Deps
from gateway.errors import ApiError
from gateway.storage.models import OutboundSms
from gateway.verification import sessions

NUMBER = "+33612345678"
OTHER_NUMBER = "+33698765432"


@pytest.fixture(scope="session")
def keys(server_keys):
    """The run's signing key and secret (tests/conftest.py loads them once per run)."""
    return server_keys


@pytest.fixture
def clock():
    """2026-01-01 00:00 UTC: the start of every rate-limit window."""
    return FakeClock()


@pytest.fixture
def make_deps(keys, clock):
    def make(modems: int = 1, **settings) -> Deps:
        """Deps whose worker (absent) published ``modems`` healthy modems in France that
        never go stale unless ``modem_status_ttl`` is given."""
        settings.setdefault("modem_status_ttl", 10 ** 9)
        deps = fake_deps(clock=clock, keys=keys, **settings)
        for index in range(modems):
            publish_modem(deps, f"modem{index}", number=f"+3370000000{index + 1}")
        return deps
    return make


@pytest.fixture
def deps(make_deps) -> Deps:
    return make_deps()


def publish_modem(deps: Deps, name: str = "modem0", **values) -> None:
    """Write a modem status as the worker does (the API's only view of the modems)."""
    row = {"worker": "box-a", "name": name, "url": f"/dev/gsm-{name}", "state": "ready",
           "healthy": True,
           "model": "SIMCOM_SIM7600", "number": "+33700000001", "mcc": "208", "mnc": "01",
           "region": "FR", "sent_today": 0, "failed": 0, "updated_at": deps.now()}
    row.update(values)
    with deps.uow() as uow:
        uow.modems.upsert(row)
        uow.commit()


def hawk_id(token: str) -> str:
    """The Hawk id a client derives from its msisdnSessionToken."""
    return derive_hawk_credentials(bytes.fromhex(token)).id


def key_of(deps: Deps, session: str) -> str:
    """The Hawk key a request signed for ``session`` is checked with (InvalidToken)."""
    with deps.uow(read_only=True) as uow:
        return sessions.hawk_key(uow, deps, session)


def nonce_is_new(deps: Deps, session: str, nonce: str, timestamp: int) -> bool:
    """Remember a nonce as a request does, committed; False for a replay."""
    with deps.uow() as uow:
        fresh = sessions.remember_nonce(uow, deps, session, nonce, timestamp)
        uow.commit()
    return fresh


def new_session(deps: Deps) -> str:
    """Register, as a client does; returns the session's hawk id."""
    return hawk_id(sessions.register(deps))


@dataclass(frozen=True)
class QueuedSms:
    """An outbox row as the worker opens it: ``recipient`` and ``text`` are its sealed
    number (E.164) and text (None once scrubbed); any other attribute is the row's."""

    row: OutboundSms
    recipient: str | None
    text: str | None

    def __getattr__(self, name: str):
        return getattr(self.row, name)


def queued(deps: Deps) -> list[QueuedSms]:
    """Every SMS in the outbox, oldest first, opened (what the worker would send)."""
    with deps.uow() as uow:
        rows = uow.outbox.latest(10 ** 6)[::-1]
        bindings = uow.outbox.session_bindings(rows)
    opened = []
    for row in rows:
        try:
            opened.append(QueuedSms(row, *open_sms(deps.secret, bindings[row.id], row.sealed)))
        except SealError:
            opened.append(QueuedSms(row, None, None))
    return opened


def last_text_to(deps: Deps, msisdn: str) -> str:
    texts = [row.text for row in queued(deps) if row.recipient == msisdn]
    assert texts, f"no SMS queued for {msisdn}"
    return texts[-1]


def short_code_in(text: str) -> str:
    return re.search(r"\b[0-9]{6}\b", text).group()


def refusal(call, *args, **kwargs) -> ApiError:
    """The API error ``call`` raises (fails when it raises none)."""
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value
