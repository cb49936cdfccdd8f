"""The worker's SIGTERM/SIGINT handler (gateway.process.worker): a second signal that
arrives while the first is being handled must not hang the worker."""
from __future__ import annotations

import signal
import threading

from gateway.process.worker import _stop_once


class SignalledAgainWhileSetting(threading.Event):
    """An Event whose ``set`` is interrupted by another signal, as a signal handler is
    run between two bytecodes of the main thread, here inside ``Event.set``."""

    def __init__(self) -> None:
        super().__init__()
        self.handler = None

    def set(self) -> None:
        with self._cond:  # what Event.set holds while it sets the flag
            if self.handler is not None:
                handler, self.handler = self.handler, None
                handler(signal.SIGTERM, None)  # the second signal, handled right here
            self._flag = True
            self._cond.notify_all()


def test_a_second_signal_during_the_first_is_ignored_and_the_worker_is_told_to_stop():
    stop = SignalledAgainWhileSetting()
    stop.handler = handler = _stop_once(stop)
    done = threading.Thread(target=handler, args=(signal.SIGINT, None), daemon=True)
    done.start()
    done.join(5)
    assert not done.is_alive(), "the handler waited for the Event's lock it holds"
    assert stop.is_set()


def test_later_signals_change_nothing():
    stop = threading.Event()
    handler = _stop_once(stop)
    handler(signal.SIGTERM, None)
    handler(signal.SIGTERM, None)
    assert stop.is_set()
