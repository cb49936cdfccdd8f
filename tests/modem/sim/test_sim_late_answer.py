"""The simulator's ``late_answer:T[:N]`` fault, and ESC outside a prompt."""
import pytest
from sim_harness import Driver, open_port, read_until

from modem.sim.faults import Faults, apply_fault, parse_fault


def test_late_answer_holds_the_next_answer_and_what_follows_waits_in_order():
    d = Driver()
    d.at("ATE0;+CMEE=1")
    d.modem.inject("late_answer", 5)
    assert d.at("AT+CSQ") == ""
    assert d.at("AT+CMEE?") == ""  # the modem reads nothing more while it holds an answer
    assert d.advance(4.5) == ""
    assert d.advance(0.5) == "\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n+CMEE: 1\r\n\r\nOK\r\n"
    assert d.at("AT") == "\r\nOK\r\n"  # one answer only, by default


def test_late_answer_of_a_send_is_its_result_after_the_pdu_not_the_prompt():
    d = Driver()
    d.at("ATE0")
    d.modem.inject("late_answer", 150)
    assert d.submit("+15551230000", "late") == [""]  # the prompt came at once
    assert len(d.network.log) == 1  # the SMS went out; only its answer is late
    assert d.advance(150) == "\r\n+CMGS: 1\r\n\r\nOK\r\n"


def test_late_answer_with_a_count_holds_that_many_answers():
    d = Driver()
    d.at("ATE0")
    d.modem.inject("late_answer", 2, 2)
    assert d.at("AT") == "" and d.advance(2) == "\r\nOK\r\n"
    assert d.at("AT") == "" and d.advance(2) == "\r\nOK\r\n"
    assert d.at("AT") == "\r\nOK\r\n"


def test_late_answer_from_the_url_over_a_port():
    network, port, _ = open_port("fault=late_answer:30")
    port.write(b"ATE0\r")
    assert read_until(port) == b"ATE0\r"  # the echo at once; the OK is held
    network.advance(30)
    assert read_until(port) == b"\r\nOK\r\n"


@pytest.mark.parametrize("spec, message", [
    ("late_answer:0.5:0", "N (late_answer:T[:N]) is a number of answers, between 1 and 1000"),
    ("late_answer:601", "T (late_answer:T[:N]) is seconds, between 0 and 600"),
    ("late_answer:nan", "bad value for fault late_answer: 'nan'"),
    ("late_answer:1:2:3", "it takes at most 2 (late_answer:T[:N])"),
])
def test_late_answer_arguments_are_validated_with_a_clear_error(spec, message):
    with pytest.raises(ValueError) as caught:
        parse_fault(spec)
    assert message in str(caught.value)


def test_late_answer_defaults_to_one_answer_30_seconds_late_and_clears():
    faults = Faults()
    apply_fault(faults, *parse_fault("late_answer"))
    assert (faults.late_answer, faults.late_delay) == (1, 30.0)
    assert faults.active() == ["late_answer"]
    faults.clear()
    assert faults.active() == []


def test_an_esc_outside_a_prompt_is_ignored_and_the_command_after_it_runs():
    d = Driver()
    d.at("ATE0")
    assert d.send(b"\x1b") == b""
    assert d.at("AT+CMEE?") == "\r\n+CMEE: 0\r\n\r\nOK\r\n"
