"""The ``number_proofs`` and ``oidc_grants`` tables: one-time proofs by SMS and what is
issued on them (issue 13). Every method runs in the caller's transaction; rows are
changed through these methods only."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from gateway.storage.models import NumberProof, OidcGrant
from gateway.storage.transaction import Repository


class ProofsRepository(Repository):
    """Pending and proven one-time proofs, and the grants issued on them."""

    def add(self, row: NumberProof) -> NumberProof:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()
        return row

    def by_token(self, token_digest: str) -> NumberProof | None:
        return self._db.scalars(
            select(NumberProof).where(NumberProof.token_digest == token_digest)).first()

    def get(self, proof_id: int) -> NumberProof | None:
        return self._db.get(NumberProof, proof_id)

    def pending_ciba(self, now: datetime) -> list[NumberProof]:
        """Unproven, unexpired CIBA proofs (matched against replies by their hint)."""
        return list(self._db.scalars(select(NumberProof).where(
            NumberProof.kind == "ciba", NumberProof.proven_at.is_(None),
            NumberProof.expires_at > now)))

    def count_pending(self, now: datetime, *, client_id: str | None = None,
                      address_digest: str | None = None, kind: str | None = None,
                      other_than: str | None = None) -> int:
        """Unproven, unexpired proofs of ``client_id`` and/or ``address_digest``, only of
        ``kind`` or only of the kinds other than ``other_than`` when given."""
        query = select(func.count()).select_from(NumberProof).where(
            NumberProof.proven_at.is_(None), NumberProof.expires_at > now)
        if client_id is not None:
            query = query.where(NumberProof.client_id == client_id)
        if address_digest is not None:
            query = query.where(NumberProof.address_digest == address_digest)
        if kind is not None:
            query = query.where(NumberProof.kind == kind)
        if other_than is not None:
            query = query.where(NumberProof.kind != other_than)
        return self._db.scalar(query) or 0

    def update(self, proof_id: int, **values) -> None:
        self._tx.before_write()
        self._db.execute(update(NumberProof).where(NumberProof.id == proof_id).values(**values))
        self._db.expire_all()

    def consume(self, proof_id: int, now: datetime) -> bool:
        """Mark the proven, unconsumed proof ``proof_id`` consumed; False when it is not
        proven or was consumed before. One conditional UPDATE: of two transactions racing
        for the same proof, the second waits for the first's row lock and then finds
        ``consumed_at`` set (PostgreSQL re-checks the WHERE on the row it waited for)."""
        self._tx.before_write()
        result = self._db.execute(update(NumberProof).where(
            NumberProof.id == proof_id, NumberProof.consumed_at.is_(None),
            NumberProof.proven_at.is_not(None)).values(consumed_at=now))
        self._db.expire_all()
        return result.rowcount == 1

    def add_grant(self, row: OidcGrant) -> None:
        self._tx.before_write()
        self._db.add(row)
        self._db.flush()

    def find_grant(self, digest: str, kind: str, now: datetime) -> OidcGrant | None:
        """The unexpired, unused grant ``digest``, without using it."""
        return self._db.scalars(select(OidcGrant).where(
            OidcGrant.digest == digest, OidcGrant.kind == kind, OidcGrant.used_at.is_(None),
            OidcGrant.expires_at > now)).first()

    def polled(self, grant_id: int, now: datetime) -> None:
        self._tx.before_write()
        self._db.execute(update(OidcGrant).where(OidcGrant.id == grant_id).values(polled_at=now))

    def use_grant(self, digest: str, kind: str, now: datetime) -> OidcGrant | None:
        """Mark the unexpired, unused grant ``digest`` used and return it; None if there is
        none (unknown, expired or used before: single use)."""
        self._tx.before_write()
        result = self._db.execute(update(OidcGrant).where(
            OidcGrant.digest == digest, OidcGrant.kind == kind, OidcGrant.used_at.is_(None),
            OidcGrant.expires_at > now).values(used_at=now))
        if result.rowcount != 1:
            return None
        self._db.expire_all()
        return self._db.scalars(select(OidcGrant).where(OidcGrant.digest == digest)).first()

    def delete_expired(self, now: datetime, keep_seconds: int = 3600) -> dict:
        """Proofs and grants past their expiry (kept ``keep_seconds`` more for a status)."""
        self._tx.before_write()
        cutoff = now - timedelta(seconds=keep_seconds)
        grants = self._db.execute(delete(OidcGrant).where(OidcGrant.expires_at < cutoff))
        proofs = self._db.execute(delete(NumberProof).where(NumberProof.expires_at < cutoff))
        return {"oidc_grants": grants.rowcount, "number_proofs": proofs.rowcount}
