"""Reassembly when references repeat and headers lie: the codec alone, no modem.

What the caller attaches to a part (``held``: where it is stored) comes back with the one
message that holds the part's text, so that it is deleted only once that message is kept."""
from datetime import datetime, timezone

import pytest

from modem.pdu.codec import DeliveredSms, Reassembler, decode_pdu, encode_deliver

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def part(text, number, count=2, reference=5, sender="+1555"):
    return DeliveredSms(sender, text, WHEN, None, (reference, count, number))


def test_a_part_number_held_with_other_text_lets_the_old_set_go_partial_and_starts_anew():
    r = Reassembler()
    assert r.feed(part("A1", 1), 0, held=("slot 0",)) == []
    (old,) = r.feed(part("B1", 1), 5, held=("slot 1",))
    assert (old.sms.text, old.partial, old.held) == ("A1…", True, ("slot 0",))
    (whole,) = r.feed(part("B2", 2), 6, held=("slot 2",))
    assert (whole.sms.text, whole.partial, whole.held) == ("B1B2", False, ("slot 1", "slot 2"))
    assert r.pending == 0


def test_a_redelivered_part_is_kept_once_and_its_slot_goes_with_the_set():
    r = Reassembler()
    r.feed(part("A1", 1), 0, held=("slot 0",))
    assert r.feed(part("A1", 1), 1, held=("slot 1",)) == []
    assert r.held == 2
    (whole,) = r.feed(part("A2", 2), 2, held=("slot 2",))
    assert (whole.sms.text, whole.held) == ("A1A2", ("slot 0", "slot 1", "slot 2"))


def test_the_oldest_set_holding_something_is_let_go_early():
    r = Reassembler()
    r.feed(part("direct", 1, reference=1), 0)  # holds nothing of the caller's
    r.feed(part("old", 1, reference=2), 1, held=("slot 0",))
    r.feed(part("new", 1, reference=3), 2, held=("slot 1",))
    oldest = r.let_go_oldest()
    assert (oldest.sms.text, oldest.partial, oldest.held) == ("old…", True, ("slot 0",))
    assert r.held == 1 and r.pending == 2
    assert r.let_go_oldest().sms.text == "new…" and r.let_go_oldest() is None


def test_the_simple_interface_gives_a_pushed_out_set_at_the_next_expiry():
    r = Reassembler(timeout=60)
    assert r.add(part("A1", 1), 0) is None
    assert r.add(part("B1", 1), 1) is None
    assert r.add(part("B2", 2), 2).text == "B1B2"
    assert [(key, sms.text) for key, sms in r.expire(3)] == [(("+1555", 5, 2), "A1…")]


@pytest.mark.parametrize("count,number", [(2, 0), (2, 3), (0, 0), (0, 1), (1, 1)])
def test_a_concatenation_header_to_ignore_makes_a_single_sms(count, number):
    [first, _] = encode_deliver("+1555", "Z" * 153 + " proof-token", timestamp=WHEN,
                                concat_reference=9)
    at = first.index("050003") + 8  # the header: reference, count, number
    sms = decode_pdu(first[:at] + f"{count:02X}{number:02X}" + first[at + 4:])
    assert sms.concat is None and sms.text == "Z" * 153
    (whole,) = Reassembler().feed(sms, 0)
    assert not whole.partial and whole.sms.text == "Z" * 153


def test_the_reassembler_ignores_such_a_header_too():
    (whole,) = Reassembler().feed(part("alone", 0), 0, held=("slot 4",))
    assert (whole.sms.text, whole.partial, whole.held, whole.sms.concat) == (
        "alone", False, ("slot 4",), None)
