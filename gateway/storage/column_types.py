"""Column types shared by the tables."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import BigInteger, DateTime, LargeBinary
from sqlalchemy.types import VARBINARY, TypeDecorator

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)
DIGEST_BYTES = 32
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _aware(value: datetime) -> datetime:
    """``value``, refused if naive (which would be ambiguous)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    Stored as naive UTC (SQLite has no time zones); always returned aware. Refuses naive
    input, which would be ambiguous.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return _aware(value).astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class UTCEpochMillis(TypeDecorator):
    """Timezone-aware UTC datetimes stored as whole milliseconds since the Unix epoch, an
    integer (on SQLite 6 bytes for today's dates, where a text datetime takes 26).

    Binding truncates to the millisecond (towards the past); results are aware UTC
    datetimes. Refuses naive input, which would be ambiguous. Comparisons in SQL
    (``expires_at <= now``) bind ``now`` through this type as well.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> int | None:
        if value is None:
            return None
        return (_aware(value) - EPOCH) // MILLISECOND

    def process_result_value(self, value: int | None, dialect) -> datetime | None:
        if value is None:
            return None
        return EPOCH + timedelta(milliseconds=value)


class HexDigest(TypeDecorator):
    """A 32-byte digest that Python handles as 64 lowercase hex characters (what
    ``ServerSecret.digest`` returns) and the database stores as its 32 raw bytes (BLOB on
    SQLite, bytea on PostgreSQL, VARBINARY(32) on MySQL/MariaDB, whose unique indexes
    need a bounded length). Binding anything but 64 lowercase hex characters raises
    ValueError, also in a WHERE clause: such a value cannot match a stored digest."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return VARBINARY(DIGEST_BYTES)
        return self.impl_instance

    def process_bind_param(self, value: str | None, dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, str) and _HEX_DIGEST.fullmatch(value):
            return bytes.fromhex(value)
        raise ValueError(f"a digest column takes 64 lowercase hex characters, not "
                         f"{_described(value)}")

    def process_result_value(self, value: bytes | None, dialect) -> str | None:
        if value is None:
            return None
        return value.hex()


def _described(value) -> str:
    """What a value refused by HexDigest is, without the value (it may be a secret)."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    if value.strip("0123456789abcdef"):
        return f"{len(value)} characters, some not lowercase hex"
    return f"{len(value)} hex characters"
