"""Sessions: register, unregister, and what Hawk authentication needs from storage."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from gateway.crypto.sealing import open_hex_key, seal_hex_key
from gateway.crypto.tokens import derive_hawk_credentials, new_session_token, SealError
from gateway.errors import InvalidToken
from gateway.storage.records import SessionRecord
from gateway.storage.uow import UnitOfWork
from gateway.deps import Deps

log = logging.getLogger(__name__)

HAWK_ID = "hawk-id"
HAWK_KEY = "hawk-key"
MSISDN = "msisdn"


def register(deps: Deps) -> str:
    """Create a session; returns the msisdnSessionToken as 64 hex characters."""
    token = new_session_token()
    credentials = derive_hawk_credentials(token)
    secret, now = deps.secret, deps.now()
    record = SessionRecord(
        hawk_id_digest=secret.digest(HAWK_ID, credentials.id),
        hawk_key_sealed=seal_hex_key(secret, credentials.id, HAWK_KEY, credentials.key),
        created_at=now, expires_at=deps.later(deps.settings.pending_session_ttl))
    with deps.uow() as uow:
        uow.sessions.add(record)
        uow.commit()
    return token.hex()


def load_session(uow: UnitOfWork, deps: Deps, hawk_id: str) -> SessionRecord:
    """The live session of ``hawk_id``; raises InvalidToken if unknown or expired.

    Its digest is computed and its row read once per transaction (the repository keeps
    it), so the Hawk check and the use case of one request share them."""
    row = uow.sessions.by_hawk_id(hawk_id, lambda value: deps.secret.digest(HAWK_ID, value))
    if row is None or row.expires_at <= deps.now():
        raise InvalidToken()
    return row


def hawk_key(uow: UnitOfWork, deps: Deps, hawk_id: str) -> str:
    """The Hawk MAC key of a live session, read in ``uow``; raises InvalidToken."""
    row = load_session(uow, deps, hawk_id)
    try:
        return open_hex_key(deps.secret, hawk_id, HAWK_KEY, row.hawk_key_sealed)
    except SealError:
        log.error("session %s: hawk key cannot be unsealed (server secret changed?)", row.id)
        raise InvalidToken() from None


def remember_nonce(uow: UnitOfWork, deps: Deps, hawk_id: str, nonce: str,
                   timestamp: int) -> bool:
    """Record a Hawk nonce in ``uow`` (the caller commits) until the last moment a request
    of this ``timestamp`` is accepted, ``timestamp + hawk_skew_seconds``; False if it was
    seen before (a replay). Call it only for a valid MAC whose timestamp is within the
    skew of now (gateway.http.hawk does), so a row never outlives now + 2 × skew; a
    timestamp further ahead is clamped all the same."""
    skew = deps.settings.hawk_skew_seconds
    moment = min(timestamp, deps.now().timestamp() + skew) + skew
    return uow.nonces.remember(deps.secret.digest("nonce", f"{hawk_id}:{timestamp}:{nonce}"),
                               datetime.fromtimestamp(moment, timezone.utc))


def unregister(deps: Deps, hawk_id: str) -> None:
    """Remove the session, its MSISDN and its code, and scrub its outbox rows (their
    sealed number and code; one still queued is not sent)."""
    with deps.uow() as uow:
        session = load_session(uow, deps, hawk_id)
        uow.outbox.forget_session(session.id, deps.now())
        uow.sessions.delete(session)
        uow.commit()


def session_msisdn(deps: Deps, hawk_id: str, row: SessionRecord) -> str | None:
    if row.msisdn_sealed is None:
        return None
    return deps.secret.open(hawk_id, MSISDN, row.msisdn_sealed)
