"""discover and back-off derived from the modems the worker reports (modem_status)."""
from conftest import assert_error

from gateway.verification.discover import RecentStatuses

DEVICE = {"mcc": "208", "mnc": "01"}


def discover(gw, **body):
    return gw.post("/v1/msisdn/discover", {**DEVICE, **body})


def test_discover_offers_both_methods_through_a_healthy_modem_in_the_country(start_gateway):
    gw = start_gateway(public_url="https://verify.example.org")
    body = discover(gw).json()
    assert body == {
        "verificationMethods": ["sms/momt", "sms/mt"],
        "verificationDetails": {
            "sms/mt": {"mtSender": "+33700000001",
                       "url": "https://verify.example.org/v1/msisdn/sms/mt/verify"},
            "sms/momt": {"mtSender": "+33700000001", "moVerifier": "+33700000001"}}}


def test_a_claimed_msisdn_puts_sms_mt_first(gateway):
    body = discover(gateway, msisdn="+33612345678").json()
    assert body["verificationMethods"] == ["sms/mt", "sms/momt"]


def test_no_momt_when_roaming_or_abroad(start_gateway):
    gateway = start_gateway(destination_countries="FR,DE")  # German numbers served too
    assert discover(gateway, roaming=True).json()["verificationMethods"] == ["sms/mt"]
    abroad = gateway.post("/v1/msisdn/discover", {"mcc": "262", "mnc": "02"}).json()
    assert abroad["verificationMethods"] == ["sms/mt"]


def test_momt_abroad_when_configured(start_gateway):
    gw = start_gateway(momt_same_country=False, destination_countries="FR,DE")
    body = gw.post("/v1/msisdn/discover", {"mcc": "262", "mnc": "02"}).json()
    assert body["verificationMethods"] == ["sms/momt", "sms/mt"]


def test_the_modem_on_the_devices_network_is_the_one_offered(start_gateway):
    gw = start_gateway(modems=0)
    gw.publish_modem("orange", number="+33700000001", mcc="208", mnc="01")
    gw.publish_modem("sfr", number="+33700000002", mcc="208", mnc="10")
    body = gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "10"}).json()
    assert body["verificationDetails"]["sms/momt"]["moVerifier"] == "+33700000002"
    assert body["verificationDetails"]["sms/mt"]["mtSender"] == "+33700000002"


def test_configured_sender_and_networks_win(start_gateway):
    gw = start_gateway(mt_sender="VERIFY", mt_networks="20801")
    body = discover(gw).json()
    assert body["verificationDetails"]["sms/mt"]["mtSender"] == "VERIFY"
    other = gw.post("/v1/msisdn/discover", {"mcc": "208", "mnc": "10"}).json()
    assert other["verificationMethods"] == ["sms/momt"]


def test_unhealthy_or_stale_modems_are_not_offered(start_gateway):
    gw = start_gateway(modems=0, modem_status_ttl=60)
    gw.publish_modem("m0", healthy=False, state="gone")
    assert_error(discover(gw), 503, 201)
    gw.publish_modem("m1")
    gw.clock.advance(RecentStatuses.SECONDS)  # discover reads the statuses once a second
    assert discover(gw).status_code == 200
    gw.clock.advance(61)  # the worker stopped publishing
    assert_error(discover(gw), 503, 201)


def test_discover_sees_what_the_workers_publish_within_a_second(start_gateway):
    gw = start_gateway(modems=0, modem_status_ttl=60)
    assert_error(discover(gw), 503, 201)
    gw.publish_modem("m0")
    gw.clock.advance(0.5)
    first = discover(gw)  # the statuses of half a second ago: none yet
    gw.clock.advance(0.5)
    assert_error(first, 503, 201)
    assert discover(gw).status_code == 200  # a second after it read them, read again
    gw.publish_modem("m0", healthy=False, state="gone")
    gw.clock.advance(RecentStatuses.SECONDS)
    assert_error(discover(gw), 503, 201)


def test_without_a_healthy_modem_no_sms_is_accepted(start_gateway):
    gw = start_gateway(modems=0)
    response = gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": "+33612345678", "mcc": "208"},
                       gw.register())
    assert_error(response, 503, 201)
    assert gw.outbox() == []


def test_a_backlog_beyond_the_time_budget_is_refused_with_a_truthful_retry_after(start_gateway):
    gw = start_gateway(modems=0, queue_time_budget=10, rate_limit_msisdn="")
    gw.publish_modem("m0", seconds_per_part=2.0)  # 0.5 SMS per second
    numbers = [f"+336123456{i:02d}" for i in range(7)]
    statuses = [gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": n, "mcc": "208"},
                        gw.register()).status_code for n in numbers]
    assert statuses == [204] * 5 + [503, 503]  # the 6th would wait 12 s > 10 s
    body = assert_error(gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": numbers[5], "mcc": "208"},
                                gw.register()), 503, 201)
    assert body["retryAfter"] == 2  # one SMS must leave the queue first
    gw.publish_modem("m1", seconds_per_part=2.0)  # a second modem doubles the speed
    assert gw.post("/v1/msisdn/sms/mt/verify", {"msisdn": numbers[5], "mcc": "208"},
                   gw.register()).status_code == 204
    assert len(gw.outbox()) == 6
