"""Waiting for SIGTERM/SIGINT in the main thread of a process with threads
(gateway.process.signals, used by the worker and by `serve`): a signal that the kernel
gives to another thread still ends the wait at once. Each case runs in a process of its
own, with real signals."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

PROGRAM = """
import signal, sys, threading, time
from gateway.process.signals import StopSignals

case = sys.argv[1]
signals = StopSignals()
idle = threading.Thread(target=time.sleep, args=(60,), daemon=True)
idle.start()  # a thread the kernel may give a signal to
if case == "other-thread":  # the main thread blocks them: only the other thread can take one
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
if case == "woken":
    threading.Timer(0.1, signals.wake).start()
print("ready", flush=True)
if case == "early":
    sys.stdin.readline()  # the signal came before the wait
print("got", signals.wait(), flush=True)
if case == "again":
    print("still here", flush=True)
    sys.stdin.readline()  # a second SIGTERM arrives meanwhile
    print("still here", flush=True)
signals.close()
print("handler", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True)
"""


def run(case: str, *signals_to_send: int, before_wait: bool = False) -> list[str]:
    process = subprocess.Popen([sys.executable, "-c", PROGRAM, case], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline() == "ready\n"
        for signum in signals_to_send[:1]:
            process.send_signal(signum)
        if before_wait:
            process.stdin.write("\n")
            process.stdin.flush()
        lines = [process.stdout.readline().strip()]
        for signum in signals_to_send[1:]:
            assert process.stdout.readline() == "still here\n"
            process.send_signal(signum)
            process.stdin.write("\n")
            process.stdin.flush()
        lines += [line.strip() for line in process.stdout]
        assert process.wait(30) == 0
        return lines
    finally:
        process.kill()
        process.wait(10)
        process.stdin.close()
        process.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_wait_with_its_number(signum):
    assert run("main", signum) == [f"got {signum}", "handler True"]


def test_a_signal_the_kernel_gives_to_another_thread_ends_the_wait_at_once():
    # Before: the main thread waited in Event.wait() and missed it (the worker's SIGTERM,
    # about one in ten, with its busy modem and pump threads).
    assert run("other-thread", signal.SIGTERM)[0] == f"got {signal.SIGTERM}"


def test_a_signal_that_came_before_the_wait_counts():
    assert run("early", signal.SIGTERM, before_wait=True)[0] == f"got {signal.SIGTERM}"


def test_a_second_signal_during_the_stop_changes_nothing():
    lines = run("again", signal.SIGINT, signal.SIGTERM)
    assert lines == [f"got {signal.SIGINT}", "still here", "handler True"]


def test_another_thread_can_end_the_wait_without_a_signal():
    assert run("woken") == ["got None", "handler True"]


def test_it_refuses_to_work_outside_the_main_thread():
    from concurrent.futures import ThreadPoolExecutor
    from gateway.process.signals import StopSignals

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(RuntimeError, match="main thread"):
            pool.submit(StopSignals).result()
