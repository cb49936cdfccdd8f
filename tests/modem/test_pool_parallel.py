"""Modems in parallel: a modem busy with a send is not chosen while an idle one can send,
a modem being set up again after a restart is not chosen, and the chatter a modem's full
events queue drops is counted per modem. The real pool and driver over ``modemsim://``;
only time is virtual (``bench.time``)."""
import threading
from types import SimpleNamespace

from modem import choice
from modem.identity import Identity
from modem.slot import Slot
from modem.transport import ModemConfig

try:
    from tests.modem.scripted_port import Collected
    from tests.modem.sim_bench import PHONE, WAIT, PoolBench, bench_fixture, health_of, settle
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected
    from sim_bench import PHONE, WAIT, PoolBench, bench_fixture, health_of, settle

bench = bench_fixture(PoolBench)


def test_a_modem_busy_with_a_send_is_not_chosen_while_an_idle_one_can_send(bench):
    """The destination's home-network modem takes 30 s per submit; a second SMS for the same
    network, asked for 10 s into the first one's send, goes out on the other modem."""
    pool = bench.pool(bench.config("fr", "plmn=20801&fault=slow_submit:30"),
                      bench.config("other", "plmn=310260"))
    second, busy = [], []

    def send_second():
        second.append((pool.send(PHONE, "second", mcc="208", mnc="01").modem, bench.time.now))

    thread = threading.Thread(target=send_second, name="test-second-send")

    def meanwhile():  # on the first send's waiting thread: no pool or engine lock held
        busy.append(health_of(pool, "fr").sending)
        thread.start()

    bench.time.call_later(10, meanwhile)
    first = pool.send(PHONE, "first", mcc="208", mnc="01")
    thread.join(WAIT)
    assert (first.modem, bench.time.now) == ("fr", 30)
    # On the idle modem, not queued behind the first send on the home-network one (it
    # would then go out at 60 s). It is done at 10 s, or at 30 s when virtual time jumped
    # to the first send's end before the new thread's first wait (the clock cannot see
    # a thread between two waits: tests/modem/virtual_time.py).
    [(modem_, at)] = second
    assert busy == [1] and modem_ == "other" and at in (10, 30)
    assert health_of(pool, "fr").sending == health_of(pool, "other").sending == 0
    # Both idle again: the ranking decides as before (home network first).
    assert pool.send(PHONE, "third", mcc="208", mnc="01").modem == "fr"


def test_the_order_of_suitable_modems_is_idle_first_then_rank_then_least_used():
    home, abroad = Identity(home_network="20801"), Identity(home_network="310260")

    def key(identity, sending, sent_today):
        return choice.preference(identity, "208", "01", None, sending=sending,
                                 sent_today=sent_today)

    assert key(abroad, 0, 500) < key(home, 1, 0)  # idle before busy, whatever the rank
    assert key(home, 0, 500) < key(abroad, 0, 0)  # among idle ones: rank first
    assert key(home, 0, 1) < key(home, 0, 2)  # then the least used today
    assert key(home, 1, 0) < key(abroad, 2, 0)  # all busy: the fewest sends in progress


def test_a_modem_being_set_up_again_after_a_restart_is_not_a_candidate():
    slot = Slot(ModemConfig(url="modemsim://x", name="x"))
    modem = SimpleNamespace(status=SimpleNamespace(registered=True), reinitialising=True)
    slot.modem, slot.state = modem, "ready"
    assert not slot.usable
    modem.reinitialising = False
    assert slot.usable


def test_chatter_dropped_from_a_full_events_queue_is_counted_per_modem_and_told(bench):
    dropped = Collected()
    pool = bench.pool(bench.config("a"), bench.config("b"), on_chatter_dropped=dropped.append)
    modem = next(slot.modem for slot in pool._slots if slot.label == "a")
    blocked, release = threading.Event(), threading.Event()
    modem.engine.post(lambda: (blocked.set(), release.wait(WAIT)))  # a slow handler
    assert blocked.wait(WAIT)
    bench.sim("a").emit_urc(*["^RSSI: 17"] * 300, '+CMTI: "SM",1')
    dropped.wait(300 - 256)  # the events queue holds 256 chatter notices
    release.set()
    settle(modem)
    assert dropped == ["a"] * 44
    assert (health_of(pool, "a").chatter_dropped, health_of(pool, "b").chatter_dropped) == (44, 0)
