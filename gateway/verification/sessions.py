"""Sessions: register, unregister, and what Hawk authentication needs from storage."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from gateway.crypto.tokens import derive_hawk_credentials, new_session_token, SealError
from gateway.errors import InvalidToken
from gateway.storage.models import VerificationSession
from gateway.storage.uow import UnitOfWork
from gateway.deps import Deps

log = logging.getLogger(__name__)

HAWK_KEY = "hawk-key"
MSISDN = "msisdn"


def register(deps: Deps) -> str:
    """Create a session; returns the msisdnSessionToken as 64 hex characters."""
    token = new_session_token()
    credentials = derive_hawk_credentials(token)
    now = deps.now()
    with deps.uow() as uow:
        uow.sessions.add(VerificationSession(
            hawk_id_digest=deps.secret.digest("hawk-id", credentials.id),
            hawk_key_sealed=deps.secret.seal(credentials.id, HAWK_KEY, credentials.key),
            short_code=False, created_at=now,
            expires_at=deps.later(deps.settings.pending_session_ttl)))
        uow.commit()
    return token.hex()


def load_session(uow: UnitOfWork, deps: Deps, hawk_id: str) -> VerificationSession:
    """The live session of ``hawk_id``; raises InvalidToken if unknown or expired."""
    row = uow.sessions.by_digest(deps.secret.digest("hawk-id", hawk_id))
    if row is None or row.expires_at <= deps.now():
        raise InvalidToken()
    return row


def hawk_key(deps: Deps, hawk_id: str) -> str:
    """The Hawk MAC key of a session; raises InvalidToken."""
    with deps.uow() as uow:
        row = load_session(uow, deps, hawk_id)
        try:
            return deps.secret.open(hawk_id, HAWK_KEY, row.hawk_key_sealed)
        except SealError:
            log.error("session %s: hawk key cannot be unsealed (server secret changed?)",
                      row.id)
            raise InvalidToken() from None


def remember_nonce(deps: Deps, hawk_id: str, nonce: str, timestamp: int) -> bool:
    """Record a Hawk nonce for the skew window; False if it was seen before (replay)."""
    moment = max(timestamp, int(deps.now().timestamp())) + deps.settings.hawk_skew_seconds
    with deps.uow() as uow:
        fresh = uow.nonces.remember(deps.secret.digest("nonce", f"{hawk_id}:{timestamp}:{nonce}"),
                                    datetime.fromtimestamp(moment, timezone.utc))
        uow.commit()
    return fresh


def unregister(deps: Deps, hawk_id: str) -> None:
    """Remove the session, its MSISDN and its code."""
    with deps.uow() as uow:
        uow.sessions.delete(load_session(uow, deps, hawk_id))
        uow.commit()


def session_msisdn(deps: Deps, hawk_id: str, row: VerificationSession) -> str | None:
    if row.msisdn_sealed is None:
        return None
    return deps.secret.open(hawk_id, MSISDN, row.msisdn_sealed)
