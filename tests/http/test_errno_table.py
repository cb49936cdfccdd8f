"""Every row of the spec's errno table, produced black-box over HTTP."""
import http.client
import json
from urllib.parse import urlsplit

import pytest

from conftest import assert_error

NUMBER = "+33612345678"
OTHER = "+33698765432"
RS_KEY = {"algorithm": "RS", "e": "65537",
          "n": str((1 << 2047) + 12345 * 2 + 1)}  # odd 2048-bit modulus


def started(gw, short=False):
    token = gw.register()
    response = gw.post("/v1/msisdn/sms/mt/verify",
                       {"msisdn": NUMBER, "mcc": "208", "shortVerificationCode": short}, token)
    assert response.status_code == 204, response.text
    return token


def raw_post(gw, path, body: bytes, headers: dict):
    url = urlsplit(gw.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("POST", path)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    if headers.get("Transfer-Encoding") == "chunked":
        connection.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    else:
        connection.send(body)
    response = connection.getresponse()
    payload = response.read()

    class Reply:  # the subset of requests.Response that assert_error reads
        status_code = response.status
        headers = {k.title(): v for k, v in response.getheaders()}
        text = payload.decode()

        @staticmethod
        def json():
            return json.loads(payload)
    Reply.headers["Content-Type"] = response.getheader("Content-Type")
    connection.close()
    return Reply


def case_104(gw):
    token = started(gw)
    return gw.post("/v1/certificate/sign", {"publicKey": RS_KEY}, token)


def case_105(gw):
    token = started(gw)
    return gw.post("/v1/msisdn/sms/verify_code", {"code": "f" * 64}, token)


def case_106(gw):
    return gw.post("/v1/msisdn/discover", data=b'{"mcc": "208",',
                   headers={"Content-Type": "application/json"})


def case_106_not_utf8(gw):
    return gw.post("/v1/msisdn/discover", data=b'{"mcc": "\xff"}',
                   headers={"Content-Type": "application/json"})


def case_106_wrong_content_type(gw):
    return gw.post("/v1/msisdn/discover", data=b"mcc=208", headers={"Content-Type": "text/plain"})


def case_107_bad_msisdn(gw):
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": "0612345678", "mcc": "208"},
                   gw.register())


def case_107_bad_mcc(gw):
    return gw.post("/v1/msisdn/discover", {"mcc": "20", "mnc": "01"})


def case_107_bad_mnc(gw):
    return gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "1234"})


def case_107_wrong_type(gw):
    return gw.post("/v1/msisdn/discover", {"mcc": 208, "mnc": "01"})


def case_107_not_an_object(gw):
    return gw.post("/v1/msisdn/discover", [1, 2])


def case_107_second_msisdn(gw):
    token = started(gw)
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": OTHER, "mcc": "208"}, token)


def case_108_discover(gw):
    return gw.post("/v1/msisdn/discover", {"mnc": "01"})


def case_108_mt_verify(gw):
    return gw.post("/v1/msisdn/sms/mt/verify", {"mcc": "208"}, gw.register())


def case_108_verify_code(gw):
    return gw.post("/v1/msisdn/sms/verify_code", {}, started(gw))


def case_109_bad_mac(gw):
    token = gw.register()
    auth = gw.auth(token)
    auth.credentials["key"] = b"0" * 64
    return gw.http.post(gw.url + "/v1/msisdn/unregister", json={}, auth=auth)


def case_109_tampered_body(gw):
    token = started(gw)
    auth = gw.auth(token)
    prepared = gw.http.prepare_request(__import__("requests").Request(
        "POST", gw.url + "/v1/msisdn/sms/verify_code", json={"code": "1" * 6}, auth=auth))
    prepared.body = b'{"code": "222222"}'
    return gw.http.send(prepared)


def case_110_unknown_token(gw):
    return gw.post("/v1/msisdn/unregister", token="ab" * 32)


def case_110_no_header(gw):
    return gw.post("/v1/msisdn/unregister", {})


def case_111_burnt(gw):
    token = started(gw)
    for _ in range(gw.settings.max_code_attempts):
        assert_error(gw.post("/v1/msisdn/sms/verify_code", {"code": "0" * 64}, token), 400, 105)
    return gw.post("/v1/msisdn/sms/verify_code", {"code": gw.last_sms_to(NUMBER)}, token)


def case_112(gw):
    return raw_post(gw, "/v1/msisdn/discover", b'{"mcc": "208", "mnc": "01"}',
                    {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                     "Host": "127.0.0.1"})


def case_113(gw):
    return gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01",
                                           "pad": "x" * gw.settings.max_body_bytes})


def case_114(gw):
    token = started(gw, short=True)
    return gw.post("/v1/msisdn/sms/resend_code", {}, token)


def case_115(gw):
    started(gw)
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"}, gw.register())


def case_116(gw):
    gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": OTHER, "mcc": "208"}, gw.register())
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"}, gw.register())


def case_117(gw):
    for _ in range(4):
        gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"})
    return gw.post("/v1/msisdn/register")


def case_201(gw):
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": NUMBER, "mcc": "208"}, gw.register())


CASES = [
    (case_104, 400, 104), (case_105, 400, 105), (case_106, 400, 106),
    (case_106_not_utf8, 400, 106), (case_106_wrong_content_type, 400, 106),
    (case_107_bad_msisdn, 400, 107), (case_107_bad_mcc, 400, 107), (case_107_bad_mnc, 400, 107),
    (case_107_wrong_type, 400, 107), (case_107_not_an_object, 400, 107),
    (case_107_second_msisdn, 400, 107), (case_108_discover, 400, 108),
    (case_108_mt_verify, 400, 108), (case_108_verify_code, 400, 108),
    (case_109_bad_mac, 401, 109), (case_109_tampered_body, 401, 109),
    (case_110_unknown_token, 401, 110), (case_110_no_header, 401, 110),
    (case_111_burnt, 410, 111), (case_112, 411, 112), (case_113, 413, 113),
    (case_114, 429, 114), (case_115, 429, 115), (case_116, 429, 116), (case_117, 429, 117),
    (case_201, 503, 201),
]
TIGHT_LIMITS = {case_114: {"rate_limit_short_code": "1/1h"},
                case_115: {"rate_limit_msisdn": "1/10m"},
                case_116: {"rate_limit_method": "1/1h"},
                case_117: {"rate_limit_client": "4/1m"},
                case_201: {"modems": 0}}  # no healthy modem


@pytest.mark.parametrize("case, status, errno", CASES, ids=[c[0].__name__ for c in CASES])
def test_each_error_of_the_spec_table_has_its_status_errno_and_json_body(
        start_gateway, case, status, errno):
    assert_error(case(start_gateway(**TIGHT_LIMITS.get(case, {}))), status, errno)


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v1/nothing-here", 404), ("GET", "/v1/msisdn/register", 405),
    ("DELETE", "/v1/msisdn/sms/verify_code", 405)])
def test_routing_errors_are_json_too(gateway, method, path, status):
    body = assert_error(gateway.http.request(method, gateway.url + path), status, 999)
    assert body["error"] in ("Not Found", "Method Not Allowed")


def test_an_unexpected_failure_is_a_json_500_without_details(gateway, monkeypatch, caplog):
    from gateway.verification import sessions

    def explode(deps):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(sessions, "register", explode)
    body = assert_error(gateway.post("/v1/msisdn/register"), 500, 999)
    assert "secret internals" not in json.dumps(body)
    assert "secret internals" in caplog.text  # logged with its traceback for the admin


def test_an_unreachable_database_is_a_503_with_retry_after(start_gateway, tmp_path):
    import shutil

    gw = start_gateway(database_url=f"sqlite:///{tmp_path}/db/gw.sqlite3")
    gw.engine.dispose()
    shutil.rmtree(tmp_path / "db")
    assert_error(gw.post("/v1/msisdn/register"), 503, 201)
    heartbeat = gw.get("/__heartbeat__")
    assert heartbeat.status_code == 503
    assert heartbeat.json()["database"] != "ok"
