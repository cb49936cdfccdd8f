"""The SMS-MT flow black-box over HTTP: codes, tries, lifetimes, resend, unregister."""
import re
import sqlite3
from contextlib import closing
from pathlib import Path

from conftest import assert_error

NUMBER = "+33612345678"


def start(gw, token, msisdn=NUMBER, **extra):
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": msisdn, "mcc": "208", **extra},
                       token, **({"headers": extra.pop("headers")} if "headers" in extra else {}))
    assert response.status_code == 204, response.text
    assert response.content == b""


def verify(gw, token, code):
    return gw.post("/v1/msisdn/sms/verify_code", {"code": code}, token)


def test_the_long_code_is_the_whole_sms_and_verifies_the_number(gateway):
    token = gateway.register()
    start(gateway, token, msisdn="+33 6 12 34 56 78", mnc="01")
    [(row, to, text)] = gateway.opened_outbox()
    assert re.fullmatch(r"[0-9a-f]{64}", text) and to == NUMBER
    assert (row.recipient, row.status, row.attempts, row.purpose) == (
        "+33*******78", "queued", 0, "sms/mt")  # the number itself only sealed
    assert (row.region, row.mcc, row.mnc) == ("FR", "208", "01")
    assert row.next_attempt_at <= gateway.clock.now() < row.expires_at
    response = verify(gateway, token, text.upper())
    assert response.status_code == 200
    assert response.json() == {"msisdn": NUMBER}


def test_a_short_code_arrives_in_the_clients_language_and_verifies(gateway):
    token = gateway.register()
    gateway.http.headers["Accept-Language"] = "fr-CA, en;q=0.5"
    start(gateway, token, shortVerificationCode=True)
    text = gateway.last_sms_to(NUMBER)
    code = re.search(r"\b\d{6}\b", text).group()
    assert "code" in text and "minutes" in text and "Your" not in text  # French, not English
    assert verify(gateway, token, code).json() == {"msisdn": NUMBER}


def test_a_short_code_falls_back_to_english(gateway):
    token = gateway.register()
    gateway.http.headers["Accept-Language"] = "da"
    start(gateway, token, shortVerificationCode=True)
    assert gateway.last_sms_to(NUMBER).startswith("Your verification code is ")


def test_a_wrong_code_counts_and_three_wrong_tries_burn_the_code(gateway):
    token = gateway.register()
    start(gateway, token, shortVerificationCode=True)
    code = re.search(r"\d{6}", gateway.last_sms_to(NUMBER)).group()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    messages = [assert_error(verify(gateway, token, wrong), 400, 105)["message"]
                for _ in range(3)]
    assert "2 tries left" in messages[0] and "0 tries left" in messages[2]
    assert_error(verify(gateway, token, code), 410, 111)
    assert gateway.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    fresh = re.search(r"\d{6}", gateway.last_sms_to(NUMBER)).group()
    assert verify(gateway, token, fresh).status_code == 200


def test_codes_expire_short_after_ten_minutes_long_after_an_hour(gateway):
    short, long_ = gateway.register(), gateway.register()
    start(gateway, short, shortVerificationCode=True)
    short_code = re.search(r"\d{6}", gateway.last_sms_to(NUMBER)).group()
    start(gateway, long_, msisdn="+33698765432")
    long_code = gateway.last_sms_to("+33698765432")
    gateway.clock.advance(gateway.settings.short_code_ttl + 1)
    assert_error(verify(gateway, short, short_code), 410, 111)
    assert verify(gateway, long_, long_code).status_code == 200


def test_a_long_code_expires_after_its_lifetime(gateway):
    token = gateway.register()
    start(gateway, token)
    code = gateway.last_sms_to(NUMBER)
    gateway.clock.advance(gateway.settings.long_code_ttl)
    assert_error(verify(gateway, token, code), 410, 111)


def test_resend_sends_a_fresh_code_by_the_same_method_and_the_old_one_stops_working(gateway):
    token = gateway.register()
    start(gateway, token, shortVerificationCode=True)
    first = gateway.last_sms_to(NUMBER)
    assert gateway.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    rows = gateway.opened_outbox()
    assert len(rows) == 2 and rows[1][1] == NUMBER and rows[1][0].purpose == "sms/mt"
    old, new = (re.search(r"\d{6}", t).group() for t in (first, rows[1][2]))
    if old != new:
        assert_error(verify(gateway, token, old), 400, 105)
    assert verify(gateway, token, new).status_code == 200


def test_resend_without_a_started_verification_is_refused(gateway):
    body = assert_error(gateway.post("/v1/msisdn/sms/resend_code", {}, gateway.register()),
                        400, 107)
    assert "sms/mt/verify" in body["message"]


def test_a_session_keeps_its_one_msisdn(gateway):
    token = gateway.register()
    start(gateway, token)
    start(gateway, token)  # the same number again is a new code, not an error
    assert_error(gateway.post("/v1/msisdn/sms/mt/verify",
                              {"msisdn": "+33698765432", "mcc": "208"}, token), 400, 107)
    assert {to for _row, to, _text in gateway.opened_outbox()} == {NUMBER}


def test_unregister_ends_the_session(gateway):
    token = gateway.register()
    start(gateway, token)
    code = gateway.last_sms_to(NUMBER)
    response = gateway.post("/v1/msisdn/unregister", {}, token)
    assert response.status_code == 204 and response.content == b""
    assert_error(verify(gateway, token, code), 401, 110)
    [(row, to, text)] = gateway.opened_outbox()  # its SMS is scrubbed and not sent
    assert (row.status, row.sealed, to, text) == ("expired", None, None, None)
    assert_error(gateway.post("/v1/msisdn/unregister", {}, token), 401, 110)


def test_a_pending_session_expires(gateway):
    token = gateway.register()
    gateway.clock.advance(gateway.settings.pending_session_ttl)
    assert_error(gateway.post("/v1/msisdn/unregister", {}, token), 401, 110)


def test_a_copied_database_reveals_neither_the_numbers_of_pending_sessions_nor_hawk_secrets(
        gateway):
    from requests_hawk import HawkAuth

    token = gateway.register()
    start(gateway, token)
    database = gateway.settings.effective_database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as copy:
        rows = copy.execute("SELECT * FROM sessions").fetchall() + \
            copy.execute("SELECT * FROM verification_codes").fetchall()
    credentials = HawkAuth(hawk_session=token).credentials
    secrets_ = [NUMBER, NUMBER[1:], token, credentials["id"].decode(), credentials["key"].decode()]
    dump = repr(rows)
    for value in secrets_:
        assert value not in dump
        assert value.encode() not in dump.encode()
    for value in secrets_[2:]:  # the hawk id, key and token appear nowhere in the files
        for suffix in ("", "-wal"):
            path = Path(database + suffix)
            content = path.read_bytes() if path.exists() else b""
            assert value.encode() not in content and bytes.fromhex(value) not in content
