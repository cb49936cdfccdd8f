"""discover: the methods offered follow the modems the worker reports healthy."""
from __future__ import annotations

from gateway.verification.discover import discover

from .conftest import publish_modem, refusal

URL = "https://verify.example.org/v1/msisdn/sms/mt/verify"


def ask(deps, mcc="208", mnc="01", msisdn=None, roaming=False) -> dict:
    return discover(deps, msisdn=msisdn, mcc=mcc, mnc=mnc, roaming=roaming, mt_verify_url=URL)


def test_a_device_at_home_may_text_our_modem_or_receive_a_code(deps):
    assert ask(deps) == {
        "verificationMethods": ["sms/momt", "sms/mt"],
        "verificationDetails": {
            "sms/mt": {"mtSender": "+33700000001", "url": URL},
            "sms/momt": {"mtSender": "+33700000001", "moVerifier": "+33700000001"}}}


def test_a_device_that_claims_its_number_is_offered_a_code_by_sms_first(deps):
    assert ask(deps, msisdn="+33612345678")["verificationMethods"] == ["sms/mt", "sms/momt"]


def test_a_roaming_device_is_not_asked_to_send_an_sms(deps):
    assert ask(deps, roaming=True)["verificationMethods"] == ["sms/mt"]


def test_a_device_in_another_country_texts_us_only_when_allowed(make_deps):
    # Germany served by the destination policy, though the modems are French.
    served = make_deps(destination_countries="FR,DE")
    assert ask(served, mcc="262", mnc="02")["verificationMethods"] == ["sms/mt"]
    anywhere = make_deps(momt_same_country=False, destination_countries="FR,DE")
    assert ask(anywhere, mcc="262", mnc="02")["verificationMethods"] == ["sms/momt", "sms/mt"]


def test_the_modem_on_the_devices_own_network_is_the_number_to_text(make_deps):
    deps = make_deps(modems=0)
    publish_modem(deps, "a-orange", number="+33700000001", mnc="01")
    publish_modem(deps, "b-sfr", number="+33700000002", mnc="10")

    details = ask(deps, mnc="10")["verificationDetails"]

    assert details["sms/momt"]["moVerifier"] == details["sms/mt"]["mtSender"] == "+33700000002"


def test_a_modem_whose_number_is_unknown_can_only_send_codes(make_deps):
    deps = make_deps(modems=0)
    publish_modem(deps, number=None)

    assert ask(deps) == {"verificationMethods": ["sms/mt"],
                         "verificationDetails": {"sms/mt": {"mtSender": "", "url": URL}}}


def test_configured_numbers_and_networks_override_the_modems(make_deps):
    deps = make_deps(mt_sender="VERIFY", mo_verifier="+33700009999", mt_networks="20801")

    details = ask(deps)["verificationDetails"]
    assert details["sms/mt"]["mtSender"] == details["sms/momt"]["mtSender"] == "VERIFY"
    assert details["sms/momt"]["moVerifier"] == "+33700009999"
    assert ask(deps, mnc="10")["verificationMethods"] == ["sms/momt"]


def test_nothing_is_offered_while_no_modem_is_healthy_or_reporting(make_deps):
    deps = make_deps(modems=0, modem_status_ttl=60)
    publish_modem(deps, healthy=False, state="gone")
    refused = refusal(ask, deps)
    assert (refused.status, refused.errno, refused.retry_after) == (503, 201, 30)

    publish_modem(deps, "modem1")
    assert ask(deps)["verificationMethods"]
    deps.clock.advance(61)  # the worker stopped publishing
    assert refusal(ask, deps).errno == 201


def test_a_device_that_tells_only_its_country_gets_the_first_modem_in_that_country(make_deps):
    deps = make_deps(modems=0)
    publish_modem(deps, "a-abroad", number="+4915100000001", mcc="262", mnc="01")
    publish_modem(deps, "b-sfr", number="+33700000002", mnc="10")
    publish_modem(deps, "c-orange", number="+33700000003", mnc="01")
    body = ask(deps, mnc=None)
    assert body["verificationDetails"]["sms/momt"]["moVerifier"] == "+33700000002"
    assert body["verificationDetails"]["sms/mt"]["mtSender"] == "+33700000002"


def test_without_a_network_code_only_a_country_wide_mt_network_allows_sms_mt(make_deps):
    assert ask(make_deps(mt_networks="20801"), mnc=None)["verificationMethods"] == ["sms/momt"]
    assert ask(make_deps(mt_networks="208"), mnc=None)["verificationMethods"] == [
        "sms/momt", "sms/mt"]
