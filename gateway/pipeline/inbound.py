"""Inbound SMS: every message is stored in the inbox, and an SMS-MO verification request
acted on, in one transaction; only then does the handler return, and only then does the
modem layer delete the message from the SIM. A database failure raises, so the message
stays on the SIM for the next sweep; a second delivery of the same message is a no-op.
"""
from __future__ import annotations

import logging

from gateway import metrics
from gateway.errors import ApiError
from gateway.storage.models import InboxMessage
from gateway.storage.inbox_repository import inbox_dedupe_key
from gateway.deps import Deps
from gateway.verification.momt import parse_mo_request, start_momt_verification
from modem.numbers import mask_number
from modem.inbox import InboundSms

log = logging.getLogger(__name__)
KIND_MOMT = "momt-verify"
REDACTED = "/v1/msisdn/sms/momt/verify <hawk id not stored>"


def store_inbound(deps: Deps, sms: InboundSms) -> InboxMessage | None:
    """Store ``sms`` and act on it; returns the inbox row (None for a redelivery).
    The hawk id of an SMS-MO request is a credential: it is not stored."""
    hawk_id = parse_mo_request(sms.text)
    with deps.uow() as uow:
        row = InboxMessage(
            dedupe_key=inbox_dedupe_key(sms.modem, sms.sender, sms.smsc_timestamp, sms.text),
            modem=sms.modem, recipient=sms.recipient, sender=sms.sender,
            text=REDACTED if hawk_id else sms.text, smsc_timestamp=sms.smsc_timestamp,
            partial=sms.partial, kind=KIND_MOMT if hawk_id else "other", outcome="stored",
            received_at=deps.now())
        if not uow.inbox.store(row):
            log.info("SMS from %s on %s was stored before: not handled again",
                     mask_number(sms.sender), sms.modem)
            return None
        if hawk_id:
            row.outcome = _verify_sender(uow, deps, hawk_id, sms.sender)
        uow.commit()
    metrics.sms_received(sms.modem, row.kind)
    log.info("SMS from %s on %s stored (%s: %s)", mask_number(sms.sender), sms.modem,
             row.kind, row.outcome)
    return row


def _verify_sender(uow, deps: Deps, hawk_id: str, sender: str) -> str:
    """Start the MO+MT flow inside a savepoint, so a refusal keeps the inbox row."""
    try:
        with uow.savepoint():
            start_momt_verification(uow, deps, hawk_id, sender)
    except ApiError as exc:
        return f"refused: {exc.message} (errno {exc.errno})"
    return "code queued"
