"""Inbound SMS: every message is stored in the inbox, and an SMS-MO verification request
acted on, in one transaction; only then does the handler return, and only then does the
modem layer delete the message from the SIM. A database failure raises, so the message
stays on the SIM for the next sweep; a second delivery of the same message is a no-op.

What is kept, for ``inbox_retention`` seconds (then the cleanup job removes the row): of
an SMS-MO verification request, the sender masked (+33*******78: the number itself is
sealed in its session) and the text REDACTED (the hawk id is a credential); of any other
SMS, the sender and the text, except that a run of 32 or more hex digits (a hawk id sent
with a typo, a token) is replaced by HEX_REDACTED.
"""
from __future__ import annotations

import logging

from gateway import metrics
from gateway.errors import ApiError
from gateway.logs import HEX_RUN
from gateway.storage.models import InboxMessage
from gateway.storage.inbox_repository import inbox_dedupe_key
from gateway.deps import Deps
from gateway.verification.momt import parse_mo_request, start_momt_verification
from modem.numbers import mask_number
from modem.inbox import InboundSms

log = logging.getLogger(__name__)
KIND_MOMT = "momt-verify"
REDACTED = "/v1/msisdn/sms/momt/verify <hawk id not stored>"
HEX_REDACTED = "<hex not stored>"


def stored_text(text: str, hawk_id: str | None) -> str:
    """What the inbox keeps of ``text``: never a hawk id or another long hex credential."""
    return REDACTED if hawk_id else HEX_RUN.sub(HEX_REDACTED, text)


def store_inbound(deps: Deps, sms: InboundSms) -> InboxMessage | None:
    """Store ``sms`` and act on it; returns the inbox row (None for a redelivery).
    Of an SMS-MO request, neither the hawk id nor the number is stored (see above)."""
    hawk_id = parse_mo_request(sms.text)
    with deps.uow() as uow:
        row = InboxMessage(
            dedupe_key=inbox_dedupe_key(sms.modem, sms.sender, sms.smsc_timestamp, sms.text),
            modem=sms.modem, recipient=sms.recipient,
            sender=mask_number(sms.sender) if hawk_id else sms.sender,
            text=stored_text(sms.text, hawk_id), smsc_timestamp=sms.smsc_timestamp,
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
