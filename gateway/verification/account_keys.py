"""TextSecure prekeys and the contact directory (the face gateway.api.textsecure).

Prekeys are public keys: stored as sent. A fetch hands out one unused prekey and removes
it, then the last-resort key every time; fetches are limited per requesting account
(``rate_limit_textsecure_prekeys``).

The directory answers which tokens (gateway.verification.accounts.directory_token) are
registered. It is an enumeration oracle (tokens are hashes of phone numbers, which are
few), so each account may look up at most ``textsecure_directory_daily_limit`` tokens
per UTC day, a count its number keeps when registered again; a refused lookup counts
nothing. Tokens are matched by keyed digest: the database holds no token.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from gateway.deps import Deps
from gateway.storage.accounts_repository import AccountRecord, PreKey
from gateway.verification import ratelimit
from gateway.verification.accounts import (BadCredentials, TooManyForAccount,
                                           UnknownAccount, number_digest, token_digest)

LAST_RESORT_KEY_ID = 0xFFFFFF
KEY_BYTES = 33
KEY_TYPE = 0x05  # Curve25519 (djb)
MAX_PREKEYS = 100
TOKEN = re.compile(r"[A-Za-z0-9+/]{14}")  # base64 of 10 bytes, no padding
MAX_TOKENS = 2048  # in one lookup (the body limit bounds it too)


class BadKey(ValueError):
    """A prekey that is not TextSecure's format; the message says why."""


def parse_public_key(value: object, field: str) -> str:
    """``value`` if it is 33 bytes in base64 without padding, the first 0x05."""
    if not isinstance(value, str) or "=" in value or len(value) != 44:
        raise BadKey(f"{field} must be 33 bytes in base64 without padding")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"{field} is not base64") from None
    if len(raw) != KEY_BYTES or raw[0] != KEY_TYPE:
        raise BadKey(f"{field} must be 33 bytes, the first 0x05")
    return value


def parse_prekey(value: object, last_resort: bool) -> PreKey:
    if not isinstance(value, dict):
        raise BadKey("a prekey must be an object {keyId, publicKey, identityKey}")
    key_id = value.get("keyId")
    if (isinstance(key_id, bool) or not isinstance(key_id, int)
            or not 0 <= key_id <= LAST_RESORT_KEY_ID):
        raise BadKey("keyId must be an integer of 24 bits")
    if last_resort != (key_id == LAST_RESORT_KEY_ID):
        raise BadKey("the last-resort key, and only it, has keyId 0xFFFFFF")
    return PreKey(key_id, parse_public_key(value.get("publicKey"), "publicKey"),
                  parse_public_key(value.get("identityKey"), "identityKey"))


def parse_prekeys(body: dict) -> tuple[list[PreKey], PreKey]:
    """``{"lastResortKey": {...}, "keys": [{...}, ...]}`` -> (keys, last resort key);
    raises BadKey."""
    keys = body.get("keys")
    if not isinstance(keys, list) or len(keys) > MAX_PREKEYS:
        raise BadKey(f"keys must be a list of at most {MAX_PREKEYS} prekeys")
    parsed = [parse_prekey(key, last_resort=False) for key in keys]
    if len({key.key_id for key in parsed}) != len(parsed):
        raise BadKey("two prekeys have the same keyId")
    return parsed, parse_prekey(body.get("lastResortKey"), last_resort=True)


def store_prekeys(deps: Deps, account: AccountRecord, keys: Sequence[PreKey],
                  last_resort: PreKey) -> None:
    """Replace the account's prekeys."""
    with deps.uow() as uow:
        uow.accounts.set_prekeys(account.id, keys, last_resort)
        uow.commit()


def take_prekey(deps: Deps, requester: AccountRecord, number: str) -> PreKey:
    """One prekey of ``number``'s account for ``requester``. Raises UnknownAccount (404:
    no account, or no keys stored) and TooManyForAccount (the requester's limit). A 404
    counts too: unlimited misses would tell registered numbers apart."""
    with deps.uow() as uow:
        ratelimit.enforce(uow, deps.now(), deps.settings.rate_limit_textsecure_prekeys,
                          "ts-prekeys", requester.number_digest, TooManyForAccount)
        account = uow.accounts.by_number(number_digest(deps, number))
        key = None if account is None else uow.accounts.take_prekey(account.id)
        uow.commit()
    if key is None:
        raise UnknownAccount()
    return key


@dataclass(frozen=True)
class Contact:
    token: str
    supports_sms: bool


def parse_tokens(values: object) -> list[str]:
    """The tokens of a lookup, each checked (ValueError for a bad one)."""
    if not isinstance(values, list) or len(values) > MAX_TOKENS:
        raise ValueError(f"contacts must be a list of at most {MAX_TOKENS} tokens")
    for value in values:
        if not isinstance(value, str) or not TOKEN.fullmatch(value):
            raise ValueError("a token is base64 of 10 bytes without padding")
    return list(dict.fromkeys(values))  # each looked up (and counted) once


def look_up(deps: Deps, account: AccountRecord, tokens: Sequence[str]) -> list[Contact]:
    """The registered contacts among ``tokens`` (already parsed), counted against the
    account's daily limit; raises TooManyForAccount (retry after the next UTC midnight),
    BadCredentials when the account was replaced or removed since it was authenticated."""
    now = deps.now()
    with deps.uow() as uow:
        total = uow.accounts.count_lookups(account.id, now.date().isoformat(), len(tokens))
        if total is None:
            raise BadCredentials()
        if total > deps.settings.textsecure_directory_daily_limit:
            raise TooManyForAccount("too many directory lookups today",
                                    retry_after=_until_tomorrow(now))
        digests = {token_digest(deps, token): token for token in tokens}
        found = uow.accounts.by_tokens(list(digests))
        uow.commit()
    return [Contact(digests[digest], sms) for digest, sms in found.items()]


def _until_tomorrow(now: datetime) -> int:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=now.tzinfo)
    return max(1, int((midnight - now).total_seconds() + 0.999))
