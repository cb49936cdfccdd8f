"""Secrets never show: a SIM PIN in the probe's transcript, the logs or error messages; an
SMS's text (a proof token, a reply code) in the log of a handler that failed."""
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


def test_a_failed_inbound_handler_logs_the_sms_without_its_text(caplog):
    # The text may hold a live proof token (NV-...) or a CIBA reply code: the log of a
    # failure must name the message, never carry them.
    import threading
    from datetime import datetime, timezone

    from modem.inbound_queue import InboundQueue
    from modem.inbox import InboundSms

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sms = InboundSms(modem="m0", recipient=None, sender="+33612345678",
                     text="Verify my number NV-ABCDEFGHIJKLMNOP", smsc_timestamp=now,
                     smsc=None, partial=False, received_at=now, _claim=None)
    stopping = threading.Event()
    inbound = InboundQueue(4)
    inbound.put(sms)

    def fails(_sms):
        stopping.set()
        raise RuntimeError("the database is down")

    with caplog.at_level("ERROR"):
        inbound.dispatch(fails, None, stopping)
    [record] = [r for r in caplog.records if "inbound handler failed" in r.getMessage()]
    assert "NV-ABCDEFGHIJKLMNOP" not in record.getMessage()
    assert "m0" in record.getMessage()
