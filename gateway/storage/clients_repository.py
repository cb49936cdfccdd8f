"""The ``api_clients`` table: the applications of the OAuth/OIDC faces (issues 13, 14,
16). Every method runs in the caller's transaction."""
from __future__ import annotations

from sqlalchemy import delete, select

from gateway.storage.models import ApiClient
from gateway.storage.transaction import Repository


class ClientsRepository(Repository):
    """API clients by ``client_id``."""

    def add(self, row: ApiClient) -> bool:
        """Insert ``row``; False if its client_id exists already (IntegrityError if the
        database refuses it for another reason)."""
        return self._add_unless_there(row, ApiClient.client_id)

    def get(self, client_id: str) -> ApiClient | None:
        return self._db.scalars(
            select(ApiClient).where(ApiClient.client_id == client_id)).first()

    def all(self) -> list[ApiClient]:
        return list(self._db.scalars(select(ApiClient).order_by(ApiClient.id)))

    def remove(self, client_id: str) -> bool:
        """Delete the client (its pending proofs and grants with it); False if unknown."""
        self._tx.before_write()
        result = self._db.execute(delete(ApiClient).where(ApiClient.client_id == client_id))
        return result.rowcount > 0
