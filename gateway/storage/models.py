"""The tables. Typed columns only; secrets and phone numbers never stored in clear
where it can be avoided (see the column comments)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class VerificationSession(Base):
    """One msisdnSessionToken. Looked up by HMAC(secret, hawk id); the Hawk key and the
    MSISDN are sealed with a key derived from the hawk id, which the server never stores."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hawk_id_digest: Mapped[str] = mapped_column(String(64), unique=True)
    hawk_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    msisdn_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How the MSISDN is being verified ("sms/mt", "sms/momt") and with which code kind,
    # so that resend_code repeats it.
    method: Mapped[str | None] = mapped_column(String(16))
    short_code: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class VerificationCode(Base):
    """The current code of a session (at most one): a keyed hash, never the code."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # "short" or "long"
    method: Mapped[str] = mapped_column(String(16))  # "sms/mt" or "sms/momt"
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class HawkNonce(Base):
    """Nonces seen within the timestamp window, shared by every API worker."""

    __tablename__ = "hawk_nonces"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateCounter(Base):
    """A fixed-window counter: key names the limit, the subject (hashed) and the window."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


OUTBOX_STATUSES = ("queued", "sending", "sent", "delivered", "failed", "unknown", "expired")
OUTBOX_FINAL = ("sent", "delivered", "failed", "unknown", "expired")


class OutboundSms(Base):
    """The transactional outbox: one row per SMS to send, written in the same transaction
    as the verification that needs it. The modem worker claims due rows."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(32))  # E.164; the worker needs it
    sender: Mapped[str | None] = mapped_column(String(32))  # sender id or modem choice
    text: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(16))  # "sms/mt", "sms/momt", "test"
    # Country/network hints for choosing a modem (ISO region, MCC, MNC).
    region: Mapped[str | None] = mapped_column(String(2))
    mcc: Mapped[str | None] = mapped_column(String(3))
    mnc: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modem: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
