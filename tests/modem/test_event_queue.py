"""The engine's events queue: message and report notices are never dropped, chatter is
bounded (the oldest chatter goes first, each drop is told), and one order is kept."""
import threading

from modem.at.events import KEPT_NOTICES, EventQueue, is_chatter
from modem.at.results import Urc


def urc(name, args=""):
    return Urc(name, f"{name}: {args}" if args else name, args)


def drain(events):
    return [events.get() for _ in range(len(events))]


def test_message_report_restart_and_power_notices_are_kept_and_the_rest_is_chatter():
    for name in ("+CMTI", "+CDSI", "+CMT", "+CDS", "RDY", "^SYSSTART", "^SMMEMFULL",
                 "UNDER-VOLTAGE"):
        assert name in KEPT_NOTICES and not is_chatter(urc(name))
    for name in ("^RSSI", "+CREG", "+CEREG", "^HCSQ", "^BOOT", "+QIND", "RING"):
        assert is_chatter(urc(name))
    assert not is_chatter(lambda: None)  # a posted task is never dropped


def test_ten_thousand_sms_notices_are_all_kept_behind_a_stalled_consumer():
    events = EventQueue(chatter_limit=4)
    notices = [urc("+CMTI", f'"SM",{n}') for n in range(10_000)]
    for notice in notices:
        assert events.put(notice)
    assert drain(events) == notices


def test_chatter_past_its_limit_drops_the_oldest_and_tells_each_drop():
    dropped = []
    events = EventQueue(chatter_limit=3, on_drop=dropped.append)
    signals = [urc("^RSSI", str(n)) for n in range(5)]
    for signal in signals:
        events.put(signal)
    assert dropped == signals[:2] and events.dropped == 2
    assert drain(events) == signals[2:]  # the newest state is the one kept


def test_kept_notices_and_chatter_come_out_in_the_order_they_came():
    events = EventQueue(chatter_limit=2)
    task = object()
    items = [urc("^RSSI", "1"), urc("+CMTI", '"SM",1'), urc("+CREG", "1"), task,
             urc("+CDS", "25"), urc("^RSSI", "2")]
    for item in items:
        events.put(item)
    # "^RSSI: 1" was pushed out by "^RSSI: 2" (two chatter at most); the rest keeps its order
    assert drain(events) == items[1:]


def test_get_waits_for_an_item_put_by_another_thread():
    events, got = EventQueue(), []
    taker = threading.Thread(target=lambda: got.append(events.get()), name="test-taker")
    taker.start()
    notice = urc("+CMTI", '"SM",3')
    events.put(notice)
    taker.join(5)
    assert got == [notice]
