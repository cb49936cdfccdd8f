"""Inbound SMS as the worker handles them (gateway/pipeline/inbound.py): every SMS is kept in
the inbox, an SMS-MO verification request is acted on in the same transaction, the hawk id
it carries is never stored, and a second delivery of the same SMS changes nothing."""
from __future__ import annotations

from datetime import datetime, timezone

from gateway.pipeline.inbound import REDACTED, store_inbound
from gateway.verification import verify
from modem.inbox import InboundSms

from .conftest import NUMBER, new_session, queued

STAMP = datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc)


def sms(text: str, sender: str = NUMBER) -> InboundSms:
    """An SMS as the modem layer hands it over (its SIM claim is the worker's concern)."""
    return InboundSms(modem="modem0", recipient="+33700000001", sender=sender, text=text,
                      smsc_timestamp=STAMP, smsc=None, partial=False, received_at=STAMP,
                      _claim=None)


def inbox(deps):
    with deps.uow() as uow:
        return uow.inbox.latest()[::-1]


def test_an_sms_mo_request_is_kept_without_its_hawk_id_and_answered_with_a_code(deps):
    session = new_session(deps)

    row = store_inbound(deps, sms(f"/v1/msisdn/sms/momt/verify {session}"))

    assert (row.kind, row.outcome, row.text) == ("momt-verify", "code queued", REDACTED)
    assert session not in "".join(r.text for r in inbox(deps))
    [code] = queued(deps)
    assert code.recipient == NUMBER
    assert verify.verify_code(deps, session, code.text) == NUMBER


def test_a_second_delivery_of_the_same_sms_is_not_acted_on_again(deps):
    session = new_session(deps)
    request = sms(f"/v1/msisdn/sms/momt/verify {session}")
    store_inbound(deps, request)

    assert store_inbound(deps, request) is None

    assert len(inbox(deps)) == 1 and len(queued(deps)) == 1


def test_a_refused_request_is_still_kept_with_the_reason(deps):
    row = store_inbound(deps, sms("/v1/msisdn/sms/momt/verify " + "0" * 64))

    assert row.kind == "momt-verify" and row.outcome.startswith("refused:")
    assert "errno 110" in row.outcome
    assert [r.outcome for r in inbox(deps)] == [row.outcome] and queued(deps) == []


def test_any_other_sms_is_kept_as_it_came(deps):
    row = store_inbound(deps, sms("Hello, who is this?", sender="+33698765432"))

    assert (row.kind, row.outcome, row.text, row.sender) == (
        "other", "stored", "Hello, who is this?", "+33698765432")
    assert queued(deps) == []
