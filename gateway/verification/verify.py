"""sms/verify_code: check a code, with limited tries and lifetime."""
from __future__ import annotations

import logging

from gateway import metrics
from gateway.errors import CodeGone, InvalidCode
from gateway.verification import codes
from gateway.deps import Deps
from gateway.guard import admission
from modem.numbers import mask_number
from gateway.verification.sessions import load_session, session_msisdn

log = logging.getLogger(__name__)


def verify_code(deps: Deps, hawk_id: str, code: str) -> str:
    """Verify ``code`` for the session; returns the now-verified MSISDN (E.164).

    Raises InvalidToken, InvalidCode (400/105: wrong code, or no code was sent) and
    CodeGone (410/111: the code expired or was burnt by too many wrong tries).
    A wrong try is committed before the error is raised.
    """
    with deps.uow() as uow, metrics.code_check() as check:
        row = load_session(uow, deps, hawk_id)
        current = check.code = uow.codes.for_session(row.id)
        if current is None:
            raise InvalidCode("no verification code is pending for this session")
        codes.check_code(uow, deps, row.hawk_id_digest, current, code, gone=CodeGone,
                         wrong=InvalidCode)
        msisdn = session_msisdn(deps, hawk_id, row)
        if msisdn is not None:  # a code is only ever sent to a bound number
            admission.count_verified(uow, deps, msisdn)  # pumping detection's conversion
        uow.codes.delete(current)
        uow.sessions.update(row.id, verified_at=deps.now(),
                            expires_at=deps.later(deps.settings.verified_session_ttl))
        uow.commit()
    log.info("verified %s", mask_number(msisdn))
    return msisdn
