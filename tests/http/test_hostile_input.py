"""Hostile input gets a 4xx in the spec's shape, never a 500, and stores nothing: JSON
nested past any recursion limit, Hawk timestamps outside any sane range (and the nonces
they would leave behind), the simulator's text and fault arguments. Real HTTP, a real
SQLite file; only time is faked."""
import json

import pytest
import requests
from mohawk import Sender
from sqlalchemy import select

from conftest import assert_error
from gateway.http.bodies import MAX_JSON_DEPTH
from gateway.storage.models import HawkNonce, SimModemCommand, SimMoRequest

DEEP_ARRAY = b"[" * 12_000 + b"]" * 12_000  # 24 KB, under max_body_bytes
DEEP_OBJECT = b'{"a":' * 4_000 + b"1" + b"}" * 4_000
PUBLIC = ("/v1/msisdn/discover", "/v1/msisdn/register")
SIGNED = ("/v1/msisdn/sms/mt/verify", "/v1/msisdn/sms/resend_code",
          "/v1/msisdn/sms/verify_code", "/v1/certificate/sign")
SIMULATOR = ("/__sim__/phones/+33612345678/messages", "/__sim__/modems/modem0/faults")


def nested(depth: int, inner: str = '"x"') -> bytes:
    return ('{"mcc": "208", "extra": ' + "[" * depth + inner + "]" * depth + "}").encode()


def signed_post(gw, path, body: bytes, token, **auth):
    return gw.http.post(gw.url + path, data=body, auth=gw.auth(token, **auth),
                        headers={"Content-Type": "application/json"})


def nonce_rows(gw) -> list[HawkNonce]:
    with gw.deps.uow() as uow:
        return list(uow.db.scalars(select(HawkNonce)))


# -- JSON nested past any recursion limit -------------------------------------------------

@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deeply_nested_json_is_400_106_on_every_endpoint_that_reads_a_body(start_gateway, body):
    gw = start_gateway(simulate=True, modems=0)
    for path in PUBLIC + SIMULATOR:
        response = gw.http.post(gw.url + path, data=body,
                                headers={"Content-Type": "application/json"})
        assert "nested" in assert_error(response, 400, 106)["message"], path
    token = gw.register()
    for path in SIGNED:
        assert "nested" in assert_error(signed_post(gw, path, body, token), 400, 106)["message"]
    # unregister reads no body: a deep one is ignored
    assert signed_post(gw, "/v1/msisdn/unregister", body, token).status_code == 204


def test_nesting_up_to_the_limit_is_parsed_and_brackets_inside_strings_do_not_count(gateway):
    gateway.publish_modem()
    assert gateway.http.post(gateway.url + "/v1/msisdn/discover",
                             data=nested(MAX_JSON_DEPTH - 1)).status_code == 200
    assert_error(gateway.http.post(gateway.url + "/v1/msisdn/discover",
                                   data=nested(MAX_JSON_DEPTH)), 400, 106)
    in_a_string = json.dumps({"mcc": "208", "extra": "[{" * 10_000 + '\\"[' * 100}).encode()
    assert gateway.http.post(gateway.url + "/v1/msisdn/discover",
                             data=in_a_string).status_code == 200


@pytest.mark.parametrize("raw, refused", [
    (b"[" * 33 + b"]" * 33, True), (b"[" * 32 + b"]" * 32, False),
    (b"[]" * 12_800, False),  # many brackets, never deep: scanned, accepted
    (b'["\\"' + b"[" * 100 + b'"]', False),  # an escaped quote does not end the string
    (b'["\\\\"' + b"[" * 100, True),  # an escaped backslash does
    (b'"' + b"[" * 100, False),  # unterminated: one string to the end (json.loads refuses)
    (b'{"a": {"b": "}}}}' + b"{" * 40 + b'"}}', False)])
def test_the_depth_scan_counts_only_brackets_outside_strings(raw, refused):
    from gateway.errors import InvalidJson
    from gateway.http.bodies import check_json_depth

    if refused:
        with pytest.raises(InvalidJson, match="nested too deep"):
            check_json_depth(raw)
    else:
        check_json_depth(raw)


def test_a_deep_json_string_as_the_public_key_is_a_400_not_a_500(gateway):
    token = gateway.register()
    body = json.dumps({"publicKey": "[" * 12_000 + "]" * 12_000}).encode()
    response = signed_post(gateway, "/v1/certificate/sign", body, token)
    assert "publicKey" in assert_error(response, 400, 107)["message"]  # read before the session


# -- Hawk timestamps and nonces -----------------------------------------------------------

def raw_signed(gw, token, ts: str, path="/v1/msisdn/unregister"):
    """A request whose MAC is valid for the timestamp text ``ts``, whatever it says."""
    credentials = gw.auth(token).credentials
    sender = Sender(credentials, gw.url + path, "POST", content=b"{}",
                    content_type="application/json", _timestamp=ts)
    return gw.http.post(gw.url + path, data=b"{}", headers={
        "Authorization": sender.request_header, "Content-Type": "application/json"})


@pytest.mark.parametrize("ts", ["1" + "0" * 30, "-5", "-0", "1.5", "1e30", "0x10", " 12",
                                "1_000", "9" * 3000, "NaN"])
def test_hawk_timestamps_outside_any_sane_range_are_401_109(gateway, ts):
    token = gateway.register()
    assert_error(raw_signed(gateway, token, ts), 401, 109)
    assert nonce_rows(gateway) == []


def test_an_empty_or_missing_hawk_timestamp_is_401_109(gateway):
    token = gateway.register()
    signed = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/unregister", json={}, auth=gateway.auth(token)))
    header = signed.headers["Authorization"]
    ts = header.split('ts="')[1].split('"')[0]
    for forged in (header.replace(f'ts="{ts}"', 'ts=""'),
                   header.replace(f'ts="{ts}", ', "").replace(f', ts="{ts}"', "")):
        signed.headers["Authorization"] = forged
        assert_error(gateway.http.send(signed), 401, 109)
    assert nonce_rows(gateway) == []


def test_stale_requests_with_a_valid_mac_leave_no_nonce_behind(gateway):
    token = gateway.register()
    now = int(gateway.clock.now().timestamp())
    for index in range(200):
        offset = 10 ** 8 if index % 2 else -10 ** 8
        response = signed_post(gateway, "/v1/msisdn/sms/resend_code", b"{}", token,
                               _timestamp=now + offset)
        assert_error(response, 401, 109)
        assert 'tsm="' in response.headers["WWW-Authenticate"]
    assert nonce_rows(gateway) == []


def test_nonces_expire_within_twice_the_skew_and_replays_are_still_refused(gateway):
    skew = gateway.settings.hawk_skew_seconds
    now = int(gateway.clock.now().timestamp())
    for offset in (1 - skew, 0, skew - 1):
        token = gateway.register()
        signed = gateway.http.prepare_request(requests.Request(
            "POST", gateway.url + "/v1/msisdn/sms/resend_code", json={},
            auth=gateway.auth(token, _timestamp=now + offset)))
        assert_error(gateway.http.send(signed), 400, 107)  # authenticated, nothing to resend
        assert_error(gateway.http.send(signed), 401, 109)  # the same nonce: a replay
    rows = nonce_rows(gateway)
    assert len(rows) == 3
    assert all(row.expires_at.timestamp() <= now + 2 * skew for row in rows)
    gateway.clock.advance(2 * skew - 2)  # the last one is still fresh: a replay, kept
    cleanup(gateway)
    assert [row.expires_at.timestamp() for row in nonce_rows(gateway)] == [now + 2 * skew - 1]
    assert_error(gateway.http.send(signed), 401, 109)
    gateway.clock.advance(1)  # its row expires and goes, as the request becomes stale
    cleanup(gateway)
    assert nonce_rows(gateway) == []
    response = gateway.http.send(signed)
    assert_error(response, 401, 109)
    assert 'tsm="' in response.headers["WWW-Authenticate"]


def cleanup(gw):
    with gw.deps.uow() as uow:
        uow.delete_expired(gw.clock.now(), 3600)
        uow.commit()


def test_a_forged_mac_stores_no_nonce(gateway):
    token = gateway.register()
    other = gateway.register()
    signed = gateway.http.prepare_request(requests.Request(
        "POST", gateway.url + "/v1/msisdn/unregister", json={}, auth=gateway.auth(other)))
    header = signed.headers["Authorization"]
    own_id = gateway.auth(token).credentials["id"].decode()
    signed.headers["Authorization"] = header.replace(
        header.split('id="')[1].split('"')[0], own_id)
    assert_error(gateway.http.send(signed), 401, 109)
    assert nonce_rows(gateway) == []


# -- the simulator's endpoints ------------------------------------------------------------

def sim_rows(gw, model):
    with gw.deps.uow() as uow:
        return list(uow.db.scalars(select(model)))


@pytest.mark.parametrize("text", ["\ud800", "hello \udfff world", "\ud83d"])
def test_a_phone_message_that_is_not_unicode_text_is_400(start_gateway, text):
    gw = start_gateway(simulate=True, modems=0)
    body = json.dumps({"to": "+33700000001", "text": text}).encode()  # "\\ud800" escapes
    response = gw.http.post(gw.url + "/__sim__/phones/+33612345678/messages", data=body,
                            headers={"Content-Type": "application/json"})
    assert "surrogate" in assert_error(response, 400, 106)["message"]
    assert sim_rows(gw, SimMoRequest) == []


@pytest.mark.parametrize("body", [{"to": "+33700000001", "text": "a\u0000b"},
                                  {"to": "+33700000001", "text": ""},
                                  {"to": "+33700000001", "text": "x" * 1601},
                                  {"to": "+337000000011234567890", "text": "hi"},
                                  {"to": "hello", "text": "hi"}, {"to": 33, "text": "hi"}])
def test_a_phone_message_that_cannot_be_stored_or_sent_is_400(start_gateway, body):
    gw = start_gateway(simulate=True, modems=0)
    response = gw.http.post(gw.url + "/__sim__/phones/+33612345678/messages", json=body)
    message = assert_error(response, 400, 107)["message"]
    assert message.startswith(("text must be", "to must be")), message
    assert sim_rows(gw, SimMoRequest) == []


def test_a_phone_message_of_any_unicode_text_is_queued(start_gateway):
    gw = start_gateway(simulate=True, modems=0)
    for text in ("😀 \U0010ffff é\u200b\r\n", "x" * 1600):
        response = gw.http.post(gw.url + "/__sim__/phones/+33612345678/messages",
                                json={"to": " 36177 ", "text": text})
        assert response.status_code == 202, response.text
    assert [row.recipient for row in sim_rows(gw, SimMoRequest)] == ["36177"] * 2


@pytest.mark.parametrize("fault", [
    "slow_submit:nan", "slow_submit:inf", "slow_submit:-inf", "slow_submit:-10",
    "slow_submit:1e300", "slow_submit:" + "9" * 400, "slow_submit:junk", "slow_submit:601",
    "slow_submit:0x10", "sim_busy:-1", "sim_busy:0", "sim_busy:10000000000", "sim_busy:3:7",
    "sim_busy:nan", "cms_error:-1", "cms_error:1e3", "cms_error:99999", "garbage:-3",
    "garbage:1000000", "garbage:1:2", "unplug:5", "no_answer:x", "cms_error:",
    "sim_busy:3:515:9", "nope", ""])
def test_bad_fault_arguments_are_400_saying_what_is_allowed(start_gateway, fault):
    gw = start_gateway(simulate=True, modems=0)
    response = gw.http.post(gw.url + "/__sim__/modems/sim0/faults", json={"fault": fault})
    message = assert_error(response, 400, 107)["message"]
    assert any(words in message for words in (
        "between", "14 or 515", "takes no argument", "known:", "at most")), message
    assert_error(gw.http.delete(gw.url + "/__sim__/modems/sim0/faults",
                                params={"fault": fault}), 400, 107)
    assert sim_rows(gw, SimModemCommand) == []


def test_the_simulator_itself_refuses_bad_fault_arguments():
    from modem.sim.faults import Faults, apply_fault, parse_fault

    for spec in ("slow_submit:nan", "slow_submit:-10", "sim_busy:10000000000", "garbage:inf"):
        with pytest.raises(ValueError, match="between"):
            parse_fault(spec)
    with pytest.raises(ValueError, match="between 0 and 600"):
        apply_fault(Faults(), "slow_submit", ("inf",))  # also without parse_fault
    with pytest.raises(ValueError, match="unknown fault"):
        modem_with_fault("meteor")
    with pytest.raises(ValueError, match="between"):
        modem_with_fault("slow_submit:nan")


def modem_with_fault(spec):
    import modem.sim
    from fakes import FakeClock

    network = modem.sim.VirtualNetwork(FakeClock())
    return network.add_modem("m0", "generic", faults=[spec])


def test_good_fault_arguments_are_still_queued_normalised(start_gateway):
    gw = start_gateway(simulate=True, modems=0)
    for fault in ("slow_submit:2.5", "sim_busy: 3 :515", "sim_busy:1", "cms_error:38",
                  "garbage", "garbage:4", "Unplug", "no-answer", "slow_submit:600"):
        response = gw.http.post(gw.url + "/__sim__/modems/sim0/faults", json={"fault": fault})
        assert response.status_code == 202, (fault, response.text)
    assert gw.http.delete(gw.url + "/__sim__/modems/sim0/faults",
                          params={"fault": "slow_submit"}).status_code == 202
    assert [row.fault for row in sim_rows(gw, SimModemCommand)] == [
        "slow_submit:2.5", "sim_busy:3:515", "sim_busy:1", "cms_error:38", "garbage",
        "garbage:4", "unplug", "no_answer", "slow_submit:600", "slow_submit"]


@pytest.mark.parametrize("name", ["x" * 65, "a b", "modem/0", "é"])
def test_a_modem_name_that_cannot_be_one_is_400(start_gateway, name):
    gw = start_gateway(simulate=True, modems=0)
    response = gw.http.post(gw.url + f"/__sim__/modems/{name}/faults", json={"fault": "unplug"})
    assert response.status_code in (400, 404), response.text
    assert response.json()["errno"] in (107, 999)
    assert sim_rows(gw, SimModemCommand) == []
