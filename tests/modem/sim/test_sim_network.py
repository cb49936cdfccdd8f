"""The virtual network: phones, routing, delays, status reports, the log, named networks."""
import pytest
from sim_harness import Driver

import modem.sim
from modem.pdu.codec import decode_pdu
from modem.sim import ManualClock, VirtualNetwork

EMOJI = "\U0001F600"


def test_an_sms_to_any_number_lands_in_that_phones_inbox_after_the_delay():
    d = Driver()
    d.network.delivery_delay = 5.0
    d.at("ATE0")
    d.submit("+447700900123", "code 123456 " + EMOJI)
    phone = d.network.phone("+447700900123")
    d.advance(4.9)
    assert phone.inbox == [] and d.network.log[0].status == "pending"
    d.advance(0.1)
    assert phone.texts == ["code 123456 " + EMOJI]
    assert phone.inbox[0].sender == d.modem.number
    assert d.network.log[0].status == "delivered" and d.network.log[0].reference == 1


def test_a_modem_can_have_its_own_delivery_delay():
    d = Driver(delivery_delay=30.0)
    d.at("ATE0")
    d.submit("+447700900123", "slow network")
    d.advance(29)
    assert d.network.phone("+447700900123").inbox == []
    d.advance(1)
    assert d.network.phone("+447700900123").texts == ["slow network"]


def test_a_multipart_sms_is_reassembled_in_the_phone_with_a_log_entry_per_part():
    d = Driver()
    d.at("ATE0")
    text = "x" * 150 + EMOJI + "y" * 100
    d.submit("+447700900123", text, concat_reference=77)
    d.advance(0)
    assert d.network.phone("+447700900123").texts == [text]
    assert [e.part for e in d.network.messages(kind="MT")] == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("status,expected", [(0x00, "delivered"), (0x30, "pending"), (0x41, "failed")])
def test_status_reports_follow_the_phones_report_status(status, expected):
    d = Driver()
    d.at("ATE0")
    d.at("AT+CNMI=2,1,0,1,0")
    d.network.phone("+447700900123").report_status = status
    d.submit("+447700900123", "report")
    report = decode_pdu(d.advance(0).split("\r\n")[2])
    assert report.status == status and report.reference == 1 and report.recipient == "+447700900123"
    assert d.network.log[0].status == expected
    assert d.network.phone("+447700900123").texts == (["report"] if status < 0x20 else [])


def test_a_phone_sends_a_long_sms_mo_that_arrives_as_concatenated_parts():
    d = Driver()
    d.at("ATE0")
    d.network.phone("+447700900123").send(d.modem.number, "z" * 200)
    announced = d.advance(0)
    assert announced.count("+CMTI:") == 2
    parts = [decode_pdu(line) for line in d.at("AT+CMGL=4").split("\r\n") if line.startswith("07")]
    assert [p.concat[1:] for p in parts] == [(2, 1), (2, 2)]
    assert "".join(p.text for p in parts) == "z" * 200
    assert d.network.messages(kind="MO")[0].status == "delivered"


def test_modems_can_text_each_other():
    network = VirtualNetwork(ManualClock())
    a = network.add_modem("a", number="+15550000001")
    b = network.add_modem("b", "ec25", number="+15550000002")
    a.machine.read_output(), b.machine.read_output()
    from modem.pdu.codec import encode_submit

    for part in encode_submit(b.number, "hello b " * 30, request_status_report=False):
        a.machine.receive(f"AT+CMGS={part.tpdu_length}\r".encode(), network.clock.monotonic())
        a.machine.receive(part.pdu_hex.encode() + b"\x1a", network.clock.monotonic())
    network.advance(0)
    assert b.machine.read_output().count(b"+CMTI:") == 2
    texts = [decode_pdu(s.pdu_hex).text for _, s in b.machine.card.listing(4)]
    assert "".join(texts) == "hello b " * 30


def test_identities_are_derived_from_the_name_and_numbers_are_unique():
    one = VirtualNetwork(ManualClock()).add_modem("gsm0")
    two = VirtualNetwork(ManualClock()).add_modem("gsm0")
    assert (one.imsi, one.imei, one.number) == (two.imsi, two.imei, two.number)
    assert one.imsi.startswith("00101") and len(one.imsi) == 15 and len(one.imei) == 15
    network = VirtualNetwork(ManualClock())
    network.add_modem("a", number="+15550000001")
    with pytest.raises(ValueError, match="already belongs"):
        network.add_modem("b", number="+15550000001")
    with pytest.raises(ValueError, match="already exists"):
        network.add_modem("a")
    with pytest.raises(ValueError, match="unknown modem profile"):
        network.add_modem("c", "nokia3310")


def test_a_system_clock_network_cannot_be_advanced():
    with pytest.raises(TypeError):
        VirtualNetwork().advance(1)


def test_named_networks_are_made_on_first_use_and_reset():
    modem.sim.reset_networks()
    first = modem.sim.get_network("lab")
    assert modem.sim.get_network("lab") is first
    replaced = modem.sim.create_network("lab", clock=ManualClock(), delivery_delay=2.0)
    assert modem.sim.get_network("lab") is replaced and replaced.delivery_delay == 2.0
    modem.sim.reset_networks()
    assert modem.sim.get_network("lab") is not replaced
    modem.sim.reset_networks()


def test_profiles_are_per_modem_values():
    network = VirtualNetwork(ManualClock())
    huawei = network.add_modem("h", "huawei")
    generic = network.add_modem("g")
    assert huawei.machine.profile.unknown_command == "COMMAND NOT SUPPORT"
    assert generic.machine.profile.unknown_command == "ERROR"
    assert modem.sim.get_profile("sim800", storage_capacity=5).storage_capacity == 5
    assert modem.sim.get_profile("sim800").storage_capacity == 30
