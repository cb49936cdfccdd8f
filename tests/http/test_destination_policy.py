"""The destination policy (gateway.guard.policy) over real HTTP and a real SQLite file:
the destinations of issue 10 refused with 400/107 and a reason that never repeats the
number, on every path that queues a code SMS (sms/mt/verify, resend_code, the reply to an
SMS-MO), and discover offering nothing for them. The gateway's modem is French (its
status says region FR, home network 208-01), so by default codes go to French mobiles."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conftest import assert_error
from gateway.crypto.tokens import derive_hawk_credentials
from gateway.pipeline.inbound import store_inbound
from modem.inbox import InboundSms

FRENCH_MOBILE = "+33612345678"
OTHER_FRENCH_MOBILE = "+33698765432"
# The destinations an outside attacker had accepted (issue 10), and why each is refused
# by default (modems in France) and when any country is served.
ISSUE_DESTINATIONS = {
    "UK premium rate": ("+449090123456", "numbers of GB (+44) are not served",
                        "premium-rate numbers are not served"),
    "US 1-900": ("+19002345678", "numbers of US (+1) are not served",
                 "premium-rate numbers are not served"),
    "international premium +979": ("+979123456789", "+979 numbers (satellite or "
                                   "international services)", None),
    "Iridium +8816": ("+881612345678", "+881 numbers (satellite or international "
                      "services)", None),
    "Comoros": ("+2693212345", "numbers of KM (+269) are not served", "mobile: served"),
    "Paris fixed line": ("+33123456789", "fixed-line numbers are not served",
                         "fixed-line numbers are not served"),
    "China": ("+8613812345678", "numbers of CN (+86) are not served", "mobile: served"),
}


def mt_verify(gw, token, number, mcc="208", mnc=None):
    body = {"msisdn": number, "mcc": mcc, **({"mnc": mnc} if mnc else {})}
    return gw.post("/v1/msisdn/sms/mt/verify", body, token)


def refused(response, *words) -> str:
    """The 400/107 body's message, which says why and never holds the number."""
    message = assert_error(response, 400, 107)["message"]
    for text in words:
        assert text in message
    return message


def national_digits(number: str) -> str:
    return number[-7:]  # enough of the subscriber part to tell the number


@pytest.mark.parametrize("name", ISSUE_DESTINATIONS)
def test_the_issues_destinations_are_refused_by_default_saying_why(gateway, name):
    number, reason, _ = ISSUE_DESTINATIONS[name]
    token = gateway.register()

    message = refused(mt_verify(gateway, token, number), "destination refused", reason)

    assert national_digits(number) not in message
    assert gateway.outbox() == []
    # Nothing of the refused request stayed: the session takes another number.
    assert mt_verify(gateway, token, FRENCH_MOBILE).status_code == 204


@pytest.mark.parametrize("name", ISSUE_DESTINATIONS)
def test_with_every_country_served_number_types_still_decide(start_gateway, name):
    gw = start_gateway(destination_countries=("*",))
    number, default_reason, reason = ISSUE_DESTINATIONS[name]
    response = mt_verify(gw, gw.register(), number)

    if reason == "mobile: served":
        assert response.status_code == 204, response.text
        assert [row.purpose for row in gw.outbox()] == ["sms/mt"]
    else:
        refused(response, reason or default_reason)
        assert gw.outbox() == []


@pytest.mark.parametrize("number", ["+19002345678", "+2693212345", "+881612345678"])
def test_mt_networks_208_no_longer_lets_sms_mt_verify_send_abroad(start_gateway, number):
    gw = start_gateway(mt_networks=("208",))

    refused(mt_verify(gw, gw.register(), number))

    assert gw.outbox() == []


def test_a_device_on_a_network_outside_mt_networks_gets_no_code(start_gateway):
    gw = start_gateway(mt_networks=("20801",))
    token = gw.register()

    refused(mt_verify(gw, token, FRENCH_MOBILE, mcc="208", mnc="10"),
            "not sent to devices on network 208-10")
    assert mt_verify(gw, token, FRENCH_MOBILE, mcc="208", mnc="01").status_code == 204


def test_deny_prefixes_win_and_allow_prefixes_open_a_range(start_gateway):
    gw = start_gateway(destination_deny_prefixes=("+33612",),
                       destination_allow_prefixes=("+447911", "+33612"))

    refused(mt_verify(gw, gw.register(), FRENCH_MOBILE), "numbers in this range")
    assert mt_verify(gw, gw.register(), OTHER_FRENCH_MOBILE).status_code == 204
    # Guernsey (+44 7911): another country, yet inside an allow prefix.
    assert mt_verify(gw, gw.register(), "+447911123456").status_code == 204
    refused(mt_verify(gw, gw.register(), "+447785016005"), "numbers of GB")


def test_a_country_configured_replaces_the_modems_countries(start_gateway):
    gw = start_gateway(destination_countries=("de", "GB"))

    refused(mt_verify(gw, gw.register(), FRENCH_MOBILE), "numbers of FR (+33)", "DE, GB")
    assert mt_verify(gw, gw.register(), "+4915112345678").status_code == 204
    assert mt_verify(gw, gw.register(), "+447785016005").status_code == 204


def test_fixed_lines_can_be_allowed_by_type(start_gateway):
    gw = start_gateway(destination_types=("mobile", "fixed_line"))

    assert mt_verify(gw, gw.register(), "+33123456789").status_code == 204
    refused(mt_verify(gw, gw.register(), "+33812345678"), "premium-rate",
            "fixed-line and mobile numbers")


def test_resend_code_is_refused_once_the_destination_is(start_gateway, make_settings):
    # One database, two policies: the number was served when the code was first sent,
    # then the operator denied its range (a restart with new settings).
    gw = start_gateway()
    token = gw.register()
    assert mt_verify(gw, token, FRENCH_MOBILE).status_code == 204
    stricter = start_gateway(destination_deny_prefixes=("+336",))

    refused(stricter.post("/v1/msisdn/sms/resend_code", token=token), "in this range")

    assert len(stricter.outbox()) == 1
    assert gw.post("/v1/msisdn/sms/resend_code", token=token).status_code == 204


def test_the_reply_to_an_sms_mo_obeys_the_policy(gateway):
    token = gateway.register()
    hawk_id = derive_hawk_credentials(bytes.fromhex(token)).id
    stamp = datetime.now(timezone.utc)

    def sms_mo(sender):
        return InboundSms(modem="modem0", recipient="+33700000001", sender=sender,
                          text=f"/v1/msisdn/sms/momt/verify {hawk_id}", smsc_timestamp=stamp,
                          smsc=None, partial=False, received_at=stamp, _claim=None)

    row = store_inbound(gateway.deps, sms_mo("+19002345678"))

    assert row.outcome.startswith("refused:") and "errno 107" in row.outcome
    assert "numbers of US (+1) are not served" in row.outcome
    assert gateway.outbox() == []
    assert store_inbound(gateway.deps, sms_mo(FRENCH_MOBILE)).outcome == "code queued"


def test_until_a_modem_tells_its_country_codes_wait_with_a_503(start_gateway):
    gw = start_gateway(modems=0)
    gw.publish_modem("modem0", number=None, region=None, mcc=None, mnc=None)
    token = gw.register()

    body = assert_error(mt_verify(gw, token, FRENCH_MOBILE), 503, 201)

    assert "country of the gateway's modems is not known yet" in body["message"]
    gw.publish_modem("modem0", number=None, region=None, mcc="208", mnc="01")
    assert mt_verify(gw, token, FRENCH_MOBILE).status_code == 204


def test_a_configured_country_needs_no_modem_to_tell_its_own(start_gateway):
    gw = start_gateway(modems=0, destination_countries=("FR",))
    gw.publish_modem("modem0", number=None, region=None, mcc=None, mnc=None)

    assert mt_verify(gw, gw.register(), FRENCH_MOBILE).status_code == 204


def discover(gw, **body):
    response = gw.post("/v1/msisdn/discover", {"mcc": "208", **body})
    assert response.status_code == 200, response.text
    return response.json()["verificationMethods"]


def test_discover_offers_nothing_for_a_refused_number_or_a_country_not_served(gateway):
    assert discover(gateway, msisdn=FRENCH_MOBILE) == ["sms/mt", "sms/momt"]
    assert discover(gateway, msisdn="+19002345678") == []
    assert discover(gateway, msisdn="+33123456789") == []
    assert discover(gateway, msisdn="+881612345678") == []
    # A device at home in the US has a US number; a roaming one may not.
    assert discover(gateway, mcc="310", mnc="260") == []
    assert discover(gateway, mcc="310", mnc="260", roaming=True) == ["sms/mt"]


def test_discover_follows_allow_prefixes_and_configured_countries(start_gateway):
    gw = start_gateway(destination_allow_prefixes=("+1206",))

    assert discover(gw, mcc="310") == ["sms/mt"]
    assert discover(gw, msisdn="+12063130004", mcc="310") == ["sms/mt"]
    assert discover(gw, msisdn="+12015550123", mcc="310") == []
