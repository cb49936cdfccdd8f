"""One-time proofs by SMS-MO (gateway.verification.proofs), handed over by the real inbound
handler (gateway.pipeline.inbound) on a real SQLite file; only time is fake."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from gateway.errors import TooManyRequests
from gateway.pipeline.inbound import store_inbound
from gateway.storage.models import InboxMessage
from gateway.storage.models import NumberProof
from gateway.verification import clients, proofs
from modem.inbox import InboundSms

PHONE, OTHER = "+33612345678", "+33698765432"
STAMP = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def sms(text, sender=PHONE, stamp=STAMP):
    return InboundSms(modem="modem0", recipient="+33700000001", sender=sender, text=text,
                      smsc_timestamp=stamp, smsc=None, partial=False, received_at=stamp,
                      _claim=None)


@pytest.fixture
def deps(gateway):
    return gateway.deps


@pytest.fixture
def client_id(deps):
    with deps.uow() as uow:
        client_id, _secret = clients.add_client(uow, deps, "App", ["https://a.example/cb"])
        uow.commit()
    return client_id


def start(deps, client_id, hint=None, address=None):
    with deps.uow() as uow:
        token, state = proofs.start_proof(uow, deps, client_id, {"scope": "openid"},
                                          hint=hint, address=address)
        uow.commit()
    assert state.status == proofs.PENDING
    return token


def state(deps, token):
    with deps.uow() as uow:
        return proofs.proof_state(uow, deps, token)


def inbox(deps):
    with deps.uow() as uow:
        return list(uow.db.scalars(select(InboxMessage).order_by(InboxMessage.id)))


def test_an_sms_carrying_the_token_proves_the_sender_stamped_by_the_network(deps, client_id):
    token = start(deps, client_id)
    row = store_inbound(deps, sms(f"Verify my number {token.lower()}"))
    assert (row.kind, row.outcome, row.sender) == ("number-proof", "proven", "+33*******78")
    assert token not in row.text and token.lower() not in row.text
    proven = state(deps, token)
    assert (proven.status, proven.msisdn) == (proofs.PROVEN, PHONE)
    with deps.uow() as uow:
        assert proofs.consume_proof(uow, deps, proven.id)
        assert not proofs.consume_proof(uow, deps, proven.id)  # single use
        uow.commit()
    assert state(deps, token).status == proofs.USED


def test_the_proof_keeps_no_number_or_token_in_clear(deps, client_id, gateway):
    token = start(deps, client_id, hint=PHONE)
    store_inbound(deps, sms(f"NV {token}"))
    with deps.uow() as uow:
        row = uow.db.scalars(select(NumberProof)).one()
    assert PHONE.encode() not in row.msisdn_sealed and token not in row.token_digest
    assert PHONE not in (row.hint_digest or "")


def test_with_a_login_hint_an_sms_from_another_number_proves_nothing_and_says_so(deps, client_id):
    token = start(deps, client_id, hint=PHONE)
    row = store_inbound(deps, sms(token, sender=OTHER))
    assert row.outcome == "refused: sender is not the login_hint number"
    refused = state(deps, token)
    assert refused.status == proofs.REFUSED and refused.msisdn is None
    assert "login_hint" in refused.reason


def test_a_token_that_matches_nothing_is_stored_as_other(deps, client_id):
    row = store_inbound(deps, sms("NV-AAAAAAAAAAAAAAAA please"))
    assert (row.kind, row.outcome) == ("other", proofs.NO_MATCH)
    assert "AAAAAAAAAAAAAAAA" not in row.text


def test_a_proof_expires_after_a_few_minutes(deps, client_id, gateway):
    token = start(deps, client_id)
    gateway.clock.advance(proofs.PROOF_TTL + 1)
    row = store_inbound(deps, sms(token))
    assert (row.kind, row.outcome) == ("other", proofs.NO_MATCH)
    assert state(deps, token).status == proofs.EXPIRED


def test_a_second_sms_with_the_same_token_changes_nothing(deps, client_id):
    token = start(deps, client_id)
    store_inbound(deps, sms(token))
    later = datetime(2026, 11, 30, 12, 1, tzinfo=timezone.utc)
    row = store_inbound(deps, sms(token, sender=OTHER, stamp=later))
    assert row.kind == "other"
    assert state(deps, token).msisdn == PHONE


def test_pending_proofs_are_limited_per_client_address(deps, client_id):
    for _ in range(proofs.MAX_PENDING_PER_ADDRESS):
        start(deps, client_id, address="addr-digest")
    with deps.uow() as uow, pytest.raises(TooManyRequests):
        proofs.start_proof(uow, deps, client_id, {}, address="addr-digest")
    start(deps, client_id, address="another-address")


def test_an_ordinary_sms_is_untouched(deps):
    row = store_inbound(deps, sms("hello there"))
    assert (row.kind, row.text, row.sender) == ("other", "hello there", PHONE)
