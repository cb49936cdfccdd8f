"""The tables. Typed columns only; secrets and phone numbers never stored in clear
where it can be avoided (see the column comments)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.storage.column_types import HexDigest, UTCDateTime, UTCEpochMillis

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
    MSISDN are sealed with a key derived from the hawk id, which the server never stores.

    A verified session stays for days, so its row is kept small (issue 9): the digest as
    32 raw bytes, the times as integer milliseconds, the Hawk key sealed as its 32 bytes
    (gateway.crypto.sealing.seal_hex_key)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # 64 hex characters in Python, 32 bytes in the database.
    hawk_id_digest: Mapped[str] = mapped_column(HexDigest, unique=True)
    hawk_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    msisdn_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How the MSISDN is being verified ("sms/mt", "sms/momt") and with which code kind,
    # so that resend_code repeats it.
    method: Mapped[str | None] = mapped_column(String(16))
    short_code: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCEpochMillis)
    created_at: Mapped[datetime] = mapped_column(UTCEpochMillis)
    expires_at: Mapped[datetime] = mapped_column(UTCEpochMillis, index=True)


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
    """The head of a sliding window (gateway.verification.ratelimit): ``key`` names the
    scope, its rules and the subject (hashed); ``count`` is the number of events counted
    since the row was made (their sequence number); ``expires_at`` is when the latest
    event leaves the longest window (the row's lock serializes the events of one key)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateEvent(Base):
    """A slot of a sliding window's ring (gateway.storage.rate_windows): ``expires_at`` is
    when the event stored there leaves its rule's window. A rule of N events owns N slots
    of its key. Deleted with their head (RateCounter of the same key) once it expired:
    no index of its own, and on SQLite a WITHOUT ROWID table (one B-tree per write)."""

    __tablename__ = "rate_events"
    __table_args__ = {"sqlite_with_rowid": False}

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # its RateCounter's key
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuardCount(Base):
    """Pumping detection (gateway.guard): code SMS queued and verifications completed
    for one destination prefix ("+33612": country code and leading national digits)
    in one time bucket. A prefix is not a number: nothing here identifies anyone."""

    __tablename__ = "guard_counts"
    __table_args__ = (UniqueConstraint("prefix", "bucket_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime)
    sms: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class GuardBlock(Base):
    """A destination prefix refused until ``blocked_until`` (gateway.guard), with the
    figures that tripped it; kept a day after it ends, for ``msisdn-gateway guard list``."""

    __tablename__ = "guard_blocks"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # "pumping"
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    sms: Mapped[int] = mapped_column(Integer)  # in the window, when blocked
    verified: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


OUTBOX_FINAL = ("sent", "delivered", "failed", "unknown", "expired")


class OutboundSms(Base):
    """The transactional outbox: one row per SMS to send, written in the same transaction
    as the verification that needs it. The modem worker claims due rows.

    The number and the text are never stored in clear: ``sealed`` holds them (see
    gateway.crypto.sealing) while the row waits to be sent, and is scrubbed (NULL) as soon
    as the row is final or its session unregistered."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The number masked as in the logs (+33*******78), never the number itself: what the
    # admin listings show.
    recipient: Mapped[str] = mapped_column(String(32))
    # The E.164 number and the text, sealed; NULL once final (OUTBOX_FINAL) or unregistered.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The session that asked for it (None: the admin's test SMS); its hawk id digest is
    # part of the sealing key, and unregister scrubs its rows.
    session_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # A keyed hash of the number's last digits, set when sent: delivery reports match it.
    recipient_digest: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(32))  # sender id or modem choice
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
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker that claimed the row for sending (its identity: several boxes may share
    # PostgreSQL), and until when its claim holds: the worker renews it while it lives; a
    # row still "sending" past it is marked "unknown" by any live worker
    # (gateway.pipeline.leases).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboundPart(Base):
    """One accepted SMS-SUBMIT of an outbox row (a part of a concatenated message), with
    the modem's TP-MR so that delivery reports can be matched, also after a restart."""

    __tablename__ = "outbox_parts"
    __table_args__ = (Index("ix_outbox_parts_match", "modem", "reference", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"),
                                           index=True)
    part_number: Mapped[int] = mapped_column(Integer)
    part_count: Mapped[int] = mapped_column(Integer)
    modem: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int | None] = mapped_column(Integer)
    # sent, delivered, temporary_failure (the SMSC still tries), failed
    status: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxMessage(Base):
    """Every SMS received by a modem, stored before it is deleted from the SIM.

    ``dedupe_key`` makes a second delivery of the same SMS (a sweep after a crash between
    commit and deletion) a no-op. ``outcome`` says what was done with it."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    modem: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    smsc_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))  # "momt-verify", "other" or "undecodable"
    outcome: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # kind "undecodable" only: the raw PDU (sender's number and text inside), or, for an SMS
    # kept after its handling failed, its sender, text and time stamp as decoded (JSON),
    # sealed under the server secret (gateway.pipeline.inbound); the sender is kept
    # masked, the text empty.
    pdu_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class ModemStatus(Base):
    """What each worker knows of each of its modems, for the API (discover, backoff,
    heartbeat). Modem names are a box's own: two boxes may both have a ``modem0``."""

    __tablename__ = "modem_status"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    healthy: Mapped[bool] = mapped_column(Boolean)
    model: Mapped[str | None] = mapped_column(String(128))
    imsi_masked: Mapped[str | None] = mapped_column(String(32))
    number: Mapped[str | None] = mapped_column(String(32))
    mcc: Mapped[str | None] = mapped_column(String(3))
    mnc: Mapped[str | None] = mapped_column(String(3))
    region: Mapped[str | None] = mapped_column(String(2))
    signal_dbm: Mapped[int | None] = mapped_column(Integer)
    registration: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The modem's last power notice (UNDER-VOLTAGE, power down) and when, e.g. a weak supply.
    power_warning: Mapped[str | None] = mapped_column(Text)
    sent_today: Mapped[int] = mapped_column(Integer, default=0)
    # Sends refused or with an unknown outcome since the worker started.
    failed: Mapped[int] = mapped_column(Integer, default=0)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    # Measured sending speed: seconds per SMS part (moving average), None until measured.
    seconds_per_part: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkerStatus(Base):
    """A worker (one per box) and its heartbeat: ``last_seen`` is renewed every third of
    ``worker_lease`` while it runs (gateway.pipeline.leases). ``instance`` is drawn at
    each start: a row renewed by another instance tells of two workers sharing one
    identity."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # /proc/sys/kernel/random/boot_id: the same host and boot means the same machine.
    boot_id: Mapped[str | None] = mapped_column(String(64))
    instance: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the worker stopped cleanly (None while it runs, or after a crash).
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TextSecureAccount(Base):
    """A TextSecure account (gateway.api.textsecure), made when a number confirmed its
    code. Neither the number nor its directory token is stored: the account is found by
    keyed digests of both (under the server secret); the number is kept masked for the
    admin listing. The password is an scrypt hash; the signaling key and the push ids are
    sealed under the server secret and the number (gateway.verification.accounts)."""

    __tablename__ = "textsecure_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number_digest: Mapped[str] = mapped_column(String(64), unique=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    number_masked: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    signaling_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    supports_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    gcm_id_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    apn_id_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Directory tokens looked up on lookups_day (UTC), for the daily limit.
    lookups_day: Mapped[str | None] = mapped_column(String(10))
    lookups: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TextSecurePreKey(Base):
    """A prekey of a TextSecure account: public keys (base64 as sent), handed out once
    each, the last-resort key (key_id 0xFFFFFF) every time."""

    __tablename__ = "textsecure_prekeys"
    __table_args__ = (UniqueConstraint("account_id", "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("textsecure_accounts.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[str] = mapped_column(String(64))
    identity_key: Mapped[str] = mapped_column(String(64))
    last_resort: Mapped[bool] = mapped_column(Boolean, default=False)


class SimPhoneMessage(Base):
    """--simulate only: an SMS received by a virtual phone (made whole from its
    ``sim_pending_parts`` by the worker, or stored at once when it is one part and the
    network has no delivery delay)."""

    __tablename__ = "sim_phone_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    sender: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SimPendingPart(Base):
    """--simulate only: an SMS part the virtual network accepted for a virtual phone and
    has not yet delivered (the simulated SMSC's store). Written before the sending modem
    answers ``+CMGS``; deleted in the transaction that adds the whole message to
    ``sim_phone_messages``, so a message reaches its phone once, whenever the worker dies."""

    __tablename__ = "sim_pending_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    # TP-UDH concatenation: reference (None for a single part), part number, part count.
    concat_reference: Mapped[int | None] = mapped_column(Integer)
    part_number: Mapped[int] = mapped_column(Integer)
    part_count: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # submitted_at + delivery delay


class SimMoRequest(Base):
    """--simulate only: an SMS-MO that a virtual phone should send (from the API).
    ``created_at`` is its SMSC time stamp, also when the worker sends it again (it died
    before recording ``sent_at``): the gateway's inbox takes the copy as a redelivery."""

    __tablename__ = "sim_mo_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class SimModemCommand(Base):
    """--simulate only: a fault to switch on ("inject") or off ("clear") on a simulated
    modem, asked through the API and applied by the worker."""

    __tablename__ = "sim_modem_commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))
    fault: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(Text)


# -- API clients, one-time proofs and OIDC grants (issue 13): no phone number in clear

class ApiClient(Base):
    """An application allowed to use the OAuth/OIDC faces. The secret is kept as its
    SHA-256 (256 random bits: no slow hash needed), compared in constant time."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_digest: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[str] = mapped_column(Text)  # a JSON list of exact URIs
    webhook_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NumberProof(Base):
    """A pending one-time proof: a token carried by an SMS the device sends (``kind``
    "sms-mo") or a reply expected from a number (``kind`` "ciba"). ``token_digest`` is a
    keyed hash of the token; ``hint_digest`` a keyed hash of the number the client
    named (login_hint), if any; once proven, ``msisdn_sealed`` holds the sender stamped
    by the network, sealed. ``request`` is the OAuth request that waits on it (JSON:
    redirect_uri, scope, state, nonce, code_challenge), never a secret."""

    __tablename__ = "number_proofs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    client_id: Mapped[str] = mapped_column(
        ForeignKey("api_clients.client_id", ondelete="CASCADE"), index=True)
    address_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    hint_digest: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[str] = mapped_column(Text)
    msisdn_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    outcome: Mapped[str | None] = mapped_column(String(64))
    proven_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OidcGrant(Base):
    """An authorization code or an access token issued on a proof: a keyed hash of it,
    single use (``used_at``), short lived."""

    __tablename__ = "oidc_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "code", "access" or "ciba" (auth_req_id)
    proof_id: Mapped[int] = mapped_column(
        ForeignKey("number_proofs.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # CIBA: last poll
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# -- Silent authentication for apps (issue 14): no phone number in clear

class SnaRequest(Base):
    """One ``/auth/v1/initiate/sna`` request: the claimed number as a keyed digest and
    sealed (for the verify answer), the proof it waits on (a NumberProof), and once
    completed its status and a single-use code (a keyed hash of it)."""

    __tablename__ = "sna_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    link_digest: Mapped[str] = mapped_column(String(64), unique=True)  # the link page's token
    client_id: Mapped[str] = mapped_column(
        ForeignKey("api_clients.client_id", ondelete="CASCADE"), index=True)
    proof_id: Mapped[int | None] = mapped_column(
        ForeignKey("number_proofs.id", ondelete="SET NULL"), index=True)
    proof: Mapped[str] = mapped_column(String(16))  # "sms_mo" or "sms_link"
    msisdn_digest: Mapped[str] = mapped_column(String(64))
    msisdn_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    redirect_uri: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending, verified, failed
    error_code: Mapped[int | None] = mapped_column(Integer)
    code_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebhookEvent(Base):
    """A webhook to deliver at least once (issue 14): the event's JSON body sealed (it
    names the number), the idempotency key ``event_id``, attempts with backoff, and a
    claim lease so that a worker killed mid-delivery leaves it to be sent again."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("api_clients.client_id", ondelete="CASCADE"), index=True)
    body_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
