"""Sending codes: sms/mt/verify, sms/resend_code, and the code issuing shared with the
SMS-MO flow. The SMS is written to the outbox in the same transaction as the code."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from gateway import metrics
from gateway.crypto.sealing import seal_sms
from gateway.errors import (InvalidParameter, TooManyForMethod, TooManyForMsisdn,
                            TooManyShortCodes, TooManySmsForClient)
from gateway.i18n import short_code_sms
from gateway.storage.models import OutboundSms
from gateway.storage.records import CodeRecord, SessionRecord
from gateway.storage.uow import UnitOfWork
from gateway.verification import codes, ratelimit
from gateway.verification.capacity import ensure_capacity
from gateway.deps import Deps
from gateway.guard import admission
from modem.numbers import mask_number, region_of
from gateway.verification.sessions import MSISDN, load_session, session_msisdn

log = logging.getLogger(__name__)

METHOD_MT = "sms/mt"
METHOD_MOMT = "sms/momt"


@dataclass(frozen=True)
class CodeRequest:
    """What to send: to whom, how, and in which languages (Accept-Language order)."""

    msisdn: str  # E.164, already validated
    method: str
    short_code: bool
    languages: Sequence[str] = ()
    mcc: str | None = None
    mnc: str | None = None
    # The HTTP client that asked (gateway.http.clients.sms_client: a keyed hash of its
    # address or IPv6 /64), whose SMS budget rate_limit_client_sms counts this SMS; None
    # for an exempt client, and for the reply to an SMS-MO, which has no HTTP client (its
    # sender is limited by rate_limit_msisdn).
    client: str | None = None
    # How the SMS shows a short code, for a face whose clients expect their own text
    # (code, minutes valid) -> text; None: the gateway's own (gateway.i18n.short_code_sms).
    text: Callable[[str, int], str] | None = None


def start_mt_verification(deps: Deps, hawk_id: str, request: CodeRequest) -> None:
    """Bind ``request.msisdn`` to the session (one per session) and send it a code.

    Raises InvalidToken, InvalidParameter (another MSISDN already bound; DestinationRefused,
    its subclass, for a destination the policy or the pumping guard refuses) and the 429
    errors 114/115/116/117 (117: the client's SMS budget).
    """
    with deps.uow() as uow:
        row = load_session(uow, deps, hawk_id)
        bind_msisdn(uow, deps, hawk_id, row, request.msisdn)
        ensure_capacity(uow, deps)
        issue_code(uow, deps, hawk_id, row, request)
        uow.commit()
    metrics.code_sent(request.method, request.short_code)
    log.info("code queued for %s by %s (%s code)", mask_number(request.msisdn),
             request.method, "short" if request.short_code else "long")


def resend_code(deps: Deps, hawk_id: str, languages: Sequence[str],
                client: str | None = None) -> None:
    """A fresh code to the session's MSISDN by the same method and code kind; the
    previous code stops working; ``client`` as CodeRequest.client. Raises InvalidToken,
    InvalidParameter (nothing to resend) and the 429 errors."""
    with deps.uow() as uow:
        row = load_session(uow, deps, hawk_id)
        msisdn = session_msisdn(deps, hawk_id, row)
        if msisdn is None or row.method is None:
            raise InvalidParameter("no verification was started for this session: "
                                   "call /v1/msisdn/sms/mt/verify first")
        ensure_capacity(uow, deps)
        issue_code(uow, deps, hawk_id, row, CodeRequest(
            msisdn=msisdn, method=row.method, short_code=row.short_code, languages=languages,
            client=client))
        uow.commit()
    metrics.code_sent(row.method, row.short_code)
    log.info("code re-sent to %s", mask_number(msisdn))


def bind_msisdn(uow: UnitOfWork, deps: Deps, hawk_id: str, row: SessionRecord,
                msisdn: str) -> None:
    """Seal ``msisdn`` into the session; a session holds one MSISDN for its life."""
    current = session_msisdn(deps, hawk_id, row)
    if current is None:
        uow.sessions.update(row.id, msisdn_sealed=deps.secret.seal(hawk_id, MSISDN, msisdn))
    elif current != msisdn:
        raise InvalidParameter("this session is already bound to another MSISDN; "
                               "register a new session to verify a different number")


def issue_code(uow: UnitOfWork, deps: Deps, hawk_id: str, row: SessionRecord,
               request: CodeRequest) -> None:
    """Check the client's SMS budget, the destination (policy and pumping guard), the
    rate limits, replace the session's code and queue the SMS. Every code SMS is queued
    here."""
    settings, now = deps.settings, deps.now()
    admit_sms(uow, deps, request.msisdn, request.method, client=request.client,
              mcc=request.mcc, mnc=request.mnc,
              session_digest=row.hawk_id_digest if request.short_code else None)
    ttl = settings.short_code_ttl if request.short_code else settings.long_code_ttl
    code = codes.new_short_code() if request.short_code else codes.new_long_code()
    uow.codes.replace(CodeRecord(
        session_id=row.id, code_digest=codes.code_digest(deps.secret, row.hawk_id_digest, code),
        kind="short" if request.short_code else "long", method=request.method,
        created_at=now, expires_at=deps.later(ttl)))
    if (row.method, row.short_code) != (request.method, request.short_code):
        uow.sessions.update(row.id, method=request.method, short_code=request.short_code)
    queue_sms(uow, deps, request.msisdn, _sms_text(settings, request, code, max(1, ttl // 60)),
              request.method, ttl, session_id=row.id, session_digest=row.hawk_id_digest,
              mcc=request.mcc, mnc=request.mnc)


def admit_sms(uow: UnitOfWork, deps: Deps, msisdn: str, method: str, *,
              client: str | None = None, mcc: str | None = None, mnc: str | None = None,
              session_digest: str | None = None) -> None:
    """The checks every SMS to a user passes, whatever face asks for it, in ``uow`` (a
    refusal rolls back what was counted): the client's SMS budget first (a client over
    it costs nothing more; ``client`` None: no HTTP client, e.g. an SMS-MO reply), the
    destination policy and pumping guard, the session's short codes (when
    ``session_digest`` is given), the number's and the method's budgets, and the box's
    budget of every method together (``rate_limit_sms_total``: each face has its own
    method budget, so only this one bounds the bill)."""
    settings, now = deps.settings, deps.now()
    if client is not None:
        ratelimit.enforce(uow, now, settings.rate_limit_client_sms, "client-sms", client,
                          TooManySmsForClient)
    admission.admit_code_sms(uow, deps, msisdn, mcc=mcc, mnc=mnc)
    if session_digest is not None:
        ratelimit.enforce(uow, now, settings.rate_limit_short_code, "short-code",
                          session_digest, TooManyShortCodes)
    ratelimit.enforce(uow, now, settings.rate_limit_msisdn, "msisdn",
                      deps.secret.digest("msisdn", msisdn), TooManyForMsisdn)
    ratelimit.enforce(uow, now, settings.rate_limit_method, "method", method,
                      TooManyForMethod)
    ratelimit.enforce(uow, now, settings.rate_limit_sms_total, "sms-total", "box",
                      TooManyForMethod)


def queue_sms(uow: UnitOfWork, deps: Deps, msisdn: str, text: str, purpose: str,
              ttl: int, *, session_id: int | None = None, session_digest: str | None = None,
              mcc: str | None = None, mnc: str | None = None) -> None:
    """Queue an SMS in the outbox, expiring within ``ttl`` (and ``sms_ttl``). The number
    and the text never reach the disk in clear: sealed for the worker under the server
    secret and the session (gateway.crypto.sealing; None: no session), listed masked."""
    settings, now = deps.settings, deps.now()
    uow.outbox.add(OutboundSms(
        recipient=mask_number(msisdn), session_id=session_id,
        sealed=seal_sms(deps.secret, session_digest, msisdn, text),
        sender=settings.mt_sender or None, purpose=purpose, region=region_of(msisdn),
        mcc=mcc, mnc=mnc, status="queued", attempts=0, next_attempt_at=now,
        expires_at=deps.later(min(ttl, settings.sms_ttl)), created_at=now, updated_at=now))


def _sms_text(settings, request: CodeRequest, code: str, minutes: int) -> str:
    """A long code is the whole SMS; a short one is shown by the face's ``text``, or by
    the gateway's own localised message."""
    if not request.short_code:
        return code
    if request.text is not None:
        return request.text(code, minutes)
    return short_code_sms(code, request.languages, valid_minutes=minutes,
                          origin_host=settings.effective_sms_origin_host or None,
                          app_hash=settings.sms_app_hash or None)
