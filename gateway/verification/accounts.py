"""TextSecure accounts (the face gateway.api.textsecure): request a registration code,
confirm it with the credentials the client chose, authenticate, push ids, removal.

A code request is a verification session like any other (gateway.verification.sessions)
whose id is not handed to the client but derived from the number under the server
secret (``registration_id``): the code is issued by gateway.verification.mt.issue_code,
so it passes the same per-client SMS budget, destination policy, pumping guard and rate
limits, and goes through the same outbox, as every code SMS. Confirming deletes the
session (and scrubs its outbox rows) and replaces the number's account.

At rest (gateway.storage.models.TextSecureAccount): keyed digests of the number and of
its directory token, the number masked, the password as an scrypt hash, the signaling
key and push ids sealed under the server secret and the number (which is not stored).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import replace
from typing import Sequence

from gateway import metrics
from gateway.crypto.sealing import seal_hex_key
from gateway.deps import Deps
from gateway.errors import ApiError
from gateway.guard import admission
from gateway.i18n import textsecure_code_sms
from gateway.storage.accounts_repository import AccountListing, AccountRecord
from gateway.storage.records import SessionRecord
from gateway.storage.uow import UnitOfWork
from gateway.verification import codes, mt, ratelimit
from gateway.verification.account_passwords import (PasswordHashError, check_no_account,
                                                    check_password, hash_password,
                                                    remembered)
from gateway.verification.capacity import ensure_capacity
from gateway.verification.sessions import HAWK_ID, HAWK_KEY, MSISDN
from modem.numbers import mask_number

log = logging.getLogger(__name__)

METHOD = "textsecure/sms"  # the outbox's purpose and the rate limits' method
REGISTRATION = "textsecure-registration"
NUMBER = "textsecure-number"
TOKEN = "textsecure-token"
SIGNALING_KEY = "textsecure-signaling-key"
PUSH_IDS = {"gcm": ("gcm_id_sealed", "textsecure-gcm-id"),
            "apn": ("apn_id_sealed", "textsecure-apn-id")}
SIGNALING_KEY_BYTES = 52  # 32-byte AES key + 20-byte HMAC-SHA1 key


class BadCredentials(ApiError):
    status, default_message = 401, "Invalid authentication credentials"


class WrongCode(ApiError):
    status, default_message = 403, "Incorrect verification code"


class UnknownAccount(ApiError):
    status, default_message = 404, "Unknown or unregistered number"


class TooManyForAccount(ApiError):
    status, default_message = 429, "Rate limit exceeded for this account"


class TooManyPasswordChecks(ApiError):
    status, default_message = 429, "Too many password checks from this client address"


def registration_id(deps: Deps, number: str) -> str:
    """The id of the number's registration session (64 hex), known only to the server."""
    return deps.secret.digest(REGISTRATION, number)


def directory_token(number: str) -> str:
    """TextSecure's contact token: base64 without padding of SHA-1(number)[:10]."""
    digest = hashlib.sha1(number.encode("ascii")).digest()[:10]
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def token_digest(deps: Deps, token: str) -> str:
    return deps.secret.digest(TOKEN, token)


def number_digest(deps: Deps, number: str) -> str:
    return deps.secret.digest(NUMBER, number)


def request_code(deps: Deps, number: str, languages: Sequence[str],
                 client: str | None) -> None:
    """Queue a six-digit code SMS to ``number`` (E.164) in the first of ``languages``
    supported; ``client`` as mt.CodeRequest.client. Raises DestinationRefused (400), the
    429 limits of issue_code, and ServiceUnavailable (503: no modem, queue too long)."""
    reg_id = registration_id(deps, number)
    with deps.uow() as uow:
        row = _registration(uow, deps, reg_id, number)
        ensure_capacity(uow, deps)
        mt.issue_code(uow, deps, reg_id, row, mt.CodeRequest(
            msisdn=number, method=METHOD, short_code=True, languages=languages,
            client=client, text=lambda code, _minutes: textsecure_code_sms(code, languages)))
        uow.commit()
    metrics.code_sent(METHOD, True)
    log.info("TextSecure code queued for %s", mask_number(number))


def _registration(uow: UnitOfWork, deps: Deps, reg_id: str, number: str) -> SessionRecord:
    """The number's live registration session, made when there is none."""
    row = uow.sessions.by_hawk_id(reg_id, lambda value: deps.secret.digest(HAWK_ID, value))
    if row is not None and row.expires_at > deps.now():
        return row
    if row is not None:
        uow.outbox.forget_session(row.id, deps.now())
        uow.sessions.delete(row)
    record = SessionRecord(
        hawk_id_digest=deps.secret.digest(HAWK_ID, reg_id),
        # No Hawk client ever holds this session: its key is random and never given out.
        hawk_key_sealed=seal_hex_key(deps.secret, reg_id, HAWK_KEY, secrets.token_hex(32)),
        msisdn_sealed=deps.secret.seal(reg_id, MSISDN, number),
        created_at=deps.now(), expires_at=deps.later(deps.settings.pending_session_ttl))
    return replace(record, id=uow.sessions.add(record))


def confirm(deps: Deps, number: str, password: str, code: str, signaling_key: bytes,
            supports_sms: bool) -> None:
    """Check ``code`` (six digits) for ``number`` and make (or replace) its account with
    ``password``. Raises BadCredentials (no code pending for this number), WrongCode
    (wrong, expired or burnt code; a wrong try is committed first)."""
    reg_id = registration_id(deps, number)
    with deps.uow() as uow:
        row = uow.sessions.by_hawk_id(reg_id, lambda value: deps.secret.digest(HAWK_ID, value))
        current = None if row is None else uow.codes.for_session(row.id)
        if row is None or row.expires_at <= deps.now() or current is None:
            raise BadCredentials("no verification code was sent to this number")
        codes.check_code(uow, deps, row.hawk_id_digest, current, code, gone=WrongCode,
                         wrong=WrongCode)
        admission.count_verified(uow, deps, number)  # pumping detection's conversion
        uow.outbox.forget_session(row.id, deps.now())
        uow.sessions.delete(row)
        now = deps.now()
        uow.accounts.replace({
            "number_digest": number_digest(deps, number),
            "token_digest": token_digest(deps, directory_token(number)),
            "number_masked": mask_number(number), "password_hash": hash_password(password),
            "signaling_key_sealed": deps.secret.seal(
                number, SIGNALING_KEY, base64.b64encode(signaling_key).decode("ascii")),
            "supports_sms": supports_sms, "created_at": now, "updated_at": now})
        uow.commit()
    log.info("TextSecure account registered for %s", mask_number(number))


def authenticate(deps: Deps, number: str, password: str, client: str | None) -> AccountRecord:
    """The account of ``number`` if ``password`` is its; raises BadCredentials, or
    TooManyPasswordChecks when ``client`` (as mt.CodeRequest.client; None: exempt) is
    over ``rate_limit_textsecure_password_checks``. Every login but one with a password
    this process saw match pays one scrypt check and counts (committed even when the
    password is wrong), whether or not ``number`` has an account: neither the status nor
    the time of the answer tells a registered number from another."""
    # Not read-only: in a request this is often the first statement, which decides the
    # request's one transaction (gateway.http.transaction), and every authenticated call
    # writes after it (a push id, keys, a count): begun read-only, that write would fail.
    with deps.uow() as uow:
        account = uow.accounts.by_number(number_digest(deps, number))
    try:
        if account is not None and remembered(password, account.password_hash):
            return account
        _count_password_check(deps, client)
        if account is None:
            check_no_account(password)
        elif check_password(password, account.password_hash):
            return account
    except PasswordHashError:
        log.error("TextSecure account of %s: unreadable password hash", mask_number(number))
    raise BadCredentials()


def _count_password_check(deps: Deps, client: str | None) -> None:
    """Count one scrypt check against ``client``'s limit; raises TooManyPasswordChecks."""
    if client is None:
        return
    with deps.uow() as uow:
        ratelimit.enforce(uow, deps.now(), deps.settings.rate_limit_textsecure_password_checks,
                          "ts-password", client, TooManyPasswordChecks)
        uow.commit()


def set_push_id(deps: Deps, account: AccountRecord, number: str, kind: str,
                value: str | None) -> None:
    """Store (sealed) or, with None, remove the account's ``kind`` ("gcm", "apn") id."""
    column, purpose = PUSH_IDS[kind]
    sealed = None if value is None else deps.secret.seal(number, purpose, value)
    with deps.uow() as uow:
        uow.accounts.update(account.id, **{column: sealed, "updated_at": deps.now()})
        uow.commit()


def remove_account(deps: Deps, number: str) -> bool:
    """Remove the account of ``number`` and its prekeys (``accounts remove``); False
    when there is none."""
    with deps.uow() as uow:
        removed = uow.accounts.delete(number_digest(deps, number))
        uow.commit()
    if removed:
        log.info("TextSecure account of %s removed", mask_number(number))
    return removed


def list_accounts(deps: Deps) -> list[AccountListing]:
    """Every account, numbers masked (``accounts list``)."""
    with deps.uow(read_only=True) as uow:
        return uow.accounts.listing()
