"""Concatenated parts on the SIM, through the real driver over ``modemsim://`` in virtual
time: a reference reused by another message, a redelivered part, a header to ignore, and a
flood of first parts that never complete. Whatever happens, every part's text reaches the
receiver and nothing leaves the SIM that was not handed over."""
from modem.pdu.codec import encode_deliver, encode_submit

try:
    from tests.modem.scripted_port import Collected
    from tests.modem.sim_bench import PHONE, DriverBench, bench_fixture, settle
except ImportError:  # tests/ is not a package: pytest put this directory on sys.path
    from scripted_port import Collected
    from sim_bench import PHONE, DriverBench, bench_fixture, settle

bench = bench_fixture(DriverBench)
FLOODER = "+15550000000"


def two_parts(bench, text, reference, sender=PHONE):
    parts = encode_deliver(sender, text, timestamp=bench.clock.now(), concat_reference=reference)
    assert len(parts) == 2
    return parts


def stored(card):
    return sorted(message.pdu_hex for _, message in card.listing(4))


def test_a_reference_reused_by_another_message_loses_none_of_its_parts(bench):
    modem = bench.modem()
    card = bench.sim().machine.card
    first = "A" * 153 + "first message, its part 2 never comes"
    second = "B" * 153 + "second message, same reference"
    a, b = two_parts(bench, first, 7), two_parts(bench, second, 7)
    card.store(a[0])
    modem.maintain()
    settle(modem)
    card.store(b[0]), card.store(b[1])
    modem.maintain()
    settle(modem)
    assert [(m.text, m.partial) for m in modem.sms] == [
        ("A" * 153 + "…", True), (second, False)]
    assert card.used == 0


def test_a_redelivered_part_leaves_the_sim_only_with_the_message_that_kept_its_copy(bench):
    received = Collected()

    def refuse_the_first(message):
        received.append(message)
        if message.text.startswith("A"):
            raise RuntimeError("not now")

    modem = bench.modem(on_sms=refuse_the_first)
    card = bench.sim().machine.card
    a = two_parts(bench, "A" * 153 + "its part 2 never comes", 9)
    b = two_parts(bench, "B" * 153 + "complete", 9)
    card.store(a[0]), card.store(a[0])  # the network delivered part 1 twice
    modem.maintain()
    settle(modem)
    assert received == [] and card.used == 2
    card.store(b[0]), card.store(b[1])
    modem.maintain()
    settle(modem)
    assert [(m.text, m.partial) for m in received] == [
        ("A" * 153 + "…", True), ("B" * 153 + "complete", False)]
    assert stored(card) == [a[0], a[0]]  # refused: both copies stay for the next sweep


def with_part_number(pdu, number):
    """``pdu`` with the part number of its 8-bit concatenation header replaced."""
    at = pdu.index("050003") + 10
    return pdu[:at] + f"{number:02X}" + pdu[at + 2:]


def test_a_part_numbered_zero_is_a_whole_sms_handed_over_at_once(bench):
    modem = bench.modem()
    card = bench.sim().machine.card
    _, second = two_parts(bench, "Z" * 153 + " proof-token-XYZ", 11)
    card.store(with_part_number(second, 0))
    modem.maintain()
    settle(modem)
    assert [(m.text, m.partial) for m in modem.sms] == [(" proof-token-XYZ", False)]
    assert card.used == 0


def first_parts(bench, count):
    """First parts of ``count`` two-part SMS from one sender, each with a new reference."""
    return [two_parts(bench, f"{n:02d}" + "x" * 198, n, FLOODER)[0] for n in range(count)]


def test_a_real_sms_gets_in_while_first_parts_that_never_complete_arrive_one_by_one(bench):
    modem = bench.modem()
    sim = bench.sim()
    card = sim.machine.card
    flood = first_parts(bench, card.capacity)
    for n, pdu in enumerate(flood, 1):
        with bench.net.lock:  # as the network delivers one: stored, +CMTI, the port woken
            assert sim.machine.radio.deliver_sms(pdu, bench.clock.monotonic())
            bench.net.changed.notify_all()
        modem.transcript.wait_until(lambda t: sum(d == "->" and x.startswith("AT+CMGR")
                                                  for d, x in t) == n)
        settle(modem)
    assert card.used <= card.capacity // 2 + 1
    bench.phone().send(modem.identity.own_number, "proof 123456")
    bench.net.advance(bench.net.delivery_delay)
    modem.sms.wait_until(lambda got: "proof 123456" in [m.text for m in got])
    bench.clock.advance(301)
    modem.maintain()
    settle(modem)
    assert sorted(m.text[:2] for m in modem.sms if m.partial) == [f"{n:02d}" for n in range(30)]
    assert card.used == 0


def test_a_store_found_full_of_first_parts_is_freed_for_a_real_sms(bench):
    modem = bench.modem()
    sim = bench.sim()
    card = sim.machine.card
    with bench.net.lock:  # faster than the modem reads them: the store fills
        for pdu in first_parts(bench, card.capacity):
            card.store(pdu)
    bench.phone().send(modem.identity.own_number, "proof 123456")
    bench.net.advance(bench.net.delivery_delay)  # the store is full: the network retries
    modem.maintain()
    settle(modem)
    bench.net.advance(bench.net.retry_interval)
    modem.sms.wait_until(lambda got: "proof 123456" in [m.text for m in got])
    assert sorted(m.text[:2] for m in modem.sms if m.partial) == [f"{n:02d}" for n in range(30)]
    assert card.used == 0


def test_a_store_full_of_other_things_is_freed_of_the_parts_waiting_there(bench):
    """Sent messages left on the SIM fill two thirds of it, first parts the rest: fewer
    than half the store, yet the store is full and a real SMS would wait for the timeout."""
    modem = bench.modem()
    card = bench.sim().machine.card
    left_there = card.capacity - card.capacity // 3
    with bench.net.lock:
        for n in range(left_there):
            card.store(encode_submit(PHONE, f"sent {n}")[0].pdu_hex)
        for pdu in first_parts(bench, card.capacity - left_there):
            card.store(pdu)
    modem.maintain()  # the status read first finds the store full
    settle(modem)
    assert sorted(m.text[:2] for m in modem.sms if m.partial) == [
        f"{n:02d}" for n in range(card.capacity - left_there)]
    bench.phone().send(modem.identity.own_number, "proof 123456")
    bench.net.advance(bench.net.delivery_delay)
    modem.sms.wait_until(lambda got: "proof 123456" in [m.text for m in got])
    assert card.used == left_there
