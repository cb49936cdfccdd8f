"""Read-only figures for the admin page (gateway.api.admin): the outbox by status, the
SMS that ended in the last hours, and the verifications started and completed per
method and country. Every method runs in the caller's transaction and only reads."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, distinct, func, select

from gateway.storage.models import OutboundSms, VerificationSession
from gateway.storage.transaction import Repository

CODE_PURPOSES = ("sms/mt", "sms/momt")
ENDED = ("sent", "delivered", "failed", "unknown", "expired")


class AdminFiguresRepository(Repository):
    """What the admin page's overview counts."""

    def outbox_by_status(self) -> dict[str, int]:
        """Every outbox row, counted per status."""
        return dict(self._db.execute(select(OutboundSms.status, func.count())
                                     .group_by(OutboundSms.status)).all())

    def ended_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(status, updated_at) of each row that reached a final status or ``sent`` at or
        after ``since`` (one row each: the caller buckets them)."""
        return [(status, at) for status, at in self._db.execute(
            select(OutboundSms.status, OutboundSms.updated_at)
            .where(OutboundSms.updated_at >= since, OutboundSms.status.in_(ENDED))).all()]

    def verifications_since(self, since: datetime) -> list[tuple[str, str | None, int, int]]:
        """(method, country, started, completed) for the code SMS queued since ``since``:
        a verification is started when its session got a code SMS, completed when that
        session is verified (an unregistered session no longer counts)."""
        verified = case((VerificationSession.verified_at.is_not(None),
                         OutboundSms.session_id))
        return [(method, region, started, completed) for method, region, started, completed
                in self._db.execute(
                    select(OutboundSms.purpose, OutboundSms.region,
                           func.count(distinct(OutboundSms.session_id)),
                           func.count(distinct(verified)))
                    .outerjoin(VerificationSession,
                               VerificationSession.id == OutboundSms.session_id)
                    .where(OutboundSms.created_at >= since,
                           OutboundSms.purpose.in_(CODE_PURPOSES),
                           OutboundSms.session_id.is_not(None))
                    .group_by(OutboundSms.purpose, OutboundSms.region)
                    .order_by(OutboundSms.purpose, OutboundSms.region)).all()]
