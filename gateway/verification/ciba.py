"""CIBA by two-way SMS (issue 13): a client's backend names a number (``login_hint``);
the gateway texts it a short message naming the client and quoting the exact reply that
confirms (``Reply "OK 4821" to confirm``, or ``"NO 4821"`` to refuse); a reply from that
number (as stamped by the network) with that text proves it.

The pending request is a proof of kind "ciba" (gateway.verification.proofs) whose token
digest is a keyed hash of the number and the reply code, so that a reply is matched by
its sender and text alone; the client polls with an ``auth_req_id`` kept as a keyed hash
in ``oidc_grants`` (kind "ciba"). The SMS goes through the one outbox with the
destination policy, the pumping guard and the per-number and per-method budgets.
"""
from __future__ import annotations

import logging
import re
import secrets

from gateway.storage.models import OidcGrant
from gateway.verification import mt, proofs
from gateway.verification.capacity import ensure_capacity
from modem.numbers import mask_number

log = logging.getLogger(__name__)

METHOD = "ciba"
KIND = "ciba"  # its proofs' kind: none of the authorization page's business
INTERVAL = 5  # seconds between polls; faster is slow_down
REPLY = re.compile(r"^\s*[\"']?\s*(OK|NO)\s+(\d{4})\s*[\"']?\s*[.!]?\s*$", re.IGNORECASE)
CONFIRMED, DENIED = "ciba confirmed", "ciba denied"


def _token(msisdn: str, code: str) -> str:
    return f"CIBA:{msisdn}:{code}"


def grant_digest(deps, auth_req_id: str) -> str:
    return deps.secret.digest("oidc-ciba", auth_req_id)


def start_ciba(uow, deps, client, msisdn: str, scope: str,
               address: str | None = None) -> tuple[str, int]:
    """Queue the SMS to ``msisdn`` (E.164, validated) for ``client`` (a ClientInfo);
    returns ``(auth_req_id, expires_in)``. Raises DestinationRefused, ServiceUnavailable,
    TooManyRequests (pending proofs) and the 429 SMS budgets."""
    now = deps.now()
    mt.admit_sms(uow, deps, msisdn, METHOD, client=address)
    ensure_capacity(uow, deps)
    while True:  # a code another pending request of this number holds: draw again
        code = f"{secrets.randbelow(10000):04d}"
        if uow.proofs.by_token(proofs.token_digest(deps, _token(msisdn, code))) is None:
            break
    _token_value, state = proofs.start_proof(
        uow, deps, client.client_id, {"client_id": client.client_id, "scope": scope},
        hint=msisdn, address=address, kind=KIND, token=_token(msisdn, code))
    auth_req_id = secrets.token_urlsafe(32)
    uow.proofs.add_grant(OidcGrant(digest=grant_digest(deps, auth_req_id), kind="ciba",
                                   proof_id=state.id, scope=scope, created_at=now,
                                   expires_at=deps.later(proofs.PROOF_TTL)))
    text = (f'{client.name[:40]} asks to confirm this is your number. Reply "OK {code}" '
            f'to confirm, "NO {code}" to refuse. Ignore it if you did not ask.')
    mt.queue_sms(uow, deps, msisdn, text, METHOD, proofs.PROOF_TTL)
    log.info("ciba: confirmation SMS queued for %s", mask_number(msisdn))
    return auth_req_id, proofs.PROOF_TTL


def parse_reply(text: str) -> tuple[bool, str] | None:
    """(confirms, code) of a reply ``OK 4821`` / ``NO 4821``, or None."""
    match = REPLY.match(text or "")
    return (match.group(1).upper() == "OK", match.group(2)) if match else None


def handle_reply(uow, deps, confirms: bool, code: str, sender: str) -> str:
    """Match a reply from ``sender`` (stamped by the network); returns the inbox outcome:
    CONFIRMED, DENIED or proofs.NO_MATCH."""
    try:
        msisdn = proofs.parse_msisdn(sender, field="sender")
    except proofs.InvalidParameter:
        return proofs.NO_MATCH
    row = uow.proofs.by_token(proofs.token_digest(deps, _token(msisdn, code)))
    if row is None or row.kind != KIND or row.proven_at is not None \
            or row.outcome or row.expires_at <= deps.now():
        return proofs.NO_MATCH
    if confirms:
        proofs.prove_directly(uow, deps, row.id, msisdn)
        log.info("ciba: %s confirmed", mask_number(msisdn))
        return CONFIRMED
    uow.proofs.update(row.id, outcome="denied by the user")
    log.info("ciba: %s refused", mask_number(msisdn))
    return DENIED
