"""python -m modem.sim.pty: AT over a real pseudo-terminal, SMS-MO and inbox from stdin."""
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from sim_harness import command, read_until

from modem.pdu.codec import decode_pdu, encode_submit

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")


def _line(stream, deadline: float) -> str:
    """One stdout line of the child, waiting at most until ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            return stream.readline()
    raise AssertionError("the pty command said nothing in time")


@pytest.fixture
def pty_modem():
    child = subprocess.Popen(
        [sys.executable, "-m", "modem.sim.pty", "--profile", "sim800", "--number", "+15550000001"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
    )
    try:
        banner = _line(child.stdout, time.monotonic() + 10)
        assert banner.startswith("modemsim m0 (sim800, +15550000001) on /dev/")
        yield child, banner.rsplit(" ", 1)[1].strip()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
        child.stdin.close()
        child.stdout.close()
        child.stderr.close()


def test_a_program_talks_at_over_the_pty_and_phones_send_and_receive(pty_modem):
    child, path = pty_modem
    port = serial.Serial(path, 115200, timeout=2)
    try:
        assert command(port, "ATE0").endswith(b"OK\r\n")
        assert command(port, "AT+CGMM") == b"\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n"
        child.stdin.write("send +447700900123 hello over the pty\n")
        child.stdin.flush()
        assert _line(child.stdout, time.monotonic() + 5).startswith("queued SMS from +447700900123")
        assert read_until(port, b'+CMTI: "SM",1\r\n').endswith(b'+CMTI: "SM",1\r\n')
        listing = command(port, "AT+CMGR=1").decode().split("\r\n")
        assert decode_pdu(listing[2]).text == "hello over the pty"
        (part,) = encode_submit("+447700900123", "answer from the gateway")
        assert command(port, f"AT+CMGS={part.tpdu_length}") == b"\r\n> "
        port.write(part.pdu_hex.encode() + b"\x1a")
        assert read_until(port) == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
        deadline = time.monotonic() + 5
        child.stdin.write("inbox +447700900123\n")
        child.stdin.flush()
        assert _line(child.stdout, deadline).strip() == "+447700900123 <- +15550000001: answer from the gateway"
        child.stdin.write("quit\n")
        child.stdin.flush()
        assert child.wait(5) == 0
    finally:
        port.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_with_stdin_closed_it_serves_until_a_signal_and_then_removes_its_link(tmp_path, signum):
    link = tmp_path / "ttyMODEM"
    child = subprocess.Popen(
        [sys.executable, "-m", "modem.sim.pty", "--link", str(link)], cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _line(child.stdout, time.monotonic() + 10).startswith("modemsim m0")
        port = serial.Serial(str(link), 115200, timeout=2)
        try:
            assert command(port, "AT").endswith(b"OK\r\n")  # stdin is closed; it still serves
        finally:
            port.close()
        child.send_signal(signum)
        assert child.wait(10) == 0, child.stderr.read()
        assert not os.path.lexists(link)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
        child.stdout.close()
        child.stderr.close()
