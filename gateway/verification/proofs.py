"""One-time proofs of a phone number by SMS-MO (issue 13).

A face starts a proof for an API client: a random token (16 base32 characters, 80 bits,
from ``secrets``) that the device texts to a modem's number, e.g. ``NV-7KQ2M4XW9PZB3T6A``.
Only a keyed hash of the token is stored. When an SMS-MO carrying a token arrives
(gateway.pipeline.inbound calls :func:`handle_proof_sms` in the transaction that stores
it), the sender *as stamped by the network* becomes the proven number, sealed under the
server secret. A proof is single use (:func:`consume_proof`) and expires after
``PROOF_TTL`` seconds. With a ``login_hint``, an SMS from another number proves nothing
and the proof says so. An SMS whose token matches no pending proof is stored as
``other``, like any SMS that is not a request.

Limits, else 429: at most ``MAX_PENDING_PER_ADDRESS`` pending proofs per client address
(a keyed hash of it) and ``MAX_PENDING_PER_CLIENT`` per API client, counted in two
budgets: the authorization page's proofs (``PAGE_KIND``, made by anonymous requests that
anyone can send with a client's public ``client_id``) and the proofs of the client's own
authenticated requests (CIBA, SNA). So opening pages cannot spend the budget of the
client's backend, while the pages' pending proofs stay bounded per client.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import InvalidParameter, TooManyRequests
from gateway.storage.models import NumberProof
from gateway.verification.msisdn import parse_msisdn
from modem.numbers import mask_number

log = logging.getLogger(__name__)

PROOF_TTL = 300  # seconds a proof may wait for its SMS
MAX_PENDING_PER_CLIENT = 200
MAX_PENDING_PER_ADDRESS = 5
PAGE_KIND = "sms-mo"  # the authorization page's proofs (gateway.api.camara)
TOKEN_PREFIX = "NV-"
PROOF_SMS = re.compile(r"(?<![A-Za-z0-9])[Nn][Vv]-([A-Za-z2-7]{16})(?![A-Za-z0-9])")
SEAL_BINDING, SEAL_PURPOSE = "number-proof", "proven-msisdn"
REDACTED = "NV-<token not stored>"

NO_MATCH = "no pending proof"
PENDING, PROVEN, REFUSED, EXPIRED, USED = "pending", "proven", "refused", "expired", "used"


@dataclass(frozen=True)
class ProofState:
    """Where a proof stands; ``msisdn`` only once proven (E.164)."""

    id: int
    client_id: str
    status: str
    request: dict
    msisdn: str | None = None
    reason: str | None = None


def new_token() -> str:
    return TOKEN_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()


def token_digest(deps, token: str) -> str:
    return deps.secret.digest("number-proof", token.upper())


def hint_digest(deps, msisdn: str) -> str:
    return deps.secret.digest("proof-hint", msisdn)


def parse_login_hint(hint: str | None) -> str | None:
    """The E.164 number of ``tel:+E164`` (or a bare ``+E164``), None for no hint; raises
    InvalidParameter for anything else."""
    if hint is None or hint == "":
        return None
    value = hint[4:] if hint.startswith("tel:") else hint
    return parse_msisdn(value, field="login_hint")


def start_proof(uow, deps, client_id: str, request: dict, *, hint: str | None = None,
                address: str | None = None, kind: str = PAGE_KIND,
                token: str | None = None, ttl: int = PROOF_TTL) -> tuple[str, ProofState]:
    """A pending proof for ``client_id`` waiting on ``request`` (JSON-able, no secret);
    returns ``(token, state)``; it lives ``ttl`` seconds. ``address`` is a keyed hash of
    the HTTP client. Raises TooManyRequests when the client or the address has too many
    pending proofs in ``kind``'s budget (see the module's docstring)."""
    now = deps.now()
    # A page proof counts among page proofs only, any other among the others only.
    budget = {"kind": PAGE_KIND} if kind == PAGE_KIND else {"other_than": PAGE_KIND}
    if uow.proofs.count_pending(now, client_id=client_id, **budget) >= MAX_PENDING_PER_CLIENT:
        raise TooManyRequests("too many pending proofs for this client", retry_after=PROOF_TTL)
    if address is not None and uow.proofs.count_pending(
            now, address_digest=address, **budget) >= MAX_PENDING_PER_ADDRESS:
        raise TooManyRequests("too many pending proofs from this address",
                              retry_after=PROOF_TTL)
    token = token or new_token()
    row = uow.proofs.add(NumberProof(
        token_digest=token_digest(deps, token), kind=kind, client_id=client_id,
        address_digest=address, hint_digest=hint_digest(deps, hint) if hint else None,
        request=json.dumps(request), created_at=now, expires_at=deps.later(ttl)))
    return token, _state(deps, row, now)


def parse_proof_sms(text: str) -> str | None:
    """The token (upper case) an SMS-MO carries, or None."""
    match = PROOF_SMS.search(text or "")
    return (TOKEN_PREFIX + match.group(1).upper()) if match else None


def stored_text(text: str) -> str:
    """What the inbox keeps of an SMS carrying a token: the text, token removed."""
    return PROOF_SMS.sub(REDACTED, text)


def handle_proof_sms(uow, deps, token: str, sender: str) -> str:
    """Match the SMS-MO carrying ``token``, sent by ``sender`` (stamped by the network),
    inside the caller's transaction; returns the outcome for the inbox: "proven",
    "no pending proof" (unknown, expired or already proven: the SMS is ``other``) or
    "refused: ..." (the proof is refused and says so)."""
    now = deps.now()
    row = uow.proofs.by_token(token_digest(deps, token))
    if row is None or row.expires_at <= now or row.proven_at is not None:
        return NO_MATCH
    try:
        msisdn = parse_msisdn(sender, field="sender")
    except InvalidParameter:
        return NO_MATCH
    if row.hint_digest is not None and row.hint_digest != hint_digest(deps, msisdn):
        uow.proofs.update(row.id, outcome="sender is not the login_hint number")
        log.info("proof SMS from %s is not from the login_hint number", mask_number(msisdn))
        return "refused: sender is not the login_hint number"
    uow.proofs.update(row.id, proven_at=now, outcome=PROVEN,
                      msisdn_sealed=deps.secret.seal(SEAL_BINDING, SEAL_PURPOSE, msisdn))
    log.info("number proof %d proven by an SMS from %s", row.id, mask_number(msisdn))
    return "proven"


def prove_directly(uow, deps, proof_id: int, msisdn: str) -> None:
    """Mark a proof proven for ``msisdn`` (the CIBA reply matched elsewhere)."""
    uow.proofs.update(proof_id, proven_at=deps.now(), outcome=PROVEN,
                      msisdn_sealed=deps.secret.seal(SEAL_BINDING, SEAL_PURPOSE, msisdn))


def proof_state(uow, deps, token: str, kind: str | None = None) -> ProofState | None:
    """The proof of ``token``, or None if unknown or, when ``kind`` is given, of another
    kind: a page that shows its own kind of proof must not tell anything of the others
    (a CIBA proof's token is the number and 4 digits, easily walked)."""
    row = uow.proofs.by_token(token_digest(deps, token)) if isinstance(token, str) else None
    if row is None or kind is not None and row.kind != kind:
        return None
    return _state(deps, row, deps.now())


def state_by_id(uow, deps, proof_id: int) -> ProofState | None:
    row = uow.proofs.get(proof_id)
    return _state(deps, row, deps.now()) if row is not None else None


def consume_proof(uow, deps, proof_id: int) -> bool:
    """Use a proven proof once; False if it is unknown, not proven, or was used before,
    also by a concurrent transaction (one conditional UPDATE, not a read then a write)."""
    return uow.proofs.consume(proof_id, deps.now())


def _state(deps, row: NumberProof, now: datetime) -> ProofState:
    request = json.loads(row.request)
    if row.consumed_at is not None:
        return ProofState(row.id, row.client_id, USED, request)
    if row.proven_at is not None:
        msisdn = deps.secret.open(SEAL_BINDING, SEAL_PURPOSE, row.msisdn_sealed)
        return ProofState(row.id, row.client_id, PROVEN, request, msisdn)
    if row.expires_at <= now:
        return ProofState(row.id, row.client_id, EXPIRED, request)
    if row.outcome:
        return ProofState(row.id, row.client_id, REFUSED, request, reason=row.outcome)
    return ProofState(row.id, row.client_id, PENDING, request)
