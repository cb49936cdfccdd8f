"""The driver over a scripted port: vendor variations, malformed answers, SIM states, parsers."""
import logging

import pytest

from modem.at import commands as at
from modem.driver import Modem
from modem.at.engine import Urc
from modem.exceptions import ModemGone, PukRequired, SendRejected, SimNotReady
from modem.pdu.codec import encode_status_report
from modem.sim import ManualClock
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected, ScriptedPort
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected, ScriptedPort
from virtual_time import VirtualTime

OK = b"\r\nOK\r\n"
ANSWERS = {  # a Quectel-like modem, roaming, answering COPS in long alphanumeric form
    r"AT.*": OK,  # the first rule, so the least preferred
    r"AT\+CPIN\?": b"\r\n+CPIN: READY\r\nOK\r\n",
    r'AT\+CPMS="SM","SM","SM"': b"\r\n+CPMS: 1,30,1,30,1,30\r\nOK\r\n",
    r"AT\+CIMI": b"\r\n310260123456789\r\nOK\r\n",
    r"AT\+CGMI": b"\r\nQuectel\r\nOK\r\n",
    r"AT\+CGMM": b"\r\nEC25\r\nOK\r\n",
    r"AT\+CGMR": b"\r\nRevision: EC25EFAR06A06M4G\r\nOK\r\n",
    r"AT\+CGSN": b'\r\n+CGSN: "867123456789012"\r\nOK\r\n',
    r"AT\+CCID": b"\r\nERROR\r\n",
    r"AT\+QCCID": b"\r\n+QCCID: 8901410321111851072F\r\nOK\r\n",
    r"AT\+CNUM": b'\r\n+CNUM: ,"15551230000",129\r\nOK\r\n',
    r"AT\+CSCA\?": b'\r\n+CSCA: "+12063130004",145\r\nOK\r\n',
    r"AT\+CREG\?": b"\r\n+CREG: 1,5\r\nOK\r\n",
    r"AT\+CEREG\?": b'\r\n+CEREG: 2,5,"1A2B","01C2D3E4",7\r\nOK\r\n',
    r"AT\+COPS\?": b'\r\n+COPS: 0,0,"T-Mobile",7\r\nOK\r\n',
    r"AT\+CPMS\?": b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\nOK\r\n',
    r"AT\+CSQ": b"\r\n+CSQ: 31,99\r\nOK\r\n",
}


def scripted():
    port = ScriptedPort()
    for pattern, answer in ANSWERS.items():
        port.on(pattern, answer)
    return port


@pytest.fixture
def make_modem():
    modems = []

    def make(port, **config):
        sms, reports, warnings = Collected(), Collected(), Collected()
        modem = Modem(ModemConfig(url="scripted", name="s", **config),
                      clock=ManualClock(), opener=lambda cfg: port, on_sms=sms.append,
                      on_report=reports.append, on_power_warning=warnings.append,
                      waits=VirtualTime(port))
        modem.sms, modem.reports, modem.power_warnings = sms, reports, warnings
        modems.append(modem)
        modem.open()
        return modem

    yield make
    for modem in modems:
        modem.close()


def test_identity_survives_vendor_variations(make_modem):
    modem = make_modem(scripted())
    identity, status = modem.identity, modem.status
    assert (identity.imei, identity.imsi, identity.iccid) == (
        "867123456789012", "310260123456789", "8901410321111851072")
    assert identity.revision == "EC25EFAR06A06M4G" and identity.own_number == "15551230000"
    assert identity.home_network == "310260"  # from the IMSI: COPS gave no numeric operator
    assert (status.registration, status.signal_dbm, status.operator) == ("roaming", -51, None)


def test_a_rejected_cnmi_falls_back_to_the_next_setting(make_modem):
    port = scripted().on(r"AT\+CSMS=1", b"\r\n+CSMS: 1,1,1\r\nOK\r\n")
    port.on(r"AT\+CNMI=2,1,0,1,0", b"\r\n+CMS ERROR: 303\r\n")
    modem = make_modem(port)
    cnmi = [c for c in port.commands() if c.startswith("AT+CNMI")]
    assert cnmi == ["AT+CNMI=2,1,0,1,0", "AT+CNMI=2,1,0,2,0"]
    assert modem.routing.phase2plus and modem.routing.cnmi == "2,1,0,2,0"


def test_a_sim_asking_for_its_puk_is_reported(make_modem):
    with pytest.raises(PukRequired):
        make_modem(scripted().expect("AT+CPIN?", b"\r\n+CPIN: SIM PUK\r\nOK\r\n"))


def test_a_missing_sim_is_reported(make_modem):
    with pytest.raises(SimNotReady, match="not ready"):
        make_modem(scripted().expect("AT+CPIN?", b"\r\n+CME ERROR: 10\r\n"))


def test_a_later_part_rejected_reports_the_parts_already_sent(make_modem):
    port = scripted()
    port.on(r"AT\+CMGS=\d+", b"\r\n> ")
    answers = iter([b"\r\n+CMGS: 5\r\n\r\nOK\r\n", b"\r\n+CMS ERROR: 500\r\n"])
    port.on(rb"[0-9A-F]+\x1a", lambda match: next(answers))
    modem = make_modem(port)
    with pytest.raises(SendRejected) as caught:
        modem.send("+15551234567", "z" * 200)
    assert caught.value.cms_code == 500
    assert [r.reference for r in caught.value.accepted] == [5]


def test_a_report_that_overtakes_its_cmgs_answer_reaches_on_report_with_its_reference(make_modem):
    report = encode_status_report(7, "+15551234567", 0, timestamp=ManualClock().now())
    port = scripted()
    port.on(r"AT\+CMGS=\d+", b"\r\n> ")
    port.on(rb"[0-9A-F]+\x1a", b"\r\n+CDS: 25\r\n" + report.encode() + b"\r\n+CMGS: 7\r\n\r\nOK\r\n")
    modem = make_modem(port)
    [receipt] = modem.send("+15551234567", "hello")
    delivered = modem.reports.wait()
    assert receipt.reference == 7  # the +CMGS answer is not lost to the report before it
    assert (delivered.modem, delivered.reference, delivered.recipient, delivered.outcome) == (
        modem.name, receipt.reference, receipt.destination, "delivered")


def test_a_modem_restart_is_noticed_and_the_modem_initialised_again(make_modem):
    port = scripted()
    modem = make_modem(port)
    assert port.commands().count("AT+CMGF=0") == 1
    port.push(b"\r\nRDY\r\n")
    port.writes.wait_until(lambda writes: writes.count(b"AT+CMGF=0\r") == 2)


def test_a_power_notice_is_logged_and_kept_as_the_last_power_warning(make_modem, caplog):
    modem = make_modem(scripted())
    assert modem.power_warning is None
    with caplog.at_level(logging.ERROR, logger="modem.driver"):
        modem.engine._port.push(b"\r\nUNDER-VOLTAGE WARNNING\r\n")
        warning = modem.power_warnings.wait()
    assert (warning.text, warning.at) == ("UNDER-VOLTAGE WARNNING", ManualClock().now())
    assert modem.power_warning is warning
    assert "UNDER-VOLTAGE WARNNING" in caplog.text


def test_sending_on_a_modem_that_is_not_open_is_modem_gone():
    with pytest.raises(ModemGone):
        Modem(ModemConfig(url="scripted")).send("+15551234567", "hello")


# ---------------------------------------------------------------- parsers
@pytest.mark.parametrize("text, fields", [
    ('0,2,"20810",7', ["0", "2", "20810", "7"]),
    ('"SM",3', ["SM", "3"]),
    (',"+33612345678",145', ["", "+33612345678", "145"]),
    ('"a,b",1,', ["a,b", "1", ""]),
])
def test_arguments_are_split_with_quotes_respected(text, fields):
    assert at.split_args(text) == fields


@pytest.mark.parametrize("line, dbm", [
    ("+CSQ: 0,99", -113), ("+CSQ: 31,0", -51), ("+CSQ: 99,99", None), ("+CSQ: junk", None)])
def test_csq_is_converted_to_dbm(line, dbm):
    assert at.signal_dbm([line]) == dbm


@pytest.mark.parametrize("cs, eps, state", [
    ("searching", "home", "home"), ("roaming", None, "roaming"), ("denied", "searching", "denied"),
    (None, None, "unknown"), ("not_registered", "unknown", "not_registered")])
def test_circuit_and_lte_registration_combine(cs, eps, state):
    assert at.combined_registration(cs, eps) == state


@pytest.mark.parametrize("imsi, network", [
    ("208150123456789", "20815"), ("310260123456789", "310260"), ("12", None), (None, None)])
def test_the_home_network_falls_back_to_the_imsi(imsi, network):
    assert at.network_from_imsi(imsi) == network


@pytest.mark.parametrize("lines, expected", [
    (["+CMGS: 12"], 12), (["+CMGS:"], None), ([], None), (["+CMGS: 200,\"2024\""], 200)])
def test_malformed_cmgs_answers_give_no_reference(lines, expected):
    assert at.message_reference(lines) == expected


def test_listings_and_reads_pair_headers_with_their_pdu_lines():
    lines = ["+CMGL: 0,1,,23", "07AA", "+CMGL: 4,0,,20", "07BB", "+CMGL: 9,0,,20"]
    assert at.listed_pdus(lines) == [(0, "07AA"), (4, "07BB")]
    assert at.read_pdu(["+CMGR: 0,,23", "07CC"]) == "07CC" and at.read_pdu(["+CMGR: 0,,0"]) is None


@pytest.mark.parametrize("lines, usage", [
    (['+CPMS: "SM",3,30,"SM",3,30,"SM",3,30'], (3, 30)), (["+CPMS: 30,30,30,30,30,30"], (30, 30)),
    (["+CPMS: bogus"], None)])
def test_storage_usage_reads_either_cpms_form(lines, usage):
    assert at.storage_usage(lines) == usage


def test_a_circuit_domain_urc_does_not_unregister_an_lte_only_modem(make_modem):
    modem = make_modem(scripted())  # CREG roaming, CEREG roaming
    modem._on_urc(Urc("+CREG", "+CREG: 0", "0"))
    assert modem.status.registration == "roaming"
    modem._on_urc(Urc("+CEREG", "+CEREG: 3", "3"))
    assert modem.status.registration == "denied"
