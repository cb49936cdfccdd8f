"""Plain, immutable rows of the two tables on the API's hot path (sessions and codes).

Their repositories read and write them with SQLAlchemy Core: no ORM object is built,
tracked or flushed per request. A change is an explicit repository call
(``uow.sessions.update(...)``), never an attribute set on a loaded row. Field names are the
columns of gateway.storage.models (a test holds them together); the repositories select
the columns in field order, so a result row becomes a record with ``Record(*row)``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A row of ``sessions`` (see models.VerificationSession). ``id`` is None until stored."""

    hawk_id_digest: str
    hawk_key_sealed: bytes
    created_at: datetime
    expires_at: datetime
    id: int | None = None
    msisdn_sealed: bytes | None = None
    method: str | None = None
    short_code: bool = False
    verified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """A row of ``verification_codes`` (see models.VerificationCode)."""

    session_id: int
    code_digest: str
    kind: str
    method: str
    created_at: datetime
    expires_at: datetime
    id: int | None = None
    failed_attempts: int = 0


@functools.cache
def field_names(record_type: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record_type))


def values_of(record) -> dict:
    """The record's columns as insert parameters (``id`` left out while it is None)."""
    values = {name: getattr(record, name) for name in field_names(type(record))}
    if values["id"] is None:
        del values["id"]
    return values
