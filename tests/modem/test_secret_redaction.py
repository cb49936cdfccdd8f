"""A SIM PIN never shows in the probe's transcript, the logs or error messages."""
import io
import logging

import modem.sim
from modem.exceptions import CommandRejected, ModemTimeout, redact
from modem.probe import main as probe


def test_pin_commands_are_redacted_and_others_are_not():
    assert redact('AT+CPIN="1234"') == "AT+CPIN=****"
    assert redact('at+cpin="12345678","0000"') == "at+cpin=****"
    assert redact("AT+CPIN?") == "AT+CPIN?"
    assert redact("AT+CMGS=41") == "AT+CMGS=41"
    assert "4321" not in str(CommandRejected('AT+CPIN="4321"', "CME", 16))
    assert "4321" not in str(ModemTimeout('AT+CPIN="4321"', 5))


def test_the_probe_transcript_and_debug_logs_hide_the_pin(caplog):
    modem.sim.reset_networks()
    out, err = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.DEBUG, logger="modem"):
        assert probe(["modemsim://locked-probe?pin=2468", "--pin", "2468"], out, err) == 0
        assert probe(["modemsim://locked-probe2?pin=2468", "--pin", "1357"], out, err) == 1
    everything = out.getvalue() + err.getvalue() + caplog.text
    for url in ("modemsim://locked-probe?pin=2468", "modemsim://locked-probe2?pin=2468"):
        everything = everything.replace(url, "<the simulated SIM's URL>")
    assert "AT+CPIN=****" in everything
    assert "2468" not in everything and "1357" not in everything
    modem.sim.reset_networks()
