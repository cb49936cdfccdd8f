"""An insert that may find its row there already (gateway.storage.transaction's
_add_unless_there: the inbox's redeliveries, a new API client's id) tells "there
already" from any other refusal of the database, on a real SQLite file."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway.verification import clients


def refuse_clients_named(gateway, name):
    with gateway.engine.begin() as connection:
        connection.execute(text(
            "CREATE TRIGGER refuse BEFORE INSERT ON api_clients WHEN NEW.name = :name "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END".replace(":name", f"'{name}'")))


def test_a_client_the_database_refuses_is_an_error_not_a_new_id_tried_for_ever(gateway):
    refuse_clients_named(gateway, "Refused")
    with gateway.deps.uow() as uow:
        with pytest.raises(IntegrityError):
            clients.add_client(uow, gateway.deps, "Refused", ["https://a.example/"])
    with gateway.deps.uow() as uow:  # the table and the next client are fine
        client_id, _ = clients.add_client(uow, gateway.deps, "Shop", ["https://a.example/"])
        uow.commit()
    with gateway.deps.uow() as uow:
        assert [c.client_id for c in clients.list_clients(uow)] == [client_id]
