"""The AT state machine, driven directly: bytes in, bytes out, time passed in."""
import pytest
from sim_harness import Driver

from modem.pdu.codec import decode_pdu, encode_deliver, encode_submit
from modem.sim.card import SimCard
from modem.sim.machine import ModemMachine
from modem.sim.radio import NullUplink
from modem.sim.profiles import get_profile
from fakes import set_registration


def test_a_machine_works_on_its_own_without_a_network():
    machine = ModemMachine(get_profile("generic"), SimCard(imsi="001010123456789", iccid="8901"), "350000000000001")
    machine.power_on(0.0)
    machine.read_output()
    machine.receive(b"ATE0\r", 0.0)
    assert machine.read_output() == b"ATE0\r\r\nOK\r\n"
    (part,) = encode_submit("+15551230000", "hi")
    machine.receive(f"AT+CMGS={part.tpdu_length}\r".encode(), 0.0)
    assert machine.read_output() == b"\r\n> "
    machine.receive(part.pdu_hex.encode() + b"\x1a", 0.0)
    assert machine.read_output() == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    assert isinstance(machine.radio.uplink, NullUplink) and machine.radio.uplink.submitted[0][1].text == "hi"


def test_echo_is_on_at_power_on_and_ate0_turns_it_off():
    d = Driver()
    assert d.at("AT") == "AT\r\r\nOK\r\n"
    assert d.at("ATE0") == "ATE0\r\r\nOK\r\n"
    assert d.at("AT") == "\r\nOK\r\n"
    assert d.at("ATE1") == "\r\nOK\r\n"
    assert d.at("AT") == "AT\r\r\nOK\r\n"


def test_input_split_across_writes_and_lowercase_and_chained_commands_work():
    d = Driver()
    d.at("ATE0")
    assert d.send(b"a") == b"" and d.send(b"t+cgmi;+cgmm\r") == b"\r\nMSISDN-GATEWAY\r\nSIMULATED MODEM\r\n\r\nOK\r\n"


def test_lines_not_starting_with_at_are_ignored():
    d = Driver()
    d.at("ATE0")
    assert d.at("hello") == ""


@pytest.mark.parametrize("cmee,expected", [
    (0, "\r\nERROR\r\n"), (1, "\r\n+CME ERROR: 16\r\n"), (2, "\r\n+CME ERROR: incorrect password\r\n"),
])
def test_cmee_chooses_how_errors_are_reported(cmee, expected):
    d = Driver(pin="1234")
    d.at("ATE0")
    d.at(f"AT+CMEE={cmee}")
    assert d.at('AT+CPIN="0000"') == expected


def test_a_locked_sim_wants_its_pin_and_three_wrong_pins_need_the_puk():
    d = Driver(pin="1234")
    d.at("ATE0;+CMEE=1")
    assert "+CPIN: SIM PIN" in d.at("AT+CPIN?")
    assert d.at("AT+CIMI") == "\r\n+CME ERROR: 11\r\n"
    assert "+CREG: 0,0" in d.at("AT+CREG?")
    for _ in range(3):
        assert d.at('AT+CPIN="9999"') == "\r\n+CME ERROR: 16\r\n"
    assert "+CPIN: SIM PUK" in d.at("AT+CPIN?")
    assert d.at('AT+CPIN="1234"') == "\r\n+CME ERROR: 3\r\n"
    assert d.at("AT+CMGL=4") == "\r\n+CMS ERROR: 316\r\n"
    assert d.at('AT+CPIN="11111111","4321"') == "\r\n+CME ERROR: 16\r\n"
    assert d.at('AT+CPIN="12345678","4321"') == "\r\nOK\r\n"
    assert "+CPIN: READY" in d.at("AT+CPIN?")
    assert d.at("AT+CIMI") == f"\r\n{d.modem.imsi}\r\n\r\nOK\r\n"


def test_the_right_pin_unlocks_and_the_pin_is_asked_again_after_a_power_cycle():
    d = Driver(pin="1234")
    d.at("ATE0;+CMEE=1")
    assert d.at('AT+CPIN="1234"') == "\r\nOK\r\n"
    assert "+CREG: 0,1" in d.at("AT+CREG?")
    d.modem.unplug()
    d.modem.replug()
    d.machine.read_output()
    d.at("ATE0")
    assert "SIM PIN" in d.at("AT+CPIN?")


@pytest.mark.parametrize("profile,command,line", [
    ("generic", "AT+CCID", "+CCID: {iccid}"),
    ("generic", "AT+ICCID", "+ICCID: {iccid}"),
    ("sim800", "AT+CCID", "{iccid}"),
    ("sim7600", "AT+CICCID", "+ICCID: {iccid}"),
    ("ec25", "AT+QCCID", "+QCCID: {iccid}"),
    ("e3372", "AT^ICCID?", "^ICCID: {iccid}"),
])
def test_each_profile_reads_the_iccid_its_own_way(profile, command, line):
    d = Driver(profile)
    d.at("ATE0")
    iccid = d.machine.card.iccid
    assert d.at(command) == f"\r\n{line.format(iccid=iccid)}\r\n\r\nOK\r\n"


@pytest.mark.parametrize("profile,unknown", [
    ("generic", "ERROR"), ("sim800", "ERROR"), ("ec25", "ERROR"), ("e3372", "COMMAND NOT SUPPORT"),
])
def test_unknown_commands_get_the_profiles_error(profile, unknown):
    d = Driver(profile)
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+QCCIDX") == f"\r\n{unknown}\r\n"
    assert d.at("AT#FOO") == f"\r\n{unknown}\r\n"


def test_identity_commands_answer_from_the_modem_and_its_sim():
    d = Driver("ec25", number="+447700900001", imei="867698041234564", imsi="234150123456789")
    d.at("ATE0")
    assert d.at("AT+CGSN") == "\r\n867698041234564\r\n\r\nOK\r\n"
    assert d.at("AT+CIMI") == "\r\n234150123456789\r\n\r\nOK\r\n"
    assert d.at("AT+CGMI") == "\r\nQuectel\r\n\r\nOK\r\n"
    assert d.at("AT+CGMM") == "\r\nEC25\r\n\r\nOK\r\n"
    assert "Revision: EC25" in d.at("AT+CGMR")
    assert d.at("AT+CNUM") == '\r\n+CNUM: "","+447700900001",145\r\n\r\nOK\r\n'
    assert d.at("AT+CSCA?") == '\r\n+CSCA: "+10000000000",145\r\n\r\nOK\r\n'
    assert d.at("AT+CSQ") == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"


def test_a_sim_without_its_number_answers_cnum_with_nothing():
    d = Driver(number_on_sim=False)
    d.at("ATE0")
    assert d.at("AT+CNUM") == "\r\nOK\r\n"


def test_cops_answers_in_numeric_format_after_cops_3_2():
    d = Driver("ec25", plmn="23415")
    d.at("ATE0")
    assert d.at("AT+COPS?") == '\r\n+COPS: 0,0,"SIMNET",7\r\n\r\nOK\r\n'
    assert d.at("AT+COPS=3,2") == "\r\nOK\r\n"
    assert d.at("AT+COPS?") == '\r\n+COPS: 0,2,"23415",7\r\n\r\nOK\r\n'


@pytest.mark.parametrize("state,code", [("home", 1), ("roaming", 5), ("searching", 2), ("denied", 3)])
def test_creg_and_cereg_report_the_registration_state(state, code):
    d = Driver("ec25", registration=state)
    d.at("ATE0")
    assert d.at("AT+CREG?") == f"\r\n+CREG: 0,{code}\r\n\r\nOK\r\n"
    assert d.at("AT+CEREG?") == f"\r\n+CEREG: 0,{code}\r\n\r\nOK\r\n"


def test_a_2g_modem_does_not_know_cereg_and_registration_changes_are_announced():
    d = Driver("sim800")
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+CEREG?") == "\r\nERROR\r\n"
    d.at("AT+CREG=1")
    set_registration(d.modem, "roaming")
    assert d.machine.read_output() == b"\r\n+CREG: 5\r\n"


def test_text_mode_is_refused_and_pdu_mode_accepted():
    d = Driver()
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+CMGF=0") == "\r\nOK\r\n"
    assert d.at("AT+CMGF=1") == "\r\n+CMS ERROR: 303\r\n"


def test_escape_cancels_a_pdu_being_typed():
    d = Driver()
    d.at("ATE0")
    assert d.at("AT+CMGS=20") == "\r\n> "
    assert d.send(b"0011\x1b") == b"\r\nOK\r\n"
    assert d.network.log == []


def test_a_pdu_whose_length_does_not_match_cmgs_is_rejected():
    d = Driver()
    d.at("ATE0;+CMEE=1")
    (part,) = encode_submit("+15551230000", "hi")
    d.at(f"AT+CMGS={part.tpdu_length + 1}")
    assert d.send(part.pdu_hex.encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"


def test_a_pdu_without_an_smsc_field_is_accepted():
    d = Driver()
    d.at("ATE0")
    (part,) = encode_submit("+15551230000", "bare tpdu")
    d.at(f"AT+CMGS={part.tpdu_length}")
    assert d.send(part.pdu_hex[2:].encode() + b"\x1a") == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


def test_message_references_count_up_per_part():
    d = Driver()
    d.at("ATE0")
    answers = d.submit("+15551230000", "x" * 200)
    assert answers == ["\r\n+CMGS: 1\r\n\r\nOK\r\n", "\r\n+CMGS: 2\r\n\r\nOK\r\n"]


def _stored(d, text="hello"):
    pdu = encode_deliver("+447700900123", text, timestamp=d.network.clock.now())[0]
    assert d.machine.radio.deliver_sms(pdu, d.now())
    return pdu


def test_a_received_sms_is_stored_announced_read_listed_and_deleted():
    d = Driver("sim800")
    d.at("ATE0;+CMEE=1")
    pdu = _stored(d)
    assert d.machine.read_output() == b'\r\n+CMTI: "SM",1\r\n'
    assert d.at("AT+CPMS?").startswith('\r\n+CPMS: "SM",1,30')
    assert d.at("AT+CMGR=1") == f"\r\n+CMGR: 0,,{len(pdu) // 2 - 8}\r\n{pdu}\r\n\r\nOK\r\n"
    assert d.at("AT+CMGL=4").startswith("\r\n+CMGL: 1,1,,")
    assert d.at("AT+CMGD=1") == "\r\nOK\r\n"
    assert d.at("AT+CMGL=4") == "\r\nOK\r\n"
    assert d.at("AT+CMGR=1") == "\r\nOK\r\n"  # SIM800: an empty slot reads as nothing


def test_quectel_numbers_slots_from_zero_and_an_empty_slot_is_an_error():
    d = Driver("ec25")
    d.at("ATE0;+CMEE=1")
    _stored(d)
    assert d.machine.read_output() == b'\r\n+CMTI: "SM",0\r\n'
    assert d.at("AT+CMGR=5") == "\r\n+CMS ERROR: 321\r\n"
    assert d.at("AT+CMGD=0,4") == "\r\nOK\r\n"
    assert d.machine.card.used == 0


def test_cmgl_0_lists_unread_only_and_marks_them_read():
    d = Driver()
    d.at("ATE0")
    _stored(d, "one")
    _stored(d, "two")
    d.machine.read_output()
    d.at("AT+CMGR=1")
    listing = d.at("AT+CMGL=0")
    assert listing.count("+CMGL:") == 1 and "+CMGL: 2,0" in listing
    assert d.at("AT+CMGL=0") == "\r\nOK\r\n"


def test_cnmi_mode_2_delivers_directly_and_expects_cnma_in_phase_2_plus():
    d = Driver()
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+CSMS=1") == "\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"
    d.at("AT+CNMI=2,2,0,0,0")
    pdu = _stored(d, "direct")
    out = d.machine.read_output().decode()
    assert out == f"\r\n+CMT: ,{len(pdu) // 2 - 8}\r\n{pdu}\r\n"
    assert decode_pdu(out.split("\r\n")[2]).text == "direct"
    assert d.machine.card.used == 0
    assert d.at("AT+CNMA") == "\r\nOK\r\n"
    assert d.at("AT+CNMA") == "\r\n+CMS ERROR: 340\r\n"


def test_in_phase_2_the_modem_acknowledges_direct_deliveries_itself_and_cnma_is_refused():
    d = Driver()
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+CSMS?") == "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"  # the power-on service
    d.at("AT+CNMI=2,2,0,0,0")
    d.network.phone("+447700900123").send(d.modem.number, "one")
    d.network.phone("+447700900123").send(d.modem.number, "two")
    out = d.advance(0)
    assert out.count("+CMT:") == 2  # nothing waits for an acknowledgement
    assert d.at("AT+CNMA") == "\r\n+CMS ERROR: 340\r\n"


def test_a_model_without_phase_2_plus_refuses_csms_1():
    d = Driver()
    d.machine.profile = get_profile("generic", phase2plus=False)
    d.at("ATE0;+CMEE=1")
    assert d.at("AT+CSMS=1") == "\r\n+CMS ERROR: 303\r\n"
    assert d.at("AT+CSMS?") == "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"


def test_a_refused_direct_delivery_goes_back_to_the_network_and_comes_again():
    d = Driver()
    d.at("ATE0;+CMEE=1;+CSMS=1")
    d.at("AT+CNMI=2,2,0,0,0")
    d.network.phone("+447700900123").send(d.modem.number, "again")
    assert "+CMT:" in d.advance(0)
    assert d.at("AT+CNMA=2") == "\r\nOK\r\n"
    assert d.at("AT+CNMI?") == "\r\n+CNMI: 2,2,0,0,0\r\n\r\nOK\r\n"  # routing kept
    assert "+CMT:" in d.advance(d.network.retry_interval)


def test_a_direct_status_report_waits_for_cnma_in_phase_2_plus_and_comes_again_if_refused():
    d = Driver()
    d.at("ATE0;+CMEE=1;+CSMS=1")
    d.at("AT+CNMI=2,1,0,1,0")
    d.submit("+15551230000", "report me")
    assert d.advance(0).startswith("\r\n+CDS: ")
    d.submit("+15551230000", "and me")
    assert "+CDS:" not in d.advance(0)  # one unacknowledged direct delivery at a time
    assert d.at("AT+CNMA=2") == "\r\nOK\r\n"
    assert d.advance(d.network.retry_interval).count("+CDS:") == 1
    assert d.at("AT+CNMA") == "\r\nOK\r\n"
    assert d.advance(d.network.retry_interval).count("+CDS:") == 1


def test_an_unacknowledged_cmt_stops_direct_routing_and_goes_back_to_the_network():
    d = Driver()
    d.at("ATE0;+CMEE=1;+CSMS=1")
    d.at("AT+CNMI=2,2,0,0,0")
    d.network.phone("+447700900123").send(d.modem.number, "ack me")
    assert "+CMT:" in d.advance(0)
    d.advance(d.machine.profile.cnma_timeout)
    assert d.at("AT+CNMI?") == "\r\n+CNMI: 2,0,0,0,0\r\n\r\nOK\r\n"
    d.advance(d.network.retry_interval)  # the SMSC retries; now stored without notice
    assert "ack me" in decode_pdu(d.at("AT+CMGL=4").split("\r\n")[2]).text


def test_status_reports_come_as_cds_or_as_stored_cdsi():
    d = Driver()
    d.at("ATE0")
    d.at("AT+CNMI=2,1,0,1,0")
    d.submit("+15551230000", "report me")
    out = d.advance(0)
    assert out.startswith("\r\n+CDS: ")
    assert decode_pdu(out.split("\r\n")[2]).delivered
    d.at("AT+CNMI=2,1,0,2,0")
    d.submit("+15551230000", "store the report")
    assert d.advance(0) == '\r\n+CDSI: "SM",1\r\n'


def test_huawei_spams_rssi_and_hcsq_until_curc_0():
    d = Driver("e3372")
    d.at("ATE0")
    spam = d.advance(10)
    assert "^RSSI: 20" in spam and '^HCSQ: "LTE"' in spam and "^BOOT:" in spam
    assert d.at("AT^CURC=0") == "\r\nOK\r\n"
    assert d.advance(30) == ""


def test_boot_lines_follow_the_profile():
    d = Driver("sim800")
    d.modem.unplug()
    d.modem.replug()
    assert d.machine.read_output() == b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"


def test_test_commands_and_noop_settings_answer_ok():
    d = Driver()
    d.at("ATE0")
    for line in ("AT+CMGS=?", "AT+CNMI=?", 'AT+CSCS="GSM"', "AT+CSMP=49,167,0,0", "AT+CLIP=1", "ATZ", "AT&F"):
        assert d.at(line).endswith("\r\nOK\r\n"), line
