"""Back-off protocol: 429s say truthfully when to retry; limits are shared and configurable."""
from conftest import assert_error

NUMBER = "+33612345678"


def mt_verify(gw, token, number=NUMBER, **extra):
    return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208", **extra}, token)


def test_too_many_sms_for_one_number_says_when_to_retry_and_that_is_true(start_gateway):
    gw = start_gateway(rate_limit_msisdn="2/10m,3/1d")
    tokens = [gw.register() for _ in range(4)]
    assert [mt_verify(gw, t).status_code for t in tokens[:2]] == [204, 204]
    body = assert_error(mt_verify(gw, tokens[2]), 429, 115)
    gw.clock.advance(body["retryAfter"] - 1)
    assert_error(mt_verify(gw, tokens[2]), 429, 115)
    gw.clock.advance(1)
    assert mt_verify(gw, tokens[2]).status_code == 204  # third of the day
    gw.clock.advance(600)
    day = assert_error(mt_verify(gw, tokens[3]), 429, 115)  # the daily rule now
    assert day["retryAfter"] > 600
    assert len(gw.outbox()) == 3  # refused requests queued nothing


def test_a_refused_request_does_not_consume_the_budget_of_other_numbers(start_gateway):
    gw = start_gateway(rate_limit_msisdn="1/10m")
    assert mt_verify(gw, gw.register()).status_code == 204
    assert_error(mt_verify(gw, gw.register()), 429, 115)
    assert mt_verify(gw, gw.register(), "+33698765432").status_code == 204


def test_short_code_requests_are_limited_per_session(start_gateway):
    gw = start_gateway(rate_limit_short_code="2/1h")
    token = gw.register()
    assert mt_verify(gw, token, shortVerificationCode=True).status_code == 204
    assert gw.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    assert_error(gw.post("/v1/msisdn/sms/resend_code", {}, token), 429, 114)
    other = gw.register()  # another session is not affected
    assert mt_verify(gw, other, "+33698765432", shortVerificationCode=True).status_code == 204


def test_a_global_sms_budget_per_method(start_gateway):
    gw = start_gateway(rate_limit_method="2/1h")
    for number in ("+33612345678", "+33698765432"):
        assert mt_verify(gw, gw.register(), number).status_code == 204
    body = assert_error(mt_verify(gw, gw.register(), "+33611111111"), 429, 116)
    assert body["retryAfter"] <= 3600


def test_one_budget_bounds_the_sms_of_every_face_together(start_gateway):
    # Each face has its own method budget; without this one, every face added its own
    # 500 an hour to the bill (sms/mt and TextSecure need no credentials at all).
    gw = start_gateway(rate_limit_method="10/1h", rate_limit_sms_total="3/1h")
    assert mt_verify(gw, gw.register(), "+33612345678").status_code == 204
    assert mt_verify(gw, gw.register(), "+33698765432").status_code == 204
    assert gw.get("/v1/accounts/sms/code/+33611111111").status_code == 200  # TextSecure
    assert gw.get("/v1/accounts/sms/code/+33622222222").status_code == 413
    body = assert_error(mt_verify(gw, gw.register(), "+33633333333"), 429, 116)
    assert 0 < body["retryAfter"] <= 3600
    gw.clock.advance(body["retryAfter"])
    assert mt_verify(gw, gw.register(), "+33633333333").status_code == 204


def test_one_client_address_is_limited_on_every_endpoint(start_gateway):
    gw = start_gateway(rate_limit_client="3/1m")
    assert gw.post("/v1/msisdn/register").status_code == 200
    assert gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "01"}).status_code == 200
    assert gw.get("/").status_code == 200
    body = assert_error(gw.get("/.well-known/browserid"), 429, 117)
    assert body["retryAfter"] <= 60
    assert gw.get("/__heartbeat__").status_code == 200  # monitoring is never throttled
    gw.clock.advance(body["retryAfter"])
    assert gw.post("/v1/msisdn/register").status_code == 200


def test_exempt_networks_are_not_limited(start_gateway):
    gw = start_gateway(rate_limit_client="1/1m", rate_limit_exempt_networks="127.0.0.0/8")
    assert all(gw.post("/v1/msisdn/register").status_code == 200 for _ in range(3))


def test_clients_behind_a_trusted_proxy_are_counted_apart(start_gateway):
    gw = start_gateway(rate_limit_client="1/1m", trusted_proxies="127.0.0.1/32")
    first = {"X-Forwarded-For": "203.0.113.7"}
    second = {"X-Forwarded-For": "198.51.100.9, 127.0.0.1"}
    assert gw.post("/v1/msisdn/register", headers=first).status_code == 200
    assert gw.post("/v1/msisdn/register", headers=second).status_code == 200
    assert_error(gw.post("/v1/msisdn/register", headers=first), 429, 117)


def test_forwarded_for_from_an_untrusted_peer_is_ignored(start_gateway):
    gw = start_gateway(rate_limit_client="1/1m")
    assert gw.post("/v1/msisdn/register", headers={"X-Forwarded-For": "203.0.113.1"}
                   ).status_code == 200
    assert_error(gw.post("/v1/msisdn/register", headers={"X-Forwarded-For": "203.0.113.2"}),
                 429, 117)


# --- sliding windows ----------------------------------------------------------------------

def test_a_burst_straddling_a_minute_boundary_gets_no_more_than_the_client_limit(
        start_gateway):
    """Fixed windows let 2N through around a boundary; the per-client limit is a sliding
    window: N in any minute, and the next one exactly a minute after the first."""
    gw = start_gateway(rate_limit_client="5/1m")
    now = gw.clock.now()
    gw.clock.advance(59.5 - now.second - now.microsecond / 1e6)  # hh:mm:59.5
    assert [gw.get("/").status_code for _ in range(5)] == [200] * 5
    gw.clock.advance(1)  # hh:mm+1:00.5, a new fixed window
    body = assert_error(gw.get("/"), 429, 117)
    assert body["retryAfter"] == 59  # the first of the five leaves the window then
    gw.clock.advance(58)
    assert_error(gw.get("/"), 429, 117)
    gw.clock.advance(1)
    assert gw.get("/").status_code == 200


# --- the per-client SMS budget --------------------------------------------------------------

PROXY = {"trusted_proxies": "127.0.0.1/32"}


def from_client(address: str) -> dict:
    return {"headers": {"X-Forwarded-For": address}}


def test_one_client_gets_its_sms_budget_then_117_with_a_truthful_retry_after(start_gateway):
    gw = start_gateway(rate_limit_client_sms="3/1h")
    refused = gw.metric("msisdn_gateway_rate_limited_total", limit="client-sms")
    for index in range(3):
        assert mt_verify(gw, gw.register(), f"+3361234500{index}").status_code == 204
        gw.clock.advance(60)
    body = assert_error(mt_verify(gw, gw.register(), "+33612345009"), 429, 117)
    assert "SMS" in body["message"]
    assert body["retryAfter"] == 3600 - 180  # until its first SMS is an hour old
    token = gw.register()
    gw.clock.advance(body["retryAfter"] - 1)
    assert_error(mt_verify(gw, token, "+33612345009"), 429, 117)
    gw.clock.advance(1)
    assert mt_verify(gw, token, "+33612345009").status_code == 204
    assert len(gw.outbox()) == 4
    # what an operator watches: refusals per limit (this process's counters)
    assert gw.metric("msisdn_gateway_rate_limited_total", limit="client-sms") == refused + 2


def test_a_client_over_its_sms_budget_leaves_the_global_budget_to_the_others(start_gateway):
    gw = start_gateway(rate_limit_client_sms="2/1h", rate_limit_method="4/1h", **PROXY)
    attacker, honest = from_client("203.0.113.7"), from_client("198.51.100.9")

    def verify_from(client, number):
        token = gw.post("/v1/msisdn/register", **client).json()["msisdnSessionToken"]
        return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"}, token,
                       **client)

    statuses = [verify_from(attacker, f"+336123450{i:02d}").status_code for i in range(12)]
    assert statuses == [204] * 2 + [429] * 10
    assert [verify_from(honest, f"+336987650{i:02d}").status_code for i in range(2)] == \
        [204, 204]  # the 3rd and 4th SMS of the hour: the refusals took none
    assert_error(verify_from(from_client("192.0.2.1"), "+33611111111"), 429, 116)
    assert len(gw.outbox()) == 4


def test_resend_code_is_charged_to_the_client_that_asks_for_it(start_gateway):
    gw = start_gateway(rate_limit_client_sms="2/1h")
    token = gw.register()
    assert mt_verify(gw, token).status_code == 204
    assert gw.post("/v1/msisdn/sms/resend_code", {}, token).status_code == 204
    body = assert_error(gw.post("/v1/msisdn/sms/resend_code", {}, token), 429, 117)
    assert body["retryAfter"] == 3600


def test_an_ipv6_client_has_one_sms_budget_per_64(start_gateway):
    gw = start_gateway(rate_limit_client_sms="1/1h", **PROXY)

    def verify_from(address, number):
        client = from_client(address)
        token = gw.post("/v1/msisdn/register", **client).json()["msisdnSessionToken"]
        return gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": number, "mcc": "208"}, token,
                       **client).status_code

    assert verify_from("2001:db8:1:2::1", "+33612345001") == 204
    assert verify_from("2001:db8:1:2:ffff:ffff:ffff:9", "+33612345002") == 429  # same /64
    assert verify_from("2001:db8:1:3::1", "+33612345003") == 204  # the next /64
    assert verify_from("203.0.113.7", "+33612345004") == 204
    assert verify_from("::ffff:203.0.113.7", "+33612345005") == 429  # the same IPv4 client


def test_an_exempt_network_has_no_client_sms_budget_but_counts_in_the_global_one(
        start_gateway):
    gw = start_gateway(rate_limit_client_sms="1/1h", rate_limit_method="3/1h",
                       rate_limit_exempt_networks="127.0.0.0/8")
    for index in range(3):
        assert mt_verify(gw, gw.register(), f"+3361234500{index}").status_code == 204
    assert_error(mt_verify(gw, gw.register(), "+33612345009"), 429, 116)
