"""Registration notices and answers in every form modems send, told apart by their fields;
and the state a modem publishes when they arrive (the real driver over a scripted port).

The lines are those of real modems as ModemManager's and gammu's test suites record them."""
import pytest

from modem.at import commands as at
from modem.driver import Modem
from modem.sim import ManualClock
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected, ScriptedPort
    from tests.modem.sim_bench import settle
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected, ScriptedPort
    from sim_bench import settle
from virtual_time import VirtualTime

NOTICES = [  # (prefix, text after it, state): unsolicited
    ("+CREG", "3", "denied"),
    ("+CREG", "5", "roaming"),
    ("+CREG", "1,8BE3,2BAF", "home"),  # <stat>,<lac>,<ci> unquoted (Huawei E160G)
    ("+CREG", '1,"CE00","00005449"', "home"),  # quoted (Sony Ericsson K850i)
    ("+CREG", "2,,", "searching"),  # empty location (Novatel XU870)
    ("+CREG", "1,0001,0010,0", "home"),  # <stat>,<lac>,<ci>,<AcT> without leading zeros
    ("+CREG", '001,"0001","0010",000', "home"),  # with leading zeros
    ("+CREG", '6,"8B37","0A265185",7', "home"),  # SMS only on LTE (u-blox TOBY-L2)
    ("+CREG", '2,5,"0502","0404736D"', "roaming"),  # <n> first (Sony Ericsson MD400)
    ("+CREG", "2,1,000B,2816, B, C2816", "home"),  # <n> first, six fields (Samsung S8500)
    ("+CREG", "1,1", "home"),  # <n>,<stat> sent as a notice
    ("+CGREG", '5,"0502","0404736D",2', "roaming"),
    ("+CGREG", "2,1, 81ED, 1A9CEB", "home"),  # <n> first, blanks (Alcatel X220D)
    ("+CGREG", '1,"1422","00000142",3,"00"', "home"),  # with the routing area
    ("+CEREG", "1, 1F00, 79D903 ,7", "home"),
    ("+CEREG", "2, 0001, 00000100, 7", "searching"),
    ("+CEREG", "1, 2, 0001, 00000100, 7", "searching"),  # <n> first (Altair)
    ("+CEREG", "1, 1F00, 20 ,79D903 ,7", "home"),  # with the routing area (Novatel E362)
    ("+CEREG", '3,"0A1B","01A2B3C4",7,0,15', "denied"),  # with the reject cause (<n>=3)
]
ANSWERS = [  # (prefix, text after it, state): answers to the read command
    ("+CREG", "1,3", "denied"),
    ("+CREG", "0,5", "roaming"),
    ("+CREG", "1,1,84CD,00D30173", "home"),  # Sierra Mercury
    ("+CREG", '2,1,"CE00","01CEAD8F"', "home"),
    ("+CREG", "2,0,00,0", "not_registered"),  # Huawei E160G, not registered
    ("+CREG", '002,001,"18d8","ffff"', "home"),  # Iridium, leading zeros
    ("+CREG", "2,1,  0 5, 2715", "home"),  # Qualcomm Gobi 1000
    ("+CREG", '2,6,"8B37","0A265185",7', "home"),
    ("+CREG", '1,"CE00","00005449"', "home"),  # a notice taken as the answer
    ("+CGREG", '2, 1, "0426", "F00F"', "home"),  # Thuraya
    ("+CEREG", "2,1, 1F00, 20 ,79D903 ,7", "home"),
    ("+CEREG", "1,3", "denied"),
]


@pytest.mark.parametrize("name, text, state", NOTICES)
def test_each_form_of_notice_gives_the_right_state(name, text, state):
    assert at.registration_urc(text, name) == state


@pytest.mark.parametrize("name, text, state", ANSWERS)
def test_each_form_of_answer_gives_the_right_state(name, text, state):
    assert at.registration_answer([f"{name}: {text}"], f"{name}:") == state


@pytest.mark.parametrize("text", ["", "x", '"1"', "x,1", "99", "-1"])
def test_nonsense_is_unknown_never_an_error(text):
    assert at.registration_urc(text) == "unknown"


def test_an_answer_that_failed_is_none():
    assert at.registration_answer([], "+CREG:") is None


@pytest.fixture
def circuit_only_modem(request):
    """A modem answering registration only on the circuit domain, searching at first."""
    port = ScriptedPort().on(r"AT.*", b"\r\nOK\r\n")
    port.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\nOK\r\n")
    port.on(r"AT\+CREG\?", b"\r\n+CREG: 1,2\r\nOK\r\n").on(r"AT\+CEREG\?", b"\r\nERROR\r\n")
    transcript = Collected()
    modem = Modem(ModemConfig(url="scripted", name="s"), clock=ManualClock(),
                  opener=lambda cfg: port, waits=VirtualTime(port),
                  transcript=lambda d, t: transcript.append((d, t)))
    modem.transcript = transcript
    modem.open()
    request.addfinalizer(modem.close)
    return modem, port


@pytest.mark.parametrize("line, state", [
    ('+CREG: 2,5,"0502","0404736D"', "roaming"),
    ("+CREG: 2,1,000B,2816, B, C2816", "home"),
    ('+CREG: 1,"CE00","00005449"', "home"),
    ('+CREG: 5,"0502","0404736D",2', "roaming"),
    ("+CREG: 3", "denied"),
])
def test_a_notice_in_any_form_is_published_at_once(circuit_only_modem, line, state):
    modem, port = circuit_only_modem
    assert modem.status.registration == "searching"
    port.push(f"\r\n{line}\r\n".encode())
    modem.transcript.wait_until(lambda t: ("<-", line) in t)
    settle(modem)
    assert modem.status.registration == state
