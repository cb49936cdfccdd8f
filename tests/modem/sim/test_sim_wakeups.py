"""An idle simulator is idle: a port's reader wakes only for its own modem's output, one
port keeps a real-time network's time (until the next due event, not by polling), and the
network knows when it next has something to do."""
import math
import threading

import serial
from sim_harness import Driver, command, open_port

from modem.pdu.codec import encode_submit
from modem.pdu.concat import GAP_MARKER
from modem.sim.wakeups import Wakeups


class FakeWatcher:
    def __init__(self):
        self.waiting_until, self.pokes, self.wakes = None, 0, 0

    def poke(self):
        self.pokes += 1

    def wake(self):
        self.wakes += 1


def test_traffic_on_one_modem_does_not_wake_the_reader_of_another():
    network, busy, url = open_port(timeout=1.0)
    idle = serial.serial_for_url(url.replace("m0", "m1"), timeout=None)
    rested, got = threading.Event(), []
    idle.on_rest(rested.set)
    reader = threading.Thread(target=lambda: got.append(idle.read(len(b"\r\nRING\r\n"))),
                              name="sim-test-reader")
    reader.start()
    assert rested.wait(5)
    woken = idle.wakeups
    command(busy, "ATE0")
    for _ in range(50):
        assert command(busy, "AT+CSQ").endswith(b"OK\r\n")
    network.advance(60)
    assert idle.wakeups == woken  # 50 answers and a minute elsewhere: not woken once
    network.modem("m1").emit_urc("RING")
    reader.join(5)
    assert got == [b"\r\nRING\r\n"] and idle.wakeups == woken + 1
    idle.close()


def test_only_the_timekeeper_wakes_and_only_for_what_is_due_before_it_planned():
    due = [None]
    wakeups = Wakeups(lambda: due[0], manual=False)
    keeper, other = FakeWatcher(), FakeWatcher()
    wakeups.add(keeper)
    wakeups.add(other)
    keeper.waiting_until = wakeups.keeper_due(keeper)
    assert keeper.waiting_until == math.inf  # nothing timed: sleeps until poked
    assert wakeups.keeper_due(other) is None  # one keeper at a time
    other.waiting_until = 1000.2  # its read timeout

    due[0] = 1000.5
    wakeups.tell()
    assert (keeper.wakes, other.wakes, keeper.pokes, other.pokes) == (1, 0, 1, 1)
    keeper.waiting_until = wakeups.keeper_due(keeper)
    assert keeper.waiting_until == 1000.5
    wakeups.tell()  # nothing due earlier than planned: nobody woken
    assert (keeper.wakes, other.wakes) == (1, 0)

    keeper.waiting_until = None  # busy reading: a waiting watcher takes the role over
    due[0] = 1000.1
    wakeups.tell()
    assert (keeper.wakes, other.wakes) == (1, 1)
    assert wakeups.keeper_due(other) == 1000.1 and wakeups.keeper_due(keeper) is None


def test_a_manual_clock_has_no_timekeeper():
    wakeups = Wakeups(lambda: 5.0, manual=True)
    watcher = FakeWatcher()
    wakeups.add(watcher)
    assert wakeups.keeper_due(watcher) is None
    watcher.waiting_until = math.inf
    wakeups.tell()
    assert (watcher.pokes, watcher.wakes) == (1, 0)


def test_the_network_knows_when_it_next_has_something_to_do():
    d = Driver()
    assert d.network.next_due() is None  # an idle network: nothing timed
    d.at("ATE0")
    d.modem.inject("slow_submit", 2)
    start = d.now()
    d.submit("+15551230000", "slow")
    assert d.network.next_due() == start  # the delivery, due at once
    d.network.tick()
    assert d.network.next_due() == start + 2  # the held +CMGS answer
    assert d.advance(2).endswith("OK\r\n") and d.network.next_due() is None


def test_a_phone_gives_up_waiting_for_missing_parts_at_the_reassembly_timeout():
    d = Driver()
    d.at("ATE0")
    first, _ = encode_submit("+15551230000", "x" * 200)
    assert d.at(f"AT+CMGS={first.tpdu_length}").endswith("> ")
    d.send(first.pdu_hex.encode() + b"\x1a")  # the second part never comes
    d.network.tick()  # delivered to the phone now
    d.advance(299)
    phone = d.network.phone("+15551230000")
    assert phone.inbox == [] and d.network.next_due() == d.now() + 1
    d.advance(1)
    assert phone.texts == ["x" * 153 + GAP_MARKER]
