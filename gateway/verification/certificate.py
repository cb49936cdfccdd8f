"""certificate/sign: a BrowserID certificate for a verified MSISDN."""
from __future__ import annotations

from gateway.crypto import browserid
from gateway.errors import InvalidParameter, Unverified
from gateway.deps import Deps
from gateway.verification.sessions import load_session, session_msisdn


def sign_certificate(deps: Deps, hawk_id: str, public_key: object,
                     duration: int | None) -> str:
    """Sign ``public_key`` (dict or JSON string, RS or DS) for ``duration`` seconds, capped
    by ``certificate_max_duration``. Raises InvalidToken, InvalidParameter, Unverified."""
    try:
        key = browserid.parse_public_key(public_key)
    except browserid.InvalidPublicKey as exc:
        raise InvalidParameter(f"publicKey: {exc}") from None
    limit = deps.settings.certificate_max_duration
    seconds = limit if duration is None else min(duration, limit)
    with deps.uow(read_only=True) as uow:
        row = load_session(uow, deps, hawk_id)
        if row.verified_at is None:
            raise Unverified("the MSISDN of this session has not been verified yet")
        msisdn = session_msisdn(deps, hawk_id, row)
        verified_at = row.verified_at
    issuer = deps.settings.effective_issuer
    uuid = browserid.principal_uuid(deps.secret.derive("principal"), msisdn)
    issued_ms = int(deps.now().timestamp() * 1000)
    return browserid.sign_certificate(
        deps.signing_key, public_key=key, email=f"{uuid}@{issuer}", issuer=issuer,
        issued_at_ms=issued_ms, expires_at_ms=issued_ms + seconds * 1000,
        extra_claims={"verifiedMSISDN": msisdn,
                      "lastVerifiedAt": int(verified_at.timestamp())})
