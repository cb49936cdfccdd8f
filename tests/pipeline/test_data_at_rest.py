"""Data at rest, as the README states it: the outbox seals number and text while an SMS
waits and scrubs them once it is final or its session unregistered; the inbox keeps no
hawk id and no SMS-MO sender, and other SMS only for ``inbox_retention``. Checked through
the real pipeline (HTTP API, worker, AT driver, simulated modem) on a real SQLite file,
down to the bytes of the database, its -wal and its -shm. Only time and the radio are
fake. The simulator's own mailbox tables (sim_*) are not used here: they hold what the
virtual phones received, in clear, by design (README)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from requests_hawk import HawkAuth
from sqlalchemy import delete, select

import modem.sim
from gateway.process.worker import cleanup
from gateway.storage.models import InboxMessage, OutboundSms, VerificationSession
from modem.numbers import mask_number
from pipeline_harness import pipeline_on, rows

MODEM_NUMBER = "+33700000001"  # the simulated modem's own number: the gateway's, not a user's


@pytest.fixture
def pipeline(start_gateway):
    """pipeline_harness's, with the phones' mail (sim_*) kept out of the database."""
    starts = pipeline_on(start_gateway)
    start = next(starts)

    def start_without_mail(**overrides):
        gw, worker = start(**overrides)
        worker.simulation.network.on_submit = None
        return gw, worker

    yield start_without_mail
    next(starts, None)


def mt_verify(gw, token, number, **extra):
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208", **extra},
                       token)
    assert response.status_code == 204, response.text


def verify_code(gw, token, code, number):
    response = gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token)
    assert response.json() == {"msisdn": number}, response.text


def unregister(gw, token):
    assert gw.post("/v1/msisdn/unregister", {}, token).status_code == 204


def received(worker, number) -> list[str]:
    """What the virtual phone got, read from the virtual network in memory (not from the
    simulator's mailbox tables in the database)."""
    network = worker.simulation.network
    network.tick()
    return list(network.phone(number).texts)


def send_and_deliver(worker, count: int) -> None:
    """Dispatch what is due and wait until ``count`` reports in all were applied."""
    worker.send_due()
    worker.simulation.network.tick()
    worker.wait(lambda: len(worker.reports) >= count)


def send_mo(worker, sender, text) -> None:
    stored = len(worker.stored)
    worker.simulation.network.phone(sender).send(MODEM_NUMBER, text)
    worker.simulation.network.tick()
    worker.wait(lambda: len(worker.stored) > stored)


def hawk_credentials(token: str) -> dict[str, str]:
    credentials = HawkAuth(hawk_session=token).credentials
    return {"id": credentials["id"].decode(), "key": credentials["key"].decode()}


def number_forms(number: str) -> list[str]:
    """+33612345601, 33612345601, 0612345601 and 612345601."""
    national = number[3:]
    return [number, number[1:], "0" + national, national]


def database_bytes(gw) -> dict[str, bytes]:
    """The bytes of the SQLite file, its -wal and its -shm, as a copy of them would hold."""
    path = Path(gw.engine.url.database)
    files = {suffix: Path(str(path) + suffix) for suffix in ("", "-wal", "-shm")}
    assert files[""].exists() and files["-wal"].exists(), "WAL mode: both files in use"
    return {suffix: file.read_bytes() for suffix, file in files.items() if file.exists()}


def places(blobs: dict[str, bytes], needle: str) -> list[str]:
    """The files whose bytes hold ``needle`` (hex in either case). A short code (6 digits)
    counts only as a run of its own, not inside longer digit runs such as timestamps; its
    whole SMS text is searched as well."""
    if re.fullmatch(r"\d{6}", needle):
        pattern = re.compile(rb"(?<![0-9])" + needle.encode() + rb"(?![0-9])")
    else:
        pattern = re.compile(re.escape(needle.encode()), re.IGNORECASE)
    return [suffix or "db" for suffix, data in blobs.items() if pattern.search(data)]


def test_no_number_code_or_hawk_id_of_a_whole_day_of_traffic_is_in_the_database_files(
        pipeline):
    gw, worker = pipeline()
    a, b, c, d, e, f, g = (f"+336123456{i:02d}" for i in range(1, 8))
    tokens, codes = {}, []

    # a: a long code, delivered and verified
    tokens[a] = gw.register()
    mt_verify(gw, tokens[a], a)
    send_and_deliver(worker, 1)
    [code] = received(worker, a)
    verify_code(gw, tokens[a], code, a)
    codes.append(code)
    # b: a short code, resent, the second one verified
    tokens[b] = gw.register()
    mt_verify(gw, tokens[b], b, shortVerificationCode=True)
    send_and_deliver(worker, 2)
    assert gw.post("/v1/msisdn/sms/resend_code", {}, tokens[b]).status_code == 204
    send_and_deliver(worker, 3)
    texts = received(worker, b)
    short = [re.search(r"\b\d{6}\b", text).group() for text in texts]
    verify_code(gw, tokens[b], short[-1], b)
    codes += texts + short
    # c: a code sent, then the session unregistered
    tokens[c] = gw.register()
    mt_verify(gw, tokens[c], c)
    send_and_deliver(worker, 4)
    codes += received(worker, c)
    unregister(gw, tokens[c])
    # d: a code still queued when the session is unregistered: never sent
    tokens[d] = gw.register()
    mt_verify(gw, tokens[d], d)
    codes.append(gw.last_sms_to(d))
    unregister(gw, tokens[d])
    # e: the SMS-MO flow: the phone texts the hawk id, the code comes back
    tokens[e] = gw.register()
    send_mo(worker, e, f"/v1/msisdn/sms/momt/verify {hawk_credentials(tokens[e])['id']}")
    send_and_deliver(worker, 5)
    [code] = received(worker, e)
    verify_code(gw, tokens[e], code, e)
    codes.append(code)
    # f: a code still waiting for a modem (sealed, in the outbox)
    tokens[f] = gw.register()
    mt_verify(gw, tokens[f], f)
    codes.append(gw.last_sms_to(f))
    # g: someone texts the modem something else: kept as received, for the retention
    send_mo(worker, g, "STOP")

    assert received(worker, d) == [] and received(worker, f) == []
    statuses = {row.recipient: (row.status, row.sealed is None) for row in rows(gw, OutboundSms)}
    assert statuses == {
        mask_number(a): ("delivered", True), mask_number(b): ("delivered", True),
        mask_number(c): ("delivered", True), mask_number(d): ("expired", True),
        mask_number(e): ("delivered", True), mask_number(f): ("queued", False)}
    inbox = {row.sender: (row.kind, row.text) for row in rows(gw, InboxMessage)}
    assert inbox == {mask_number(e): ("momt-verify", "/v1/msisdn/sms/momt/verify "
                                                     "<hawk id not stored>"),
                     g: ("other", "STOP")}

    blobs = database_bytes(gw)
    secrets = {f"{number} as {form}": form for number in (a, b, c, d, e, f)
               for form in number_forms(number)}
    secrets.update({f"code {code!r}": code for code in codes})
    for number, token in tokens.items():
        credentials = hawk_credentials(token)
        secrets.update({f"token of {number}": token,
                        f"hawk id of {number}": credentials["id"],
                        f"hawk key of {number}": credentials["key"]})
    found = {what: where for what, secret in secrets.items()
             if (where := places(blobs, secret))}
    assert found == {}
    # What the README says is kept: masked numbers, and an SMS that is not an SMS-MO
    # request as received (until inbox_retention), so g's number is there.
    assert places(blobs, mask_number(a)) and places(blobs, g)

    gw.clock.advance(gw.settings.inbox_retention)
    assert cleanup(gw.deps)["inbox"] == 2
    assert rows(gw, InboxMessage) == []


def test_a_waiting_sms_is_sealed_and_a_sent_one_keeps_only_its_masked_number(pipeline):
    gw, worker = pipeline()
    number = "+33612345678"
    token = gw.register()
    mt_verify(gw, token, number)
    [row] = rows(gw, OutboundSms)
    assert (row.recipient, row.status, row.recipient_digest) == ("+33*******78", "queued", None)
    code = gw.last_sms_to(number)  # opened with the server secret and the session
    assert number.encode() not in row.sealed and code.encode() not in row.sealed
    send_and_deliver(worker, 1)
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed) == ("delivered", None)
    assert row.recipient_digest and number[-8:] not in row.recipient_digest
    assert received(worker, number) == [code]


def test_unregister_scrubs_the_sessions_sms_and_one_still_waiting_is_never_sent(pipeline):
    gw, worker = pipeline()
    sent_to, waiting_to, kept_to = "+33612345601", "+33612345602", "+33612345603"
    sent, waiting, kept = gw.register(), gw.register(), gw.register()
    mt_verify(gw, sent, sent_to)
    send_and_deliver(worker, 1)
    mt_verify(gw, waiting, waiting_to)
    mt_verify(gw, kept, kept_to)
    unregister(gw, sent)
    unregister(gw, waiting)
    by_number = {row.recipient: row for row in rows(gw, OutboundSms)}
    assert by_number[mask_number(waiting_to)].status == "expired"
    assert "unregistered" in by_number[mask_number(waiting_to)].last_error
    assert all(by_number[mask_number(n)].sealed is None and
               by_number[mask_number(n)].session_id is None for n in (sent_to, waiting_to))
    assert by_number[mask_number(kept_to)].sealed is not None  # another session's: untouched

    assert worker.send_due() == 1  # only the other session's SMS
    assert received(worker, waiting_to) == [] and len(received(worker, kept_to)) == 1


def test_an_sms_whose_session_is_gone_fails_at_the_claim_and_is_never_sent(pipeline):
    """A session removed without unregister (the cleanup of an expired session): its
    hawk id digest was part of the sealing key, so its SMS cannot be opened any more."""
    gw, worker = pipeline()
    number = "+33612345678"
    mt_verify(gw, gw.register(), number)
    with gw.deps.uow() as uow:
        [row] = uow.outbox.latest(1)
        # As delete_expired removes an expired session: without forget_session.
        uow.db.execute(delete(VerificationSession).where(VerificationSession.id == row.session_id))
        uow.commit()
    assert worker.send_due() == 0
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed) == ("failed", None) and "session is gone" in row.last_error
    assert received(worker, number) == []


def test_a_retried_sms_stays_sealed_until_it_gives_up_then_is_scrubbed(pipeline):
    gw, worker = pipeline(max_send_attempts=2, retry_backoff=10)
    worker.simulation.network.modem("sim0").inject("cms_error", 38)
    mt_verify(gw, gw.register(), "+33612345678")
    assert worker.send_due() == 1
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed is not None) == ("queued", True)  # to be tried again
    gw.clock.advance(10)
    assert worker.send_due() == 1
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed) == ("failed", None)


def test_an_sms_interrupted_by_a_crash_is_scrubbed_when_marked_unknown(pipeline):
    gw, worker = pipeline()
    mt_verify(gw, gw.register(), "+33612345678")
    with gw.deps.uow() as uow:
        [claimed] = uow.outbox.claim_due(gw.clock.now(), 1, "test-worker")
        uow.commit()
    assert claimed.sealed is not None
    assert worker.dispatcher.recover_interrupted() == 1
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed) == ("unknown", None)


def test_an_sms_expired_by_the_cleanup_is_scrubbed(pipeline):
    gw, _worker = pipeline()
    mt_verify(gw, gw.register(), "+33612345678")
    gw.clock.advance(gw.settings.sms_ttl)
    assert cleanup(gw.deps)["outbox_expired"] == 1
    [row] = rows(gw, OutboundSms)
    assert (row.status, row.sealed) == ("expired", None)


def test_a_hawk_id_in_any_received_text_is_not_stored(pipeline):
    gw, worker = pipeline()
    hawk_id = hawk_credentials(gw.register())["id"]
    send_mo(worker, "+33612345678", f"verify {hawk_id} please")  # not the request format
    [row] = rows(gw, InboxMessage)
    assert (row.kind, row.text) == ("other", "verify <hex not stored> please")


def test_a_received_sms_is_kept_for_the_inbox_retention_then_removed(pipeline):
    gw, worker = pipeline(inbox_retention=3600)
    send_mo(worker, "+33612345678", "STOP")
    gw.clock.advance(3599)
    assert cleanup(gw.deps)["inbox"] == 0
    gw.clock.advance(1)
    assert cleanup(gw.deps)["inbox"] == 1
    assert rows(gw, InboxMessage) == []


def test_listings_show_masked_numbers(pipeline):
    from gateway.admin.listings import inbox_rows, outbox_rows

    gw, worker = pipeline()
    token = gw.register()
    mt_verify(gw, token, "+33612345678")
    send_mo(worker, "+33698765432",
            f"/v1/msisdn/sms/momt/verify {hawk_credentials(gw.register())['id']}")
    assert [r["recipient"] for r in outbox_rows(gw.deps, 10)] == ["+33*******32",
                                                                   "+33*******78"]
    assert [r["sender"] for r in inbox_rows(gw.deps, 10)] == ["+33*******32"]
