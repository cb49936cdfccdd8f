"""The pool's inbound queue: SMS and delivery reports from every modem, in one bounded queue.

Modems put from their events threads (:meth:`InboundQueue.put` raises queue.Full when it is
full: the modem then keeps the SMS, left on the SIM or not acknowledged, so that it comes
again). Any thread may :meth:`InboundQueue.receive` (timeouts in seconds); with handlers,
:meth:`InboundQueue.dispatch` runs them on the pool's ``modem-pool-inbound`` thread and
acknowledges an SMS or a status report (deletes it from the SIM, or acknowledges its
direct delivery with AT+CNMA) only after its handler returned; if the handler raises, the
item is given back (left on the SIM, or refused so that the network delivers it again).
So a handler raises only for what a later try may cure: one that raises for good on some
message keeps it on the SIM at every sweep (gateway.pipeline.inbound keeps such an SMS and
returns).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from modem.inbox import InboundSms
from modem.delivery import DeliveryReport

log = logging.getLogger(__name__)
_STOP = object()


class InboundQueue:
    """``queue`` is the underlying :class:`queue.Queue` (bounded by ``capacity``)."""

    def __init__(self, capacity: int):
        self.queue: queue.Queue = queue.Queue(maxsize=capacity)

    def put(self, item: InboundSms | DeliveryReport) -> None:
        """Queue ``item`` without waiting. Raises queue.Full."""
        self.queue.put_nowait(item)

    def wake(self) -> None:
        """Wake a receiver blocked without a timeout (at stop); a full queue needs none."""
        try:
            self.queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the inbound thread also watches the stop flag

    def receive(self, timeout: float | None = None) -> InboundSms | DeliveryReport | None:
        """The next inbound SMS or delivery report, or None after ``timeout`` seconds."""
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if item is _STOP else item

    def dispatch(self, on_sms: Callable[[InboundSms], None] | None,
                 on_report: Callable[[DeliveryReport], None] | None,
                 stopping: threading.Event) -> None:
        """Run the handlers on every item until ``stopping`` is set (top of a thread)."""
        while not stopping.is_set():
            item = self.receive()
            if item is None:
                continue
            try:
                _handle(item, on_sms if isinstance(item, InboundSms) else on_report)
            except Exception:  # noqa: BLE001  top of the thread: one bad item must not stop it
                log.exception("inbound handler failed on %r", item)


def _handle(item: InboundSms | DeliveryReport, handler: Callable | None) -> None:
    """Run ``handler`` on ``item``; acknowledge it after (unless the handler deferred it:
    then the handler's owner acknowledges it later), give it back if it raises."""
    if handler is None:
        item.release()
        return
    try:
        handler(item)
    except Exception:
        item.release()
        raise
    if not getattr(item, "deferred", False):
        item.ack()
