"""Every named fault, switched on from a modemsim:// URL or at run time."""
import pytest
import serial
from sim_harness import Driver, command, open_port, read_until

from modem.pdu.codec import decode_pdu, encode_submit
from modem.sim.faults import FAULT_NAMES, Faults, apply_fault, parse_fault


def _send(port, text="hi", destination="+15551230000"):
    (part,) = encode_submit(destination, text)
    assert command(port, f"AT+CMGS={part.tpdu_length}").endswith(b"> ")
    port.write(part.pdu_hex.encode() + b"\x1a")
    return read_until(port)


def test_every_fault_name_parses_and_unknown_ones_are_refused():
    faults = Faults()
    for name in FAULT_NAMES:
        apply_fault(faults, *parse_fault(name))
    assert set(faults.active()) >= set(FAULT_NAMES) - {"busy_code"}
    faults.clear()
    assert faults.active() == []
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault("meteor_strike")
    with pytest.raises(ValueError, match="bad value"):
        apply_fault(faults, *parse_fault("sim_busy:lots"))


def test_no_answer_swallows_commands_until_cleared():
    network, port, _ = open_port("fault=no_answer")
    port.write(b"AT\r")
    assert port.in_waiting == 0  # on a ManualClock nothing more comes until time moves
    network.modem("m0").clear_faults("no_answer")
    assert command(port, "AT") == b"AT\r\r\nOK\r\n"


def test_cms_error_n_fails_every_send():
    network, port, _ = open_port("fault=cms_error:38")
    command(port, "ATE0;+CMEE=1")
    assert _send(port).endswith(b"\r\n+CMS ERROR: 38\r\n")
    assert network.log == []
    network.modem("m0").clear_faults()
    assert b"+CMGS: 1" in _send(port)


@pytest.mark.parametrize("spec,code", [("sim_busy:2", 14), ("sim_busy:2:515", 515)])
def test_sim_busy_fails_the_next_k_commands(spec, code):
    network, port, _ = open_port(f"fault={spec}")
    assert command(port, "ATE0") == b"ATE0\r\r\nERROR\r\n"  # busy (CMEE still 0: plain ERROR)
    assert command(port, "ATE0") == b"ATE0\r\r\nERROR\r\n"
    assert command(port, "ATE0;+CMEE=1") == b"ATE0;+CMEE=1\r\r\nOK\r\n"
    network.modem("m0").inject("sim_busy", 1, code)
    assert command(port, "AT+CIMI") == f"\r\n+CME ERROR: {code}\r\n".encode()
    assert command(port, "AT+CIMI").endswith(b"\r\nOK\r\n")


def test_sim_busy_uses_the_profile_code_at_run_time():
    d = Driver("e3372")
    d.at("ATE0;+CMEE=1")
    d.modem.inject("sim_busy", 2)
    assert d.at("AT+CIMI") == "\r\n+CME ERROR: 515\r\n"
    assert d.at("AT+CIMI") == "\r\n+CME ERROR: 515\r\n"
    assert d.at("AT+CIMI").endswith("OK\r\n")


def test_slow_submit_answers_only_after_the_clock_advances():
    d = Driver()
    d.at("ATE0")
    d.modem.inject("slow_submit", 60)
    assert d.submit("+15551230000", "slow") == [""]
    assert d.at("AT") == ""  # the modem is still busy with the send
    assert d.advance(59) == ""
    assert d.advance(1) == "\r\n+CMGS: 1\r\n\r\nOK\r\n\r\nOK\r\n"
    assert len(d.network.log) == 1  # it was sent even though the answer was late


def test_slow_submit_from_the_url_over_a_port():
    network, port, _ = open_port("fault=slow_submit:30")
    command(port, "ATE0")
    (part,) = encode_submit("+15551230000", "slow")
    command(port, f"AT+CMGS={part.tpdu_length}")
    port.write(part.pdu_hex.encode() + b"\x1a")
    network.advance(29)
    assert port.in_waiting == 0
    network.advance(1)
    assert read_until(port) == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


def test_unplug_makes_the_port_raise_and_replug_lets_a_reopen_succeed():
    network, port, url = open_port()
    modem = network.modem("m0")
    imsi, imei = modem.imsi, modem.imei
    modem.inject("unplug")
    with pytest.raises(serial.SerialException):
        port.read(1)
    with pytest.raises(serial.SerialException):
        port.write(b"AT\r")
    port.close()
    with pytest.raises(serial.SerialException, match="unplugged"):
        serial.serial_for_url(url, timeout=0.5)
    modem.replug()
    again = serial.serial_for_url(url, timeout=0.5)
    command(again, "ATE0")
    assert command(again, "AT+CIMI") == f"\r\n{imsi}\r\n\r\nOK\r\n".encode()
    assert command(again, "AT+CGSN") == f"\r\n{imei}\r\n\r\nOK\r\n".encode()
    with pytest.raises(serial.SerialException):
        port.open()  # the old port object reopens only if the modem is free
    again.close()


def test_unplug_wakes_a_blocked_reader():
    import threading

    network, port, _ = open_port(timeout=None)
    errors = []

    def reader():
        try:
            port.read(1)
        except serial.SerialException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader, name="sim-test-reader")
    thread.start()
    network.modem("m0").unplug()
    thread.join(5)
    assert not thread.is_alive() and errors


def test_no_network_shows_searching_and_sends_fail_with_cms_331():
    network, port, _ = open_port("fault=no_network&profile=ec25")
    command(port, "ATE0;+CMEE=1")
    assert command(port, "AT+CREG?") == b"\r\n+CREG: 0,2\r\n\r\nOK\r\n"
    assert command(port, "AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n"
    assert command(port, "AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert command(port, "AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    assert _send(port).endswith(b"+CMS ERROR: 331\r\n")
    network.phone("+447700900123").send(network.modem("m0").number, "waits in the network")
    network.advance(1)
    assert b"+CMTI" not in command(port, "AT")
    network.modem("m0").clear_faults("no_network")
    network.advance(network.retry_interval)
    assert b'+CMTI: "SM",0' in command(port, "AT")


def test_smsc_unknown_empties_csca_and_sends_fail_with_cms_330():
    network, port, _ = open_port("fault=smsc_unknown")
    command(port, "ATE0;+CMEE=1")
    assert command(port, "AT+CSCA?") == b'\r\n+CSCA: "",129\r\n\r\nOK\r\n'
    assert _send(port).endswith(b"+CMS ERROR: 330\r\n")


def test_storage_full_shows_in_cpms_holds_new_sms_and_drains():
    network, port, _ = open_port("fault=storage_full&profile=sim800")
    command(port, "ATE0;+CMEE=1")
    assert command(port, "AT+CPMS?").startswith(b'\r\n+CPMS: "SM",30,30')
    assert command(port, "AT+CMGW=20") == b"\r\n+CMS ERROR: 322\r\n"
    network.phone("+447700900123").send(network.modem("m0").number, "after the drain")
    network.advance(1)
    assert b"+CMTI" not in command(port, "AT")
    command(port, "AT+CMGD=1,4")
    network.advance(network.retry_interval)
    out = command(port, "AT")
    assert b'+CMTI: "SM",1' in out
    listing = command(port, "AT+CMGL=4").decode().split("\r\n")
    assert decode_pdu(listing[2]).text == "after the drain"


def test_huawei_announces_a_full_store():
    d = Driver("e3372")
    d.modem.inject("storage_full")
    d.network.phone("+447700900123").send(d.modem.number, "no room")
    assert d.advance(1) == '\r\n^SMMEMFULL: "SM"\r\n'


def test_urc_in_response_puts_the_cmti_inside_the_next_answer():
    network, port, _ = open_port("fault=urc_in_response")
    command(port, "ATE0")
    network.phone("+447700900123").send(network.modem("m0").number, "sneaky")
    network.advance(0)
    assert command(port, "AT+CSQ") == b'\r\n+CSQ: 20,99\r\n\r\n+CMTI: "SM",1\r\n\r\nOK\r\n'


def test_garbage_puts_non_utf8_bytes_before_the_next_answers():
    network, port, _ = open_port("fault=garbage:2")
    first = command(port, "ATE0")
    second = command(port, "AT")
    third = command(port, "AT")
    assert first.startswith(b"ATE0\r\xff\xfe") and second.startswith(b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        second.decode("utf-8")
    assert third == b"\r\nOK\r\n"


def test_any_urc_can_be_emitted_at_run_time_and_placed_inside_a_response():
    network, port, _ = open_port()
    command(port, "ATE0")
    modem = network.modem("m0")
    modem.emit_urc("UNDER-VOLTAGE WARNING")
    assert read_until(port, b"WARNING\r\n") == b"\r\nUNDER-VOLTAGE WARNING\r\n"
    modem.inject("urc_in_response")
    modem.emit_urc("+CMTI: \"SM\",7")
    assert command(port, "AT+CGMI") == b'\r\nMSISDN-GATEWAY\r\n\r\n+CMTI: "SM",7\r\n\r\nOK\r\n'
