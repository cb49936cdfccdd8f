"""The TextSecure face's tables (gateway.storage.models.TextSecureAccount and
TextSecurePreKey): accounts found by keyed digests of their number or directory token,
their prekeys, and the daily count of directory lookups (a number's replaced account
keeps it). Core statements; every method runs in the caller's transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import case, delete, func, insert, select, update

from gateway.storage.models import TextSecureAccount, TextSecurePreKey
from gateway.storage.transaction import Repository

ACCOUNTS = TextSecureAccount.__table__
PREKEYS = TextSecurePreKey.__table__
# A prekey handed out to two concurrent callers: the loser tries the next one.
TAKE_RACES = 5


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A row of ``textsecure_accounts`` (columns in table order)."""

    id: int
    number_digest: str
    token_digest: str
    number_masked: str
    password_hash: str
    signaling_key_sealed: bytes
    supports_sms: bool
    gcm_id_sealed: bytes | None
    apn_id_sealed: bytes | None
    lookups_day: str | None
    lookups: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PreKey:
    key_id: int
    public_key: str
    identity_key: str


@dataclass(frozen=True, slots=True)
class AccountListing:
    """A row of ``msisdn-gateway accounts list``."""

    number_masked: str
    supports_sms: bool
    push: str  # "gcm", "apn", "gcm+apn" or ""
    prekeys: int
    created_at: datetime


class AccountRepository(Repository):
    def by_number(self, number_digest: str) -> AccountRecord | None:
        row = self._tx.connection().execute(
            select(ACCOUNTS).where(ACCOUNTS.c.number_digest == number_digest)).first()
        return None if row is None else AccountRecord(*row)

    def replace(self, values: dict) -> int:
        """Make ``values`` the account of its ``number_digest`` (a previous account of the
        number and its prekeys are removed, its count of directory lookups is kept);
        returns the new id."""
        connection = self._tx.before_write()
        # The daily directory limit is the number's, not the row's: re-registering (a code
        # SMS away) must not start the day's count afresh.
        previous = connection.execute(
            select(ACCOUNTS.c.lookups_day, ACCOUNTS.c.lookups)
            .where(ACCOUNTS.c.number_digest == values["number_digest"])).first()
        day, lookups = (None, 0) if previous is None else previous
        self.delete(values["number_digest"])
        return connection.execute(insert(ACCOUNTS).values(
            lookups_day=day, lookups=lookups, **values)).inserted_primary_key[0]

    def update(self, account_id: int, **values) -> None:
        self._tx.before_write().execute(
            update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(**values))

    def delete(self, number_digest: str) -> bool:
        """Remove the account of ``number_digest`` and its prekeys; False if none."""
        connection = self._tx.before_write()
        ids = select(ACCOUNTS.c.id).where(ACCOUNTS.c.number_digest == number_digest)
        connection.execute(delete(PREKEYS).where(PREKEYS.c.account_id.in_(ids)))
        return connection.execute(
            delete(ACCOUNTS).where(ACCOUNTS.c.number_digest == number_digest)).rowcount > 0

    def by_tokens(self, token_digests: Sequence[str]) -> dict[str, bool]:
        """token digest -> supports_sms, for the registered ones among ``token_digests``."""
        if not token_digests:
            return {}
        rows = self._tx.connection().execute(
            select(ACCOUNTS.c.token_digest, ACCOUNTS.c.supports_sms)
            .where(ACCOUNTS.c.token_digest.in_(list(token_digests))))
        return {digest: bool(sms) for digest, sms in rows}

    def count_lookups(self, account_id: int, day: str, count: int) -> int | None:
        """Add ``count`` directory lookups to the account's total of ``day`` (another day's
        total starts afresh); returns the new total, or None when the account is gone
        (replaced or removed since it was read: on PostgreSQL, by a concurrent request)."""
        return self._tx.before_write().execute(
            update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(
                lookups=case((ACCOUNTS.c.lookups_day == day, ACCOUNTS.c.lookups + count),
                             else_=count),
                lookups_day=day).returning(ACCOUNTS.c.lookups)).scalar()

    def listing(self) -> list[AccountListing]:
        prekeys = (select(func.count()).where(PREKEYS.c.account_id == ACCOUNTS.c.id,
                                              PREKEYS.c.last_resort.is_(False))
                   .scalar_subquery())
        rows = self._tx.connection().execute(
            select(ACCOUNTS.c.number_masked, ACCOUNTS.c.supports_sms,
                   ACCOUNTS.c.gcm_id_sealed.is_not(None), ACCOUNTS.c.apn_id_sealed.is_not(None),
                   prekeys, ACCOUNTS.c.created_at).order_by(ACCOUNTS.c.id))
        return [AccountListing(masked, bool(sms),
                               "+".join(name for name, on in (("gcm", gcm), ("apn", apn)) if on),
                               count, created)
                for masked, sms, gcm, apn, count, created in rows]

    # Prekeys.

    def set_prekeys(self, account_id: int, keys: Iterable[PreKey], last_resort: PreKey) -> None:
        """Replace the account's prekeys with ``keys`` and its last-resort key."""
        connection = self._tx.before_write()
        connection.execute(delete(PREKEYS).where(PREKEYS.c.account_id == account_id))
        rows = [{"account_id": account_id, "key_id": key.key_id, "public_key": key.public_key,
                 "identity_key": key.identity_key, "last_resort": False} for key in keys]
        rows.append({"account_id": account_id, "key_id": last_resort.key_id,
                     "public_key": last_resort.public_key,
                     "identity_key": last_resort.identity_key, "last_resort": True})
        connection.execute(insert(PREKEYS), rows)

    def take_prekey(self, account_id: int) -> PreKey | None:
        """The account's oldest unused prekey, removed; when none is left its last-resort
        key (kept); None when it stored no keys."""
        connection = self._tx.before_write()
        columns = (PREKEYS.c.id, PREKEYS.c.key_id, PREKEYS.c.public_key,
                   PREKEYS.c.identity_key)
        for _ in range(TAKE_RACES):
            row = connection.execute(
                select(*columns).where(PREKEYS.c.account_id == account_id,
                                       PREKEYS.c.last_resort.is_(False))
                .order_by(PREKEYS.c.id).limit(1)).first()
            if row is None:
                break
            if connection.execute(delete(PREKEYS).where(PREKEYS.c.id == row[0])).rowcount:
                return PreKey(*row[1:])
        row = connection.execute(select(*columns[1:]).where(
            PREKEYS.c.account_id == account_id, PREKEYS.c.last_resort.is_(True))).first()
        return None if row is None else PreKey(*row)
