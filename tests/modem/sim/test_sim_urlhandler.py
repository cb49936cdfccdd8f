"""modemsim:// through serial.serial_for_url: registration, options, port behaviour."""
import threading

import pytest
import serial
from sim_harness import command, open_port, read_until

import modem.sim
from modem.pdu.codec import decode_pdu, encode_submit


def test_register_is_idempotent_and_import_registers_nothing():
    packages = serial.protocol_handler_packages
    modem.sim.register()
    modem.sim.register()
    assert packages.count(modem.sim.HANDLER_PACKAGE) == 1


def test_url_options_describe_the_modem_it_creates():
    network, port, _ = open_port(
        "profile=quectel&number=%2B447700900001&imsi=234150000000001&imei=867698041234564&plmn=23415&signal=25"
    )
    m = network.modem("m0")
    assert (m.machine.profile.name, m.number, m.imsi, m.imei) == ("ec25", "+447700900001", "234150000000001",
                                                                 "867698041234564")
    command(port, "ATE0")
    assert command(port, "AT+CSQ") == b"\r\n+CSQ: 25,99\r\n\r\nOK\r\n"
    assert command(port, "AT+COPS=3,2;+COPS?") == b'\r\n+COPS: 0,2,"23415",7\r\n\r\nOK\r\n'


def test_pin_registration_and_no_number_options():
    network, port, _ = open_port("pin=1234&registration=roaming&no_number")
    command(port, "ATE0;+CMEE=1")
    assert command(port, "AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    command(port, 'AT+CPIN="1234"')
    assert command(port, "AT+CREG?") == b"\r\n+CREG: 0,5\r\n\r\nOK\r\n"
    assert command(port, "AT+CNUM") == b"\r\nOK\r\n"


@pytest.mark.parametrize("query,message", [
    ("colour=blue", "unknown modemsim option"),
    ("profile=nokia", "unknown modem profile"),
    ("fault=meteor", "unknown fault"),
    ("signal=loud", "cannot create"),
])
def test_bad_urls_raise_serial_exception(query, message):
    with pytest.raises(serial.SerialException, match=message):
        open_port(query)


def test_a_modem_is_open_once_at_a_time_and_reopens_after_close():
    network, port, url = open_port()
    with pytest.raises(serial.SerialException, match="already open"):
        serial.serial_for_url(url)
    port.close()
    assert not port.is_open
    again = serial.serial_for_url(url, timeout=0.5)
    assert again.is_open and command(again, "AT") == b"AT\r\r\nOK\r\n"
    again.close()


def test_read_honours_timeout_and_in_waiting_counts_pending_bytes():
    network, port, _ = open_port(timeout=0)
    assert port.read(10) == b""
    port.write(b"AT\r")
    assert port.in_waiting == len(b"AT\r\r\nOK\r\n")
    assert port.read(100) == b"AT\r\r\nOK\r\n"
    port.timeout = 0.02
    assert port.read(1) == b""


def test_a_blocking_reader_thread_gets_urcs_as_the_clock_advances():
    network, port, _ = open_port(timeout=None)
    command(port, "ATE0")  # a finite read: the answer is there already
    received = []
    thread = threading.Thread(target=lambda: received.append(port.read(len(b'\r\n+CMTI: "SM",1\r\n'))),
                              name="sim-test-reader")
    thread.start()
    network.phone("+447700900123").send(network.modem("m0").number, "wake up")
    network.advance(0)
    thread.join(5)
    assert received == [b'\r\n+CMTI: "SM",1\r\n']


def test_cancel_read_and_close_release_a_blocked_reader():
    network, port, _ = open_port(timeout=None)
    results = []
    thread = threading.Thread(target=lambda: results.append(port.read(1)), name="sim-test-reader")
    thread.start()
    while not thread.is_alive():
        pass
    port.cancel_read()
    port.close()
    thread.join(5)
    assert not thread.is_alive() and results in ([b""], [])


def test_a_full_send_and_its_status_report_over_the_port():
    network, port, _ = open_port()
    command(port, "ATE0;+CMEE=1;+CNMI=2,1,0,1,0")
    (part,) = encode_submit("+447700900123", "over the wire")
    assert command(port, f"AT+CMGS={part.tpdu_length}") == b"\r\n> "
    port.write(part.pdu_hex.encode() + b"\x1a")
    assert read_until(port) == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    network.advance(0)
    report = b""
    while report.count(b"\r\n") < 3:
        report += read_until(port, b"\r\n")
    assert report.startswith(b"\r\n+CDS: ")
    assert decode_pdu(report.split(b"\r\n")[2].decode()).delivered
    assert network.phone("+447700900123").texts == ["over the wire"]


def test_simulator_port_settings_are_accepted_like_a_real_port():
    modem.sim.register()
    modem.sim.create_network("settings", clock=modem.sim.ManualClock())
    port = serial.serial_for_url("modemsim://m9?network=settings", baudrate=115200, rtscts=True, dsrdtr=True,
                                 xonxoff=False, timeout=0.1)
    port.baudrate = 9600
    port.reset_input_buffer()
    port.flush()
    assert port.cts and port.dsr and port.cd and not port.ri and port.out_waiting == 0
    port.close()


def test_a_port_is_at_rest_only_while_its_reader_waits_with_everything_read():
    network, port, _ = open_port(timeout=None)
    rested, reads = threading.Event(), []
    port.on_rest(rested.set)
    assert not port.at_rest  # no reader yet: nothing proves the output was taken

    reader = threading.Thread(target=lambda: reads.append(port.read(6)))
    reader.start()
    assert rested.wait(5) and port.at_rest  # blocked in read() with nothing to give
    rested.clear()

    port.write(b"AT\r")  # the modem answers at once: no longer at rest
    reader.join(5)
    assert reads == [b"AT\r\r\nO"] and not port.at_rest  # "K\r\n" still waits
    assert port.read(3) == b"K\r\n"

    port.close()
    assert port.at_rest  # a closed port has nothing more to give
