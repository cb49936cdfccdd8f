"""kill -9 of the worker in the middle of a send, with a modem that outlives it (a
simulated modem on a pseudo-terminal, as real hardware would): after a restart every
accepted SMS is sent exactly once or marked unknown, and an SMS that arrived while the
worker was dead is in the inbox."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from modem.numbers import mask_number

from processes import (SCRIPT, clean_environment, eventually, query, start_serve,
                       start_verification, stop, worker_pid)

NUMBERS = [f"+336123450{i:02d}" for i in range(4)]
FINAL = {"sent", "delivered", "unknown"}


@pytest.fixture
def pty_modem(tmp_path):
    """A simulated modem on a pty whose +CMGS answers take a second."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "modem.sim.pty", "--name", "m0", "--number", "+33700000001",
         "--fault", "slow_submit:1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_environment())
    banner = process.stdout.readline()
    assert " on /dev/" in banner, banner
    yield process, banner.rsplit(" on ", 1)[1].strip()
    process.stdin.write("quit\n")
    process.stdin.close()
    process.wait(10)
    process.stdout.close()


def phone_texts(pty, number):
    """What the virtual phone ``number`` received, as told by the pty modem."""
    pty.stdin.write(f"inbox {number}\nstatus\n")
    pty.stdin.flush()
    texts = []
    for line in iter(pty.stdout.readline, ""):
        if line.startswith("m0 "):  # the status line ends the inbox listing
            return texts
        if line.startswith(f"{number} <- "):
            texts.append(line.split(": ", 1)[1].rstrip("\n"))
    raise AssertionError("the pty modem stopped answering")


def statuses(state_dir: Path) -> dict[str, str]:
    """Status by number (as the outbox keeps it: masked, distinct by the last digits)."""
    return dict(query(state_dir, "SELECT recipient, status FROM outbox"))


def inbox_texts(state_dir: Path) -> list[str]:
    return [text for (text,) in query(state_dir, "SELECT text FROM inbox")]


def test_kill_9_of_the_worker_mid_send_loses_nothing_and_sends_nothing_twice(
        tmp_path, pty_modem):
    pty, device = pty_modem
    subprocess.run([str(SCRIPT), "keys", "generate", "--state-dir", str(tmp_path)], check=True,
                   capture_output=True, env=clean_environment())
    serve, url = start_serve(tmp_path, "--modem", device)
    for number in NUMBERS:
        start_verification(url, number)
    eventually(lambda: "sending" in statuses(tmp_path).values())
    os.kill(worker_pid(serve), signal.SIGKILL)
    assert serve.wait(60) == 1
    serve.stdout.close()

    pty.stdin.write("send +33611111111 arrived while the worker was dead\n")
    pty.stdin.flush()
    serve, url = start_serve(tmp_path, "--modem", device)
    try:
        eventually(lambda: set(statuses(tmp_path).values()) <= FINAL, timeout=60)
        eventually(lambda: "arrived while the worker was dead" in inbox_texts(tmp_path),
                   timeout=60)
    finally:
        stop(serve)
    final = statuses(tmp_path)
    for number in NUMBERS:
        copies = len(phone_texts(pty, number))
        if final[mask_number(number)] == "unknown":
            assert copies <= 1, (number, copies)
        else:
            assert copies == 1, (number, final[mask_number(number)], copies)
