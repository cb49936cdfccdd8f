"""The SMS-MO flow: a device texts ``/v1/msisdn/sms/momt/verify <hawkId>`` to a modem's
number; the network stamps the sender's MSISDN, which becomes the session's MSISDN, and a
code is sent back to it."""
from __future__ import annotations

import logging
import re

from gateway import metrics
from gateway.storage.uow import UnitOfWork
from gateway.verification.capacity import ensure_capacity
from gateway.deps import Deps
from gateway.verification.msisdn import parse_msisdn
from modem.numbers import mask_number
from gateway.verification.mt import METHOD_MOMT, CodeRequest, bind_msisdn, issue_code
from gateway.verification.sessions import load_session

log = logging.getLogger(__name__)

# The endpoint and the hawk id, space separated; the older "/sms/momt/verify" prefix too.
MO_REQUEST = re.compile(r"^\s*(?:/v1/msisdn)?/sms/momt/verify\s+([0-9a-fA-F]{64})\s*$")


def parse_mo_request(text: str) -> str | None:
    """The hawk id (lowercase hex) of an SMS-MO verification request, or None."""
    match = MO_REQUEST.match(text)
    return match.group(1).lower() if match else None


def start_momt_verification(uow: UnitOfWork, deps: Deps, hawk_id: str, sender: str) -> str:
    """Bind ``sender`` (as stamped by the network) to the session of ``hawk_id`` and queue a
    long code to it, inside the caller's transaction. Returns the E.164 number.

    Raises InvalidToken (unknown session), InvalidParameter (sender not E.164, or the
    session holds another number), ServiceUnavailable and the 429 errors.
    """
    msisdn = parse_msisdn(sender, field="sender")
    row = load_session(uow, deps, hawk_id)
    bind_msisdn(uow, deps, hawk_id, row, msisdn)
    ensure_capacity(uow, deps)
    issue_code(uow, deps, hawk_id, row, CodeRequest(msisdn=msisdn, method=METHOD_MOMT,
                                                   short_code=False))
    metrics.code_sent(METHOD_MOMT, short_code=False)  # committed by the caller (inbound)
    log.info("sms/momt: code queued for %s", mask_number(msisdn))
    return msisdn
