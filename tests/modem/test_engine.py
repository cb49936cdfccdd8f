"""The AT engine over a scripted port: classification, URCs, timeouts, busy retries, submit.

Engines wait in virtual time (virtual_time.py): timeouts, the resynchronisation probe and
back-offs pass once the port has nothing more to deliver. WAIT bounds, in real seconds, what
is at once.
"""
import logging
import re
import threading

import pytest

from modem.at.engine import MAX_BACKOFF, AtEngine
from modem.exceptions import (CommandRejected, ModemGone, ModemOutOfSync, ModemTimeout,
                              SendOutcomeUnknown)

try:
    from tests.modem.scripted_port import Collected, ScriptedPort
    from tests.modem.virtual_time import VirtualTime
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected, ScriptedPort
    from virtual_time import VirtualTime

WAIT = 5.0  # seconds: an upper bound for events that happen at once


@pytest.fixture
def make_engine():
    engines = []

    def make(port, **options):
        """An engine over ``port`` whose waits are ``engine.time``, a VirtualTime."""
        received = Collected()
        options.setdefault("on_urc", received.append)
        options.setdefault("waits", VirtualTime(port))
        engine = AtEngine(port, name="t", **options)
        engine.received, engine.time = received, options["waits"]
        engines.append(engine)
        engine.start()
        return engine

    yield make
    for engine in engines:
        engine.stop()


def test_a_command_returns_its_information_lines_without_the_final_ok(make_engine):
    port = ScriptedPort().expect("AT+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    engine = make_engine(port)
    assert engine.command("AT+CSQ") == ["+CSQ: 20,99"]


@pytest.mark.parametrize("answer, kind, code", [
    (b"\r\nERROR\r\n", "ERROR", None),
    (b"\r\n+CME ERROR: 10\r\n", "CME", 10),
    (b"\r\n+CMS ERROR: 330\r\n", "CMS", 330),
    (b"\r\nCOMMAND NOT SUPPORT\r\n", "NOT_SUPPORTED", None),
])
def test_error_final_result_codes_raise_command_rejected_with_kind_and_code(
        make_engine, answer, kind, code):
    engine = make_engine(ScriptedPort().expect("AT+CNUM", answer))
    with pytest.raises(CommandRejected) as caught:
        engine.command("AT+CNUM")
    assert (caught.value.kind, caught.value.code) == (kind, code)


def test_a_cme_error_given_as_text_keeps_the_text(make_engine):
    engine = make_engine(ScriptedPort().expect("AT+CPIN?", b"\r\n+CME ERROR: SIM not inserted\r\n"))
    with pytest.raises(CommandRejected) as caught:
        engine.command("AT+CPIN?")
    assert caught.value.code is None and caught.value.text == "SIM not inserted"


def test_a_urc_inside_a_response_is_queued_and_not_taken_as_an_answer(make_engine):
    port = ScriptedPort().expect("AT+CSQ", b'\r\n+CSQ: 20,99\r\n+CMTI: "SM",3\r\n\r\nOK\r\n')
    engine = make_engine(port)
    assert engine.command("AT+CSQ") == ["+CSQ: 20,99"]
    engine.received.wait(1)
    assert [(u.name, u.args) for u in engine.received] == [("+CMTI", '"SM",3')]


def test_a_cmt_urc_carries_the_pdu_line_that_follows_it_even_inside_a_response(make_engine):
    port = ScriptedPort().expect(
        "AT+CGMI", b"\r\nSIMCOM\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000\r\nOK\r\n")
    engine = make_engine(port)
    assert engine.command("AT+CGMI") == ["SIMCOM"]
    engine.received.wait(1)
    urc = engine.received[0]
    assert (urc.name, urc.pdu) == ("+CMT", "07911326040000F0040B911346610089F60000")


def test_creg_is_an_answer_to_creg_and_a_urc_elsewhere(make_engine):
    port = ScriptedPort().expect("AT+CREG?", b"\r\n+CREG: 1,5\r\nOK\r\n")
    engine = make_engine(port)
    assert engine.command("AT+CREG?") == ["+CREG: 1,5"]
    port.push(b"\r\n+CREG: 2\r\n")
    engine.received.wait(1)
    assert engine.received[0].name == "+CREG"


def test_power_and_boot_notices_are_recognised_as_urcs(make_engine):
    engine = make_engine(ScriptedPort())
    engine._port.push(b"\r\nRDY\r\n\r\nUNDER-VOLTAGE WARNNING\r\n\r\n^RSSI: 17\r\n\r\nSMS Ready\r\n")
    engine.received.wait(4)
    assert [u.name for u in engine.received] == ["RDY", "UNDER-VOLTAGE", "^RSSI", "SMS Ready"]


def test_a_non_utf8_byte_is_logged_with_its_hex_and_the_reader_keeps_reading(make_engine, caplog):
    port = ScriptedPort().expect("AT", b"\r\n\xff\xfe\r\nOK\r\n").expect("AT+CGMM", b"\r\nE3372\r\nOK\r\n")
    engine = make_engine(port)
    with caplog.at_level(logging.WARNING, logger="modem.at.reader"):
        assert engine.command("AT") == []
    assert "ff fe" in caplog.text
    assert engine.command("AT+CGMM") == ["E3372"]


def test_echo_of_the_command_is_not_part_of_the_answer(make_engine):
    engine = make_engine(ScriptedPort().expect("AT+CGMI", b"AT+CGMI\r\r\nQuectel\r\n\r\nOK\r\n"))
    assert engine.command("AT+CGMI") == ["Quectel"]


PROBE = "AT+CMEE?"  # the resynchronisation probe, after ESC
PROBE_ANSWER = b"\r\n+CMEE: 1\r\n\r\nOK\r\n"


def test_no_answer_raises_modem_timeout_and_the_next_command_resynchronises(make_engine):
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"")
            .expect(PROBE, PROBE_ANSWER).expect("AT+CGMI", b"\r\nX\r\nOK\r\n"))
    engine = make_engine(port, command_timeout=10.0)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    assert engine.time.now == 10.0
    assert engine.command("AT+CGMI") == ["X"]
    assert port.commands() == ["AT+CSQ", "\x1b", PROBE, "AT+CGMI"]
    assert engine.time.now == 10.0  # no quiet window: the probe's answer is the boundary


def test_a_late_answer_after_a_timeout_is_taken_by_its_own_command_not_the_next(make_engine):
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"")
            .expect(PROBE, b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n" + PROBE_ANSWER)  # late, then its own
            .expect("AT+CGMM", b"\r\nEC25\r\n\r\nOK\r\n"))
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    assert engine.command("AT+CGMM") == ["EC25"]
    assert port.commands() == ["AT+CSQ", "\x1b", PROBE, "AT+CGMM"]


def test_a_late_answer_with_no_command_in_flight_is_absorbed_by_the_command_that_timed_out(
        make_engine):
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"").expect(PROBE, PROBE_ANSWER)
            .expect("AT+CGMM", b"\r\nEC25\r\n\r\nOK\r\n"))
    seen = Collected()
    engine = make_engine(port, transcript=lambda d, text: seen.append(text))
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    warnings = Collected()  # the reader thread logs the late answer after its transcript
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("modem.at.engine")
    logger.addHandler(handler)
    try:
        port.push(b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n")  # an hour later, say
        warnings.wait_until(lambda lines: any(
            line.endswith("late answer to AT+CSQ: ['+CSQ: 5,99'] OK") for line in lines))
    finally:
        logger.removeHandler(handler)
    assert "OK" in seen
    assert engine.command("AT+CGMM") == ["EC25"]


def test_an_answer_later_than_any_quiet_window_is_still_not_the_next_commands(make_engine):
    """The old resynchronisation (plain AT, then 0.2 s of quiet) took a late OK for its own
    and the real answer for the next command's. Here the modem is busy 5 s longer, answers
    the command that timed out, then the probe: the probe waits for its own token."""
    port = ScriptedPort()
    engine = make_engine(port, command_timeout=10.0)

    def busy_then_answers(match):
        engine.time.call_later(5.0, lambda: port.push(b"\r\nOK\r\n\r\nOK\r\n" + PROBE_ANSWER))
        return b""

    port.expect("AT+CMGD=1", b"").expect(b"\x1b", b"").expect(PROBE, busy_then_answers)
    port.expect("AT+CMGD=2", b"\r\n+CMS ERROR: 321\r\n")
    with pytest.raises(ModemTimeout):
        engine.command("AT+CMGD=1")
    with pytest.raises(CommandRejected) as caught:  # its own answer, not a stale OK
        engine.command("AT+CMGD=2")
    assert caught.value.code == 321 and engine.time.now == 10.0 + 5.0


def test_a_late_prompt_is_left_with_esc_before_the_next_command(make_engine):
    """The prompt comes after the ESC written at the prompt timeout: the modem sits at the
    prompt. The resynchronisation's ESC leaves it (the modem answers OK); the prompt and that
    OK belong to the send that timed out, and the next command gets its own answer."""
    port = (ScriptedPort().expect("AT+CMGS=5", b"").expect(b"\x1b", b"\r\n> ")
            .expect(b"\x1b", b"\r\nOK\r\n").expect(PROBE, PROBE_ANSWER)
            .expect("AT+CGMI", b"\r\nQuectel\r\n\r\nOK\r\n"))
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.submit(5, "00AA", prompt_timeout=5, result_timeout=120)
    assert engine.command("AT+CGMI") == ["Quectel"]
    assert port.commands() == ["AT+CMGS=5", "\x1b", "\x1b", PROBE, "AT+CGMI"]


def test_stale_lines_before_the_probes_answer_are_dropped_not_taken_for_it(make_engine, caplog):
    """A second OK nobody asked for (a modem that also answers a bare ESC) comes after the
    late answer: the probe does not take it, it waits for its own answer."""
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"")
            .expect(PROBE, b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n\r\nOK\r\n" + PROBE_ANSWER)
            .expect("AT+CMGD=1", b"\r\n+CMS ERROR: 321\r\n"))
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    with caplog.at_level(logging.INFO, logger="modem.at.reader"):
        with pytest.raises(CommandRejected):
            engine.command("AT+CMGD=1")
    assert "unsolicited line ignored: 'OK'" in caplog.text


@pytest.mark.parametrize("answer", [b"", b"\r\nOK\r\n", b"\r\nERROR\r\n"],
                         ids=["silent", "only-ok", "only-error"])
def test_a_probe_without_its_answer_leaves_the_modem_out_of_sync_and_the_command_unwritten(
        make_engine, answer):
    gone = []
    port = ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"").expect(PROBE, answer)
    engine = make_engine(port, command_timeout=10.0, on_gone=gone.append)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    with pytest.raises(ModemOutOfSync, match="out of sync"):
        engine.command("AT+CMGD=1")
    assert port.commands() == ["AT+CSQ", "\x1b", PROBE]  # AT+CMGD=1 never reached the modem
    assert engine.gone and [type(exc) for exc in gone] == [ModemOutOfSync]
    assert engine.time.now == 10.0 + 10.0
    with pytest.raises(ModemGone):
        engine.command("AT")


def test_the_echo_of_the_probe_is_not_taken_by_the_command_that_timed_out(make_engine, caplog):
    """A modem that restarted unnoticed echoes again: the probe's echo comes before the late
    answer and is neither that answer's line nor the probe's."""
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"\x1b")
            .expect(PROBE, b"AT+CMEE?\r\r\n+CSQ: 5,99\r\n\r\nOK\r\n\r\n+CMEE: 0\r\n\r\nOK\r\n")
            .expect("AT+CGMI", b"AT+CGMI\r\r\nQuectel\r\n\r\nOK\r\n"))
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    with caplog.at_level(logging.WARNING, logger="modem.at.engine"):
        assert engine.command("AT+CGMI") == ["Quectel"]
    assert "late answer to AT+CSQ: ['+CSQ: 5,99'] OK" in caplog.text


def test_a_probe_answer_with_a_space_before_the_colon_is_recognised(make_engine):
    port = (ScriptedPort().expect("AT+CSQ", b"").expect(b"\x1b", b"")
            .expect(PROBE, b"\r\n+CMEE : 1\r\n\r\nOK\r\n").expect("AT", b"\r\nOK\r\n"))
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.command("AT+CSQ")
    assert engine.command("AT") == []


def test_busy_answers_are_retried_with_doubling_waits(make_engine):
    port = (ScriptedPort().expect("AT+CPMS?", b"\r\n+CME ERROR: 14\r\n")
            .expect("AT+CPMS?", b"\r\n+CME ERROR: 515\r\n").expect("AT+CPMS?", b"\r\n+CPMS: 1,2\r\nOK\r\n"))
    engine = make_engine(port, busy_backoff=0.5)
    assert engine.command("AT+CPMS?") == ["+CPMS: 1,2"]
    assert engine.time.sleeps == [0.5, 1.0] and engine.time.now == 1.5


def test_a_stop_ends_a_back_off_at_once(make_engine):
    engine = make_engine(ScriptedPort())
    engine.stop()
    engine.pause(10)
    assert engine.time.sleeps == [MAX_BACKOFF] and engine.time.now == 0.0


def test_busy_retries_are_bounded(make_engine):
    port = ScriptedPort().on(r"AT\+CPMS\?", b"\r\n+CMS ERROR: 314\r\n")
    engine = make_engine(port, busy_retries=3)
    with pytest.raises(CommandRejected) as caught:
        engine.command("AT+CPMS?")
    assert caught.value.code == 314 and len(port.writes) == 4
    assert engine.time.sleeps == [0.5, 1.0, 2.0]


def cmgs_port():
    references = iter(range(1, 1000))
    return (ScriptedPort().on(r"AT\+CMGS=\d+", b"\r\n> ")
            .on(rb"[0-9A-F]+\x1a", lambda m: b"\r\n+CMGS: %d\r\n\r\nOK\r\n" % next(references)))


def test_submit_writes_the_command_waits_for_the_prompt_then_the_pdu_and_ctrl_z(make_engine):
    port = cmgs_port()
    engine = make_engine(port)
    assert engine.submit(12, "0011AA", prompt_timeout=1, result_timeout=1) == ["+CMGS: 1"]
    assert port.writes == [b"AT+CMGS=12\r", b"0011AA\x1a"]


def test_a_cms_error_after_the_pdu_is_a_rejection(make_engine):
    port = ScriptedPort().expect("AT+CMGS=5", b"\r\n> ").expect(b"00AA\x1a", b"\r\n+CMS ERROR: 330\r\n")
    engine = make_engine(port)
    with pytest.raises(CommandRejected) as caught:
        engine.submit(5, "00AA", prompt_timeout=1, result_timeout=1)
    assert (caught.value.kind, caught.value.code) == ("CMS", 330)


def test_no_prompt_is_a_timeout_and_escape_leaves_the_prompt(make_engine):
    port = ScriptedPort().expect("AT+CMGS=5", b"").on(rb"\x1b", b"")
    engine = make_engine(port)
    with pytest.raises(ModemTimeout):
        engine.submit(5, "00AA", prompt_timeout=5, result_timeout=120)
    assert port.writes == [b"AT+CMGS=5\r", b"\x1b"] and engine.time.now == 5


def test_no_result_after_the_pdu_is_an_unknown_outcome(make_engine):
    port = ScriptedPort().expect("AT+CMGS=5", b"\r\n> ").expect(b"00AA\x1a", b"")
    engine = make_engine(port)
    with pytest.raises(SendOutcomeUnknown, match="within 120 s"):
        engine.submit(5, "00AA", prompt_timeout=5, result_timeout=120)
    assert engine.time.now == 120  # an LTE module's limit, at no cost


def test_a_late_cmgs_reaches_on_late_and_the_next_send_gets_its_own_reference(make_engine):
    """The modem answers the PDU 150 s after it was written, 30 s after the send was given
    up as unknown: the receipt reaches ``on_late`` (on the events thread); the next send
    waits for the probe (a send's patience) and gets its own +CMGS, not the late one."""
    port = ScriptedPort()
    engine = make_engine(port)
    late, threads = Collected(), []

    def on_late(lines):
        threads.append(threading.current_thread().name)
        late.append(lines)

    def answer_at_150(match):
        engine.time.call_later(150, lambda: port.push(b"\r\n+CMGS: 42\r\n\r\nOK\r\n"
                                                      + PROBE_ANSWER))
        return b""

    port.expect("AT+CMGS=5", b"\r\n> ").expect(b"00AA\x1a", answer_at_150)
    port.expect(b"\x1b", b"").expect(PROBE, b"")  # busy sending: answers at 150
    port.expect("AT+CMGS=6", b"\r\n> ").expect(b"00BBCC\x1a", b"\r\n+CMGS: 43\r\n\r\nOK\r\n")
    with pytest.raises(SendOutcomeUnknown):
        engine.submit(5, "00AA", prompt_timeout=5, result_timeout=120, on_late=on_late)
    assert engine.time.now == 120
    assert engine.submit(6, "00BBCC", prompt_timeout=5, result_timeout=120) == ["+CMGS: 43"]
    assert engine.time.now == 150
    assert late.wait() == ["+CMGS: 42"] and threads == ["modem-events-t"]


def test_a_late_rejection_is_logged_and_is_no_receipt(make_engine, caplog):
    port = ScriptedPort().expect("AT+CMGS=5", b"\r\n> ").expect(b"00AA\x1a", b"")
    late = []
    engine = make_engine(port)
    with pytest.raises(SendOutcomeUnknown):
        engine.submit(5, "00AA", prompt_timeout=5, result_timeout=120, on_late=late.append)
    with caplog.at_level(logging.WARNING, logger="modem.at.engine"):
        port.push(b"\r\n+CMS ERROR: 500\r\n")
        settle_reader(port)
    assert "late answer to AT+CMGS=5: [] CMS 500" in caplog.text and late == []
    assert engine._inflight.lingering is None  # its final came: the exchange is closed


def settle_reader(port):
    """Wait (real time, bounded) until the port delivered and the reader handled it all."""
    done = threading.Event()
    port.on_rest(done.set)
    assert done.wait(WAIT) or port.at_rest


def test_a_line_the_reader_cannot_handle_is_logged_with_its_traceback_and_skipped(
        make_engine, caplog):
    """A bug met while handling one line (here in a transcript callback) is not a dead port:
    the modem stays up, the line is skipped, later lines still work."""
    gone = []

    def transcript(direction, text):
        if text == "^ODD: 1":
            raise TypeError("a bug in handling this line")

    port = (ScriptedPort().expect("AT+CGMM", b"\r\n^ODD: 1\r\nEC25\r\n\r\nOK\r\n")
            .expect("AT+CGMI", b"\r\nQuectel\r\n\r\nOK\r\n"))
    engine = make_engine(port, on_gone=gone.append, transcript=transcript)
    with caplog.at_level(logging.ERROR, logger="modem.at.reader"):
        assert engine.command("AT+CGMM") == ["EC25"]
    assert engine.command("AT+CGMI") == ["Quectel"]
    assert not engine.gone and gone == []
    [record] = [r for r in caplog.records if "skipped a line" in r.getMessage()]
    assert record.exc_info[0] is TypeError and "^ODD: 1" in record.getMessage()


def test_an_error_code_in_superscript_digits_is_an_error_text_not_a_dead_port(make_engine):
    """"²".isdigit() is true and int("²") raises: this line used to kill the reader."""
    gone = []
    port = (ScriptedPort().expect("AT+CPIN?", "\r\n+CME ERROR: ²\r\n".encode())
            .expect("AT+CGMI", b"\r\nQuectel\r\n\r\nOK\r\n"))
    engine = make_engine(port, on_gone=gone.append)
    with pytest.raises(CommandRejected) as caught:
        engine.command("AT+CPIN?")
    assert (caught.value.kind, caught.value.code, caught.value.text) == ("CME", None, "²")
    assert engine.command("AT+CGMI") == ["Quectel"] and gone == [] and not engine.gone


def test_concurrent_submits_from_several_threads_never_interleave(make_engine):
    port = cmgs_port()
    engine = make_engine(port)
    start = threading.Barrier(8)
    errors = []

    def send(n):
        start.wait()
        try:
            engine.submit(10 + n, f"00{n:02X}" * 20, prompt_timeout=WAIT, result_timeout=WAIT)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not errors and len(port.writes) == 16
    for command, pdu in zip(port.writes[::2], port.writes[1::2]):
        n = int(re.fullmatch(rb"AT\+CMGS=(\d+)\r", command).group(1)) - 10
        assert pdu == (f"00{n:02X}" * 20).encode() + b"\x1a"


def test_an_unplugged_port_fails_the_command_with_modem_gone_and_reports_once(make_engine):
    gone = []
    port = ScriptedPort().expect("AT+CSQ", lambda m: port.unplug())
    engine = make_engine(port, on_gone=gone.append)
    with pytest.raises(ModemGone):
        engine.command("AT+CSQ", timeout=WAIT)
    with pytest.raises(ModemGone):
        engine.command("AT")
    assert len(gone) == 1 and engine.gone


def test_a_handler_runs_on_the_events_thread_and_may_issue_commands(make_engine):
    answers, threads, done = [], [], threading.Event()
    port = ScriptedPort().expect("AT+CMGR=3", b"\r\n+CMGR: 0,,5\r\n0011\r\nOK\r\n")

    def handler(urc):
        threads.append(threading.current_thread().name)
        answers.append(engine.command("AT+CMGR=3"))
        done.set()

    engine = make_engine(port, on_urc=handler)
    port.push(b'\r\n+CMTI: "SM",3\r\n')
    assert done.wait(WAIT)
    assert threads == ["modem-events-t"] and answers == [["+CMGR: 0,,5", "0011"]]


def test_the_event_queue_is_bounded_and_counts_what_it_drops(make_engine):
    release, blocked, all_read = threading.Event(), threading.Event(), threading.Event()
    lines = []

    def seen(direction, text):
        lines.append(text)
        if len(lines) == 5:
            all_read.set()

    def slow(urc):
        blocked.set()
        release.wait(WAIT)

    engine = make_engine(ScriptedPort(), on_urc=slow, queue_size=2, transcript=seen)
    engine._port.push(b"\r\nRING\r\n")
    assert blocked.wait(WAIT)
    engine._port.push(b"\r\nRING\r\n" * 4)
    assert all_read.wait(WAIT)
    assert engine.dropped_events == 2
    release.set()


def test_stop_joins_both_named_threads_and_closes_the_port(make_engine):
    port = ScriptedPort()
    engine = make_engine(port)
    names = {t.name for t in engine._threads}
    engine.stop()
    assert names == {"modem-reader-t", "modem-events-t"}
    assert not any(t.is_alive() for t in engine._threads) and not port.is_open
