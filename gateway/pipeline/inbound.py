"""Inbound SMS: every message is stored in the inbox, and an SMS-MO verification request
acted on, in one transaction; only then does the handler return, and only then does the
modem layer delete the message from the SIM. A second delivery of the same message is a
no-op.

What arrives is made storable first (:func:`readable`), before anything matches or stores
it: a NUL (PostgreSQL's text cannot hold one; psycopg refuses the row) or a lone surrogate
(no database can encode one; the PDU decoder already replaces them) in the text becomes
U+FFFD, so the token matching (SMS-MO requests, proofs, CIBA replies) and the inbox see the
same text; a sender holding one is unreadable (empty), as an undecodable PDU's sender that
could not be read, so it matches no session or proof.

When handling fails, the rule (:func:`store_inbound`) is:

- the database is unreachable (a lost connection, a lock or disk error: SQLAlchemy's
  OperationalError or InterfaceError, a connection invalidated, the pool out of
  connections): a later try may succeed, so the handler raises and the message stays on
  the SIM for the next sweep; nothing is lost, nothing is acted on twice;
- anything else (the database refused this message's row: DataError, IntegrityError; or a
  bug of ours that this message triggers) would fail the same way at every sweep, and a
  few such SMS would fill the SIM and block real ones. So the message is kept the way an
  undecodable one is (below), with ``not handled: <error class>`` as its outcome and its
  sender and text as decoded sealed in place of the raw PDU (the modem layer keeps no PDU
  of a decoded SMS), in a transaction of its own, and the handler returns: the SIM lets it
  go. It is logged as an error with its stack, never its text or number (an exception's
  message may quote them). If even that cannot be stored, the handler raises.

What is kept, for ``inbox_retention`` seconds (then the cleanup job removes the row): of
an SMS-MO verification request, the sender masked (+33*******78: the number itself is
sealed in its session) and the text REDACTED (the hawk id is a credential); of any other
SMS, the sender and the text, except that a run of 32 or more hex digits (a hawk id sent
with a typo, a token) is replaced by HEX_REDACTED. Of an undecodable SMS (the modem layer
could not decode its PDU, :mod:`modem.pdu.decoding`), which may be a verification request
as well: the sender masked (as far as the PDU could be read), no text, the reason in
``outcome``, and the raw PDU sealed under the server secret (:func:`open_pdu` reads it
back with the key file, for a diagnosis); its dedupe key is a keyed hash of the PDU.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import traceback

from sqlalchemy.exc import (DBAPIError, DisconnectionError, InterfaceError, OperationalError,
                            TimeoutError as PoolTimeout)

from gateway import metrics
from gateway.crypto.tokens import ServerSecret
from gateway.errors import ApiError
from gateway.logs import HEX_RUN
from gateway.storage.models import InboxMessage
from gateway.storage.inbox_repository import inbox_dedupe_key
from gateway.deps import Deps
from gateway.verification.momt import parse_mo_request, start_momt_verification
from gateway.verification import ciba, proofs, sna
from modem.numbers import mask_number
from modem.inbox import InboundSms

log = logging.getLogger(__name__)
KIND_MOMT = "momt-verify"
KIND_UNDECODABLE = "undecodable"
KIND_PROOF = "number-proof"  # carries a one-time proof token (gateway.verification.proofs)
KIND_CIBA = "ciba-reply"  # "OK 4821": a reply to a CIBA SMS (gateway.verification.ciba)
PDU_BINDING, PDU_PURPOSE = "inbox", "inbox-pdu"  # the sealing of an undecodable PDU
REDACTED = "/v1/msisdn/sms/momt/verify <hawk id not stored>"
HEX_REDACTED = "<hex not stored>"
NOT_HANDLED = "not handled"  # the outcome's prefix of an SMS kept after a failure
# What no text column can hold: NUL (PostgreSQL) and lone surrogates (not encodable).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# Failures a later try may cure: the database unreachable, not this message's fault.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def stored_text(text: str, hawk_id: str | None) -> str:
    """What the inbox keeps of ``text``: never a hawk id or another long hex credential."""
    return REDACTED if hawk_id else HEX_RUN.sub(HEX_REDACTED, text)


def open_pdu(secret: ServerSecret, row: InboxMessage) -> str | None:
    """The raw PDU of an undecodable row (None for another row). Raises SealError when it
    cannot be opened (another server secret)."""
    if row.pdu_sealed is None:
        return None
    return secret.open(PDU_BINDING, PDU_PURPOSE, row.pdu_sealed)


def readable(sms: InboundSms) -> InboundSms:
    """``sms`` with NUL and lone surrogates replaced by U+FFFD in its text, and its sender
    empty (unreadable) if it holds one (see above); ``sms`` itself when it has none."""
    text = UNSTORABLE.sub(REPLACEMENT, sms.text)
    sender = "" if UNSTORABLE.search(sms.sender) else sms.sender
    if (text, sender) == (sms.text, sms.sender):
        return sms
    return dataclasses.replace(sms, text=text, sender=sender)


def store_inbound(deps: Deps, sms: InboundSms) -> InboxMessage | None:
    """Store ``sms`` and act on it; returns the inbox row (None for a redelivery).
    Of an SMS-MO request, neither the hawk id nor the number is stored (see above).
    Raises only when the message must stay on the SIM: the database unreachable, or the
    message could not be kept even as not handled (see the rule above)."""
    received, sms = sms, readable(sms)
    if sms.undecodable is not None:
        return _store_undecodable(deps, sms)
    try:
        return _store_decoded(deps, sms)
    except Exception as exc:  # noqa: BLE001  unless transient, it would repeat: see above
        if transient(exc):
            raise
        return _store_not_handled(deps, received, sms, exc)


def transient(error: Exception) -> bool:
    """Whether ``error`` says the database is unreachable (see the rule above)."""
    return isinstance(error, TRANSIENT) or (isinstance(error, DBAPIError)
                                            and error.connection_invalidated)


def _store_decoded(deps: Deps, sms: InboundSms) -> InboxMessage | None:
    hawk_id = parse_mo_request(sms.text)
    # A one-time proof token (issue 13): the sender masked, the token not stored.
    proof_token = None if hawk_id else proofs.parse_proof_sms(sms.text)
    reply = None if hawk_id or proof_token else ciba.parse_reply(sms.text)
    with deps.uow() as uow:
        row = InboxMessage(
            dedupe_key=inbox_dedupe_key(sms.modem, sms.sender, sms.smsc_timestamp, sms.text),
            modem=sms.modem, recipient=sms.recipient,
            sender=mask_number(sms.sender) if hawk_id or proof_token or reply else sms.sender,
            text=(proofs.stored_text(sms.text) if proof_token
                  else stored_text(sms.text, hawk_id)),
            smsc_timestamp=sms.smsc_timestamp, partial=sms.partial,
            kind=(KIND_MOMT if hawk_id else KIND_PROOF if proof_token
                  else KIND_CIBA if reply else "other"),
            outcome="stored", received_at=deps.now())
        if not uow.inbox.store(row):
            log.info("SMS from %s on %s was stored before: not handled again",
                     mask_number(sms.sender), sms.modem)
            return None
        if hawk_id:
            row.outcome = _verify_sender(uow, deps, hawk_id, sms.sender)
        elif proof_token:
            outcome = proofs.handle_proof_sms(uow, deps, proof_token, sms.sender)
            if outcome != proofs.NO_MATCH:  # the SNA request waiting on it ends (issue 14)
                sna.proof_settled(uow, deps, proof_token)
            row.outcome = outcome
            if row.outcome == proofs.NO_MATCH:
                row.kind = "other"  # a token that matches nothing: an SMS like any other
        elif reply:
            row.outcome = ciba.handle_reply(uow, deps, *reply, sms.sender)
            if row.outcome == proofs.NO_MATCH:
                row.kind = "other"  # "OK 1234" that answers nothing pending
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


def _store_undecodable(deps: Deps, sms: InboundSms) -> InboxMessage | None:
    """Keep an undecodable SMS (see above) before the modem deletes it from the SIM."""
    row = _keep_sealed(deps, sms, sms.pdu or "", f"not decoded: {sms.undecodable}")
    if row is not None:
        log.warning("undecodable SMS from %s on %s kept in the inbox (%s)",
                    mask_number(sms.sender) or "?", sms.modem, sms.undecodable)
    return row


def _store_not_handled(deps: Deps, received: InboundSms, sms: InboundSms,
                       error: Exception) -> InboxMessage | None:
    """Keep an SMS whose handling failed for good (see the rule above) as an undecodable
    one: what arrived (``received``: sender, text, time stamp) sealed, the sender masked
    (``sms``'s, readable); raises if that too fails (the message stays on the SIM)."""
    reason = type(error).__name__
    if isinstance(error, DBAPIError) and error.orig is not None:
        reason += f" ({type(error.orig).__name__})"
    what_arrived = json.dumps({"sender": received.sender, "text": received.text,
                               "smsc_timestamp": received.smsc_timestamp.isoformat()
                               if received.smsc_timestamp else None}, sort_keys=True)
    row = _keep_sealed(deps, sms, what_arrived, f"{NOT_HANDLED}: {reason}")
    # The stack, not the exception's message: a database error quotes the row's values.
    log.error("SMS from %s on %s could not be handled (%s): kept in the inbox as %s "
              "(sealed), deleted from the SIM, not acted on\n%s",
              mask_number(sms.sender) or "?", sms.modem, reason, KIND_UNDECODABLE,
              "".join(traceback.format_tb(error.__traceback__)).rstrip())
    return row


def _keep_sealed(deps: Deps, sms: InboundSms, raw: str, outcome: str) -> InboxMessage | None:
    """Store the row of an SMS kept as undecodable: ``raw`` sealed (also its dedupe key,
    keyed), the sender masked, no text; None if it was stored before."""
    secret = deps.secret
    with deps.uow() as uow:
        row = InboxMessage(
            dedupe_key=secret.digest(PDU_PURPOSE, f"{sms.modem}\0{raw}"), modem=sms.modem,
            recipient=sms.recipient, sender=mask_number(sms.sender), text="",
            smsc_timestamp=None, partial=False, kind=KIND_UNDECODABLE,
            outcome=outcome[:500], received_at=deps.now(),
            pdu_sealed=secret.seal(PDU_BINDING, PDU_PURPOSE, raw))
        if not uow.inbox.store(row):
            log.info("%s SMS on %s was stored before", KIND_UNDECODABLE, sms.modem)
            return None
        uow.commit()
    metrics.sms_received(sms.modem, row.kind)
    return row
