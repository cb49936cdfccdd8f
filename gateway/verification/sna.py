"""Silent authentication for apps (issue 14): initiate, the link page, verify-code.

An app's server initiates a request for a claimed number and a registered redirect URI
and gets a ``requestId`` and a ``link`` (a one-time page token). The proof is one of
gateway.verification.proofs' one-time proofs, bound to the claimed number (its hint):

- ``sms_mo`` (default): the page holds an ``sms:`` link with the proof token (the page
  token *is* the proof token); the SMS-MO is matched by gateway.pipeline.inbound, which
  calls :func:`proof_settled`: the request is verified when the network-stamped sender is
  the claimed number, failed (7128) when it is another.
- ``sms_link``: the gateway texts the claimed number a one-time URL (its own token, not
  the page's) through the one outbox, with the destination policy, the pumping guard and
  the SMS budgets (as gateway.verification.ciba does). Opening it proves nothing (link
  previews and scanners open what an SMS holds): its page asks, and a confirmation
  (:func:`confirm_sms_link`, a POST) proves possession of the SIM, a refusal
  (:func:`decline_sms_link`) ends the request failed (7130).

When the page continues (:func:`issue_code`) a completed request gets a single-use
code living ``CODE_TTL`` seconds, which the app's server exchanges with
:func:`verify_code`. The code of a request verified by its SMS link goes only to the
browser that confirmed on the SMS link's page: the SIM's holder. The page that started
the request may be anybody's (whoever claims a number opens it), so it gets no code of
a verified SMS-link request; else a stranger could wait on it for the holder to tap.

A request lives ``sna_request_ttl`` seconds; one still pending after that ends failed
(7130). What a request must pass (its number, its network, its budgets) is
gateway.verification.sna_checks. Numbers are stored as keyed digests and sealed; tokens
and codes as keyed digests only. Errors are gateway.verification.sna_errors' SnaError
(an ApiError with the seed's ``sna_code``).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import ApiError
from gateway.storage.models import SnaRequest
from gateway.verification import mt, proofs, sna_checks, webhooks
from gateway.verification.capacity import ensure_capacity
from gateway.verification.sna_errors import (  # noqa: F401 (the face names them here)
    BadCredentials, InvalidCode, InvalidPhone, InvalidRedirect, InvalidSnaRequest,
    MccMncMismatch, MccMncUnsupported, MissingCredentials, NetworkUnsupported, SnaError,
    TooManyApplication, TooManyAuthentication, TooManyIdentity, TooManyIp, TooManyOverall,
    UnknownRequest)
from modem.numbers import mask_number

log = logging.getLogger(__name__)

CODE_TTL = 300  # seconds a code may wait for verify/code
SMS_MO, SMS_LINK = "sms_mo", "sms_link"
PROOF_KINDS = {SMS_MO: "sna-mo", SMS_LINK: "sna-link"}
PENDING, VERIFIED, FAILED = "pending", "verified", "failed"
METHOD = "sna"  # the outbox purpose and SMS budget of the SMS link
SEAL_BINDING, SEAL_PURPOSE = "sna-request", "claimed-msisdn"


#: Why a completed request failed (HTTP 200 on verify, as the seed does).
WRONG_SENDER, OTHER_FAILURE = 7128, 7130
#: The proof's outcome when the SIM's holder refused on the SMS link's page.
DECLINED = "declined by the number's holder"


@dataclass(frozen=True)
class Started:
    request_id: str
    link_token: str


def digest_of(deps, purpose: str, value: str) -> str:
    return deps.secret.digest("sna-" + purpose, value)


def initiate(uow, deps, client, body: dict, address: str | None,
             link_url) -> Started:
    """Start a request for ``client`` (a ClientInfo) from the seed's ``body``; ``address``
    is the keyed hash of the HTTP client (None: exempt); ``link_url(token)`` makes the
    absolute URL of the SMS link. Raises SnaError, and for the SMS link the outbox's
    errors (DestinationRefused, ServiceUnavailable, 429s)."""
    msisdn = sna_checks.parse_phone(body.get("phoneNumber"))
    redirect = body.get("redirectURI")
    if not isinstance(redirect, str) or redirect not in client.redirect_uris:
        raise InvalidRedirect("redirectURI must be one of the client's redirect URIs")
    proof = body.get("proof", SMS_MO)
    if not isinstance(proof, str) or proof not in PROOF_KINDS:
        raise InvalidSnaRequest('proof must be "sms_mo" or "sms_link"')
    mcc, mnc = sna_checks.check_network(uow, deps, msisdn, body.get("mcc"), body.get("mnc"))
    sna_checks.limit_initiation(uow, deps, client.client_id, msisdn, address)
    ttl, now = deps.settings.sna_request_ttl, deps.now()
    request_id = secrets.token_urlsafe(18)
    sms_token = None if proof == SMS_MO else secrets.token_urlsafe(16)
    try:  # the caller is the app's server, not the phone: no per-address pending cap
        proof_token, state = proofs.start_proof(
            uow, deps, client.client_id, {"requestId": request_id}, hint=msisdn,
            kind=PROOF_KINDS[proof], token=sms_token, ttl=ttl)
    except ApiError as exc:  # too many pending proofs of the client
        raise TooManyApplication(exc.message, retry_after=exc.retry_after) from None
    link_token = proof_token if proof == SMS_MO else secrets.token_urlsafe(24)
    uow.sna.add(SnaRequest(
        request_id=request_id, link_digest=digest_of(deps, "link", link_token),
        client_id=client.client_id, proof_id=state.id, proof=proof,
        msisdn_digest=deps.secret.digest("msisdn", msisdn),
        msisdn_sealed=deps.secret.seal(SEAL_BINDING, SEAL_PURPOSE, msisdn),
        redirect_uri=redirect, status=PENDING, created_at=now, expires_at=deps.later(ttl)))
    if proof == SMS_LINK:
        _queue_link_sms(uow, deps, client, msisdn, link_url(proof_token), address, mcc, mnc)
    log.info("sna: request for %s started (%s)", mask_number(msisdn), proof)
    return Started(request_id, link_token)


def _queue_link_sms(uow, deps, client, msisdn: str, url: str, address: str | None,
                    mcc: str | None, mnc: str | None) -> None:
    """The SMS with the one-time URL, through the one outbox and its checks (as every
    code SMS: client budget, destination policy and guard, per-number and per-method
    budgets, capacity)."""
    mt.admit_sms(uow, deps, msisdn, METHOD, client=address, mcc=mcc, mnc=mnc)
    ensure_capacity(uow, deps)
    mt.queue_sms(uow, deps, msisdn, f"{client.name[:30]}: open to confirm this is your "
                 f"number {url}", METHOD, deps.settings.sna_request_ttl, mcc=mcc, mnc=mnc)


def _finish(uow, deps, row: SnaRequest, status: str, error_code: int | None) -> None:
    """End ``row`` and queue its webhook (delivered by the worker, never waited for)."""
    if row.proof_id is not None:
        proofs.consume_proof(uow, deps, row.proof_id)
    uow.sna.update(row.id, status=status, error_code=error_code, completed_at=deps.now())
    body = answer(deps, uow.sna.by_request_id(row.request_id))
    details = body.pop("userDetails")
    del details["token"]
    webhooks.enqueue(uow, deps, row.client_id, {
        "event": "sna.verified" if status == VERIFIED else "sna.failed", **body, **details})
    log.info("sna: request %s %s", row.id, status)


def _settle(uow, deps, row: SnaRequest) -> SnaRequest:
    """End ``row`` if its proof is settled or its time is up; returns it fresh."""
    if row.status != PENDING:
        return row
    state = proofs.state_by_id(uow, deps, row.proof_id) if row.proof_id else None
    if state is not None and state.status == proofs.PROVEN:
        _finish(uow, deps, row, VERIFIED, None)
    elif state is not None and state.status == proofs.REFUSED:
        _finish(uow, deps, row, FAILED,
                OTHER_FAILURE if state.reason == DECLINED else WRONG_SENDER)
    elif row.expires_at <= deps.now():
        _finish(uow, deps, row, FAILED, OTHER_FAILURE)
    else:
        return row
    return uow.sna.by_request_id(row.request_id)


def end_expired(uow, deps) -> int:
    """End the pending requests whose time is up, nobody having asked about them since
    (the worker's cleanup, in ``uow``): each gets its final status and its webhook, as
    if its status had been read. Returns how many ended."""
    rows = uow.sna.pending_expired(deps.now())
    for row in rows:
        _settle(uow, deps, row)
    return len(rows)


def proof_settled(uow, deps, token: str) -> None:
    """Called by the inbound handler, in its transaction, once an SMS-MO proved or
    refused the proof of ``token``: end its SNA request, if any."""
    state = proofs.proof_state(uow, deps, token)
    row = uow.sna.by_proof(state.id) if state is not None else None
    if row is not None:
        _settle(uow, deps, row)


def by_link(uow, deps, link_token: object) -> SnaRequest | None:
    if not sna_checks.is_token(link_token):
        return None
    row = uow.sna.by_link(digest_of(deps, "link", link_token))
    return _settle(uow, deps, row) if row is not None else None


def _sms_link(uow, deps, token: object):
    """(request, proof state) of the SMS link's ``token``, or (None, None)."""
    state = proofs.proof_state(uow, deps, token) if sna_checks.is_token(token) else None
    row = uow.sna.by_proof(state.id) if state is not None else None
    if row is None or row.proof != SMS_LINK:
        return None, None
    return row, state


def sms_link_request(uow, deps, token: object) -> SnaRequest | None:
    """The request of the SMS link's ``token``, settled, proving nothing (what opening
    the link does); None for an unknown token."""
    row, _state = _sms_link(uow, deps, token)
    return _settle(uow, deps, row) if row is not None else None


def confirm_sms_link(uow, deps, token: object) -> SnaRequest | None:
    """The SIM's holder confirmed on the SMS link's page: prove the claimed number and
    end the request (a request ended already stays as it is); None for an unknown
    token."""
    row, state = _sms_link(uow, deps, token)
    if row is None:
        return None
    if row.status == PENDING and state.status == proofs.PENDING:
        proofs.prove_directly(uow, deps, state.id, _claimed(deps, row))
        log.info("sna: request %s confirmed on its SMS link", row.id)
    return _settle(uow, deps, row)


def decline_sms_link(uow, deps, token: object) -> SnaRequest | None:
    """The SIM's holder said it was not them: end the pending request failed (7130, its
    webhook queued). Raises InvalidSnaRequest (7101) for a request ended already; None
    for an unknown token."""
    row, state = _sms_link(uow, deps, token)
    if row is None:
        return None
    row = _settle(uow, deps, row)
    if row.status != PENDING or state.status != proofs.PENDING:
        raise InvalidSnaRequest("this request has ended already")
    uow.proofs.update(state.id, outcome=DECLINED)
    log.info("sna: request %s declined on its SMS link", row.id)
    return _settle(uow, deps, row)


def code_goes_to_sms_holder(row: SnaRequest) -> bool:
    """Whether only a confirmation on the SMS link's page gets ``row``'s code."""
    return row.proof == SMS_LINK and row.status == VERIFIED


def issue_code(uow, deps, row: SnaRequest, *, sms_holder: bool = False) -> str | None:
    """A fresh single-use code for the completed ``row`` (the previous one stops working),
    or None when it is still pending or its code was used already, and for a request
    verified by its SMS link unless ``sms_holder`` (the browser that confirmed on that
    link's page asks: see the module's docstring)."""
    if row.status == PENDING or row.code_used_at is not None:
        return None
    if code_goes_to_sms_holder(row) and not sms_holder:
        return None
    code = secrets.token_urlsafe(24)
    uow.sna.update(row.id, code_digest=digest_of(deps, "code", code),
                   code_expires_at=deps.later(CODE_TTL))
    return code


def verify_code(uow, deps, client, code: object) -> dict:
    """The seed's verify/code answer for ``code`` of ``client``; raises InvalidCode
    (unknown, expired, used, another client's) and 7020."""
    if not sna_checks.is_token(code):
        raise InvalidCode("code must be the code given to the redirect URI")
    digest = digest_of(deps, "code", code)
    row = uow.sna.by_code(digest)
    if row is None or row.client_id != client.client_id:
        raise InvalidCode()
    sna_checks.limit_authentication(uow, deps, row.request_id)
    if not uow.sna.use_code(digest, deps.now()):
        raise InvalidCode()
    return answer(deps, row)


def status(uow, deps, client, request_id: object) -> dict:
    """Where ``request_id`` of ``client`` stands; raises UnknownRequest, 7020."""
    row = uow.sna.by_request_id(request_id) if sna_checks.is_token(request_id) else None
    if row is None or row.client_id != client.client_id:
        raise UnknownRequest()
    sna_checks.limit_authentication(uow, deps, request_id)
    row = _settle(uow, deps, row)
    body = {"requestId": row.request_id, "status": _status_name(row),
            "createdAt": _iso(row.created_at), "expiresAt": _iso(row.expires_at),
            "completedAt": _iso(row.completed_at)}
    if row.error_code:
        body["errorCode"] = str(row.error_code)
    return body


def answer(deps, row: SnaRequest) -> dict:
    """The verify/code (and webhook) body of a completed request."""
    verified = row.status == VERIFIED
    identity = {"identityType": "MOBILE", "identityValue": _claimed(deps, row)[1:],
                "channel": "SNA", "methods": [row.proof.upper()], "verified": verified,
                "verifiedTimestamp": _iso(row.completed_at) if verified else None}
    body = {"requestId": row.request_id,
            "message": "SUCCESS" if verified else "USER_VERIFICATION_FAILED"}
    if not verified:
        body["errorCode"] = str(row.error_code or OTHER_FAILURE)
        body["description"] = FAILURES.get(row.error_code, FAILURES[OTHER_FAILURE])
    body["userDetails"] = {"token": secrets.token_urlsafe(24), "status": _status_name(row),
                           "completedAt": _iso(row.completed_at), "identities": [identity]}
    return body


FAILURES = {WRONG_SENDER: "Providers failed to verify: the proof came from another number.",
            OTHER_FAILURE: "User verification failed for other reasons: the request "
                           "expired, or the number's holder declined it."}


def _status_name(row: SnaRequest) -> str:
    return {PENDING: "PENDING", VERIFIED: "SUCCESS", FAILED: "FAILED"}[row.status]


def _claimed(deps, row: SnaRequest) -> str:
    return deps.secret.open(SEAL_BINDING, SEAL_PURPOSE, row.msisdn_sealed)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
