"""PDU codec: round trips, spec-level checks, garbage, status classes and reassembly."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from modem.pdu.codec import (
    DeliveredSms,
    PduError,
    Reassembler,
    StatusReport,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

WHEN = datetime(2024, 5, 17, 13, 45, 30, tzinfo=timezone(timedelta(hours=2)))
EMOJI = "\U0001F600"


def _deliver_round_trip(text: str) -> list[DeliveredSms]:
    return [decode_pdu(pdu) for pdu in encode_deliver("+447700900123", text, timestamp=WHEN)]


def _reference_pack(septets: bytes, fill: int) -> bytes:
    """Independent bit-stream GSM-7 packer (3GPP TS 23.038 6.1.2.1.1) to check ours."""
    value = sum((s & 0x7F) << (fill + 7 * i) for i, s in enumerate(septets))
    nbits = fill + 7 * len(septets)
    return value.to_bytes((nbits + 7) // 8, "little")


def test_a_short_gsm7_message_is_one_part_with_a_known_encoding():
    (part,) = encode_submit("+447700900123", "hello", request_status_report=False)
    # 00 SMSC | 01 submit | 00 MR | 0C 91 447700091032 | 00 PID | 00 DCS | 05 UDL | E8329BFD06
    assert part.pdu_hex == "0001000C91447700091032000005E8329BFD06"
    assert part.tpdu_length == len(part.pdu_hex) // 2 - 1
    assert (part.reference, part.part_number, part.part_count) == (None, 1, 1)


def test_a_submit_requests_a_status_report_by_default_and_decodes_back():
    (part,) = encode_submit("+15551234567", "Your code is 123456")
    sms = decode_submit(part.pdu_hex)
    assert sms.destination == "+15551234567"
    assert sms.text == "Your code is 123456"
    assert sms.status_report_requested is True
    assert sms.concat is None


def test_a_submit_without_its_smsc_field_is_read_with_the_cmgs_length():
    (part,) = encode_submit("+15551234567", "no smsc field here")
    bare = part.pdu_hex[2:]
    assert decode_submit(bare, part.tpdu_length).text == "no smsc field here"
    assert decode_submit(part.pdu_hex, part.tpdu_length).text == "no smsc field here"


def test_an_explicit_smsc_is_encoded_and_excluded_from_the_tpdu_length():
    (part,) = encode_submit("+15551234567", "x", smsc="+447785016005")
    assert part.pdu_hex.startswith("07914477")
    assert part.tpdu_length == len(part.pdu_hex) // 2 - 8
    assert decode_submit(part.pdu_hex).smsc == "+447785016005"


@pytest.mark.parametrize("text", [
    "plain ascii @ £ $ ¥ è é ù",
    "extension table: € [ ] { } ^ \\ | ~",
    "ends with at @",
    "",
])
def test_gsm7_text_round_trips(text):
    (sms,) = _deliver_round_trip(text)
    assert sms.text == text
    assert sms.sender == "+447700900123"
    assert sms.smsc == "+10000000000"
    assert sms.smsc_timestamp == WHEN
    (part,) = encode_submit("+447700900123", text)
    assert decode_submit(part.pdu_hex).text == text


def test_exactly_160_gsm7_characters_fit_one_part_but_80_euro_signs_do_too_and_81_do_not():
    assert len(encode_submit("+1555", "a" * 160)) == 1
    assert len(encode_submit("+1555", "€" * 80)) == 1
    assert len(encode_submit("+1555", "€" * 81)) == 2


@pytest.mark.parametrize("text", ["Привет, мир", "你好世界", "emoji " + EMOJI + " and flag \U0001F1EB\U0001F1F7"])
def test_ucs2_text_round_trips_including_non_bmp_characters(text):
    (sms,) = _deliver_round_trip(text)
    assert sms.text == text
    (part,) = encode_submit("+447700900123", text)
    assert decode_submit(part.pdu_hex).text == text
    assert part.pdu_hex[22:26] == "0008"  # PID 00, DCS UCS-2


def test_an_emoji_is_encoded_as_a_utf16_surrogate_pair():
    (part,) = encode_submit("+1555", EMOJI, request_status_report=False)
    assert part.pdu_hex.endswith("04D83DDE00")


def test_a_long_gsm7_message_is_split_into_parts_with_a_concatenation_header():
    text = "".join(chr(ord("a") + i % 26) for i in range(400))
    parts = encode_submit("+447700900123", text, concat_reference=42)
    assert [(p.reference, p.part_number, p.part_count) for p in parts] == [(42, 1, 3), (42, 2, 3), (42, 3, 3)]
    decoded = [decode_submit(p.pdu_hex) for p in parts]
    assert [d.concat for d in decoded] == [(42, 3, 1), (42, 3, 2), (42, 3, 3)]
    assert "".join(d.text for d in decoded) == text
    assert [len(d.text) for d in decoded] == [153, 153, 94]


def test_gsm7_parts_carry_one_fill_bit_after_the_header_per_the_spec():
    parts = encode_submit("+1555", "A" * 200, concat_reference=7, request_status_report=False)
    data = bytes.fromhex(parts[0].pdu_hex)
    udl_index = 1 + 1 + 1 + 4 + 1 + 1  # SMSC, first, MR, address (len, toa, 2 octets), PID, DCS
    assert data[udl_index] == 7 + 153
    user_data = data[udl_index + 1:]
    assert user_data[:6] == bytes([5, 0, 3, 7, 2, 1])
    assert user_data[6:] == _reference_pack(b"\x41" * 153, fill=1)


def test_a_split_never_cuts_an_extension_escape():
    text = "a" * 152 + "€" + "b" * 10
    parts = [decode_submit(p.pdu_hex).text for p in encode_submit("+1555", text)]
    assert parts == ["a" * 152, "€" + "b" * 10]


def test_a_split_never_cuts_a_surrogate_pair():
    text = "я" * 66 + EMOJI + "я" * 10
    parts = encode_submit("+1555", text, concat_reference=3)
    texts = [decode_submit(p.pdu_hex).text for p in parts]
    assert texts == ["я" * 66, EMOJI + "я" * 10]
    assert "".join(texts) == text


def test_long_deliveries_are_concatenated_and_reassemble():
    text = "Ünïcödé " * 30
    pdus = encode_deliver("+15550001111", text, timestamp=WHEN, concat_reference=200)
    parts = [decode_pdu(p) for p in pdus]
    assert all(p.concat[0] == 200 and p.concat[1] == len(pdus) for p in parts)
    whole = None
    reassembler = Reassembler()
    for part in parts:
        whole = reassembler.add(part, now=0.0)
    assert whole is not None and whole.text == text and whole.concat is None


@pytest.mark.parametrize("destination", ["", "   ", "abc", "+", "+12a45", "12 34", None])
def test_an_empty_or_invalid_destination_is_a_value_error(destination):
    with pytest.raises(ValueError, match="destination"):
        encode_submit(destination, "hi")


@pytest.mark.parametrize("status,delivered,temporary,permanent", [
    (0x00, True, False, False),
    (0x02, True, False, False),
    (0x20, False, True, False),
    (0x30, False, True, False),
    (0x41, False, False, True),
    (0x62, False, False, True),  # temporary error, SC not making any more transfer attempts
])
def test_status_reports_are_classified_by_tp_status(status, delivered, temporary, permanent):
    report = decode_pdu(encode_status_report(17, "+447700900123", status, timestamp=WHEN))
    assert isinstance(report, StatusReport)
    assert (report.reference, report.recipient, report.status) == (17, "+447700900123", status)
    assert (report.delivered, report.temporary, report.permanent) == (delivered, temporary, permanent)
    assert report.discharge_time == WHEN


def test_a_real_world_status_report_decodes():
    pdu = "07911326060032F006D70B911326880736F4111011719551401110117195714000"
    report = decode_pdu(pdu)
    assert report.reference == 0xD7 and report.recipient == "+31628870634" and report.delivered


def test_a_real_world_deliver_decodes():
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    sms = decode_pdu(pdu)
    assert (sms.sender, sms.text) == ("+31641600986", "How are you?")


@pytest.mark.parametrize("garbage", [
    "", "zz", "0", "00", "0791", "07911326040000F004", "00FF", "00040B9113466100", "not hex at all",
    "00" * 3, "0004" + "FF" * 40, "0041000B911346610089F60000",
])
def test_garbage_raises_pdu_error_and_nothing_else(garbage):
    with pytest.raises(PduError):
        decode_pdu(garbage)


def test_a_submit_is_not_a_received_message():
    (part,) = encode_submit("+1555", "x")
    with pytest.raises(PduError, match="SMS-SUBMIT"):
        decode_pdu(part.pdu_hex)


def test_fuzzed_truncations_only_ever_raise_pdu_error():
    pdus = encode_deliver("+15550001111", "x" * 200 + EMOJI, timestamp=WHEN, concat_reference=9)
    pdus.append(encode_status_report(1, "+1555", 0, timestamp=WHEN))
    for pdu in pdus:
        for cut in range(0, len(pdu), 2):
            try:
                decode_pdu(pdu[:cut])
            except PduError:
                pass


def _part(text, number, count=3, reference=5, sender="+1555"):
    return DeliveredSms(sender, text, WHEN, None, (reference, count, number))


def test_reassembly_in_order():
    r = Reassembler()
    assert r.add(_part("a", 1), 0) is None
    assert r.add(_part("b", 2), 1) is None
    assert r.add(_part("c", 3), 2).text == "abc"
    assert r.pending == 0


def test_reassembly_out_of_order_and_with_duplicates():
    r = Reassembler()
    assert r.add(_part("c", 3), 0) is None
    assert r.add(_part("a", 1), 0) is None
    assert r.add(_part("a", 1), 0) is None
    assert r.add(_part("b", 2), 0).text == "abc"


def test_parts_from_different_senders_or_references_do_not_mix():
    r = Reassembler()
    r.add(_part("a", 1, sender="+1"), 0)
    r.add(_part("X", 2, sender="+2"), 0)
    r.add(_part("Y", 2, reference=6, sender="+1"), 0)
    assert r.pending == 3


def test_a_single_part_message_passes_straight_through():
    sms = DeliveredSms("+1555", "hi", WHEN, None, None)
    assert Reassembler().add(sms, 0) is sms


def test_an_incomplete_message_is_delivered_with_a_gap_after_the_timeout():
    r = Reassembler(timeout=60)
    r.add(_part("a", 1), 100.0)
    r.add(_part("c", 3), 120.0)
    assert r.expire(159.0) == []
    ((key, partial),) = r.expire(160.0)
    assert key == ("+1555", 5, 3) == Reassembler.key_of(_part("b", 2))
    assert partial.text == "a…c"
    assert partial.sender == "+1555"
    assert r.pending == 0 and r.expire(1000.0) == []


# ---------------------------------------------------------------- what is undecodable, exactly
HOW_ARE_YOU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


@pytest.mark.parametrize("pdu, reason", [
    (HOW_ARE_YOU[:-4], "PDU ends early: user data needs 11 octet(s)"),  # UDL longer than the data
    (HOW_ARE_YOU.replace("89F60000", "89F60039"), "compressed user data (TP-DCS 0x39)"),
    (HOW_ARE_YOU.replace("89F60000", "89F60020"), "compressed user data (TP-DCS 0x20)"),
    ("91" + HOW_ARE_YOU[2:], "SMSC length 145 octets is more than an address holds"),
    (HOW_ARE_YOU.replace("040B91", "04FF91"), "sender length 255 digits"),
    (HOW_ARE_YOU.replace("731408" + "0C", "731408" + "FF"), "user data length 255 septets"),
    ("0007" + HOW_ARE_YOU[18:], "reserved TP-MTI 3"),
    ("0044" + HOW_ARE_YOU[18:52] + "05" + "0500030102", "user data header is longer"),
])
def test_a_pdu_that_contradicts_its_own_lengths_or_fields_is_undecodable(pdu, reason):
    with pytest.raises(PduError, match=re.escape(reason)):
        decode_pdu(pdu)


def test_a_reserved_alphabet_is_read_as_gsm7_as_the_standard_says():
    for dcs in ("0C", "8C", "B0"):  # general group, reserved alphabet; reserved coding groups
        assert decode_pdu(HOW_ARE_YOU.replace("89F60000", "89F600" + dcs)).text == "How are you?"


def test_a_timestamp_that_is_no_date_does_not_cost_the_message():
    broken = HOW_ARE_YOU.replace("20806291731408", "20FF6291731408")  # month 0xFF
    sms = decode_pdu(broken)
    assert (sms.text, sms.smsc_timestamp) == ("How are you?", None)


def test_a_bug_in_decoding_is_not_disguised_as_an_undecodable_pdu(monkeypatch):
    from modem.pdu import decoding

    def buggy(reader, what):
        raise KeyError(what)

    monkeypatch.setattr(decoding, "_read_address", buggy)
    with pytest.raises(KeyError):
        decode_pdu(HOW_ARE_YOU)


def test_the_sender_of_an_undecodable_pdu_is_read_when_its_header_is_whole():
    from modem.pdu.codec import sender_of

    assert sender_of(HOW_ARE_YOU.replace("89F60000", "89F60039")) == "+31641600986"
    assert sender_of("0791FFFF") is None and sender_of("zz") is None
