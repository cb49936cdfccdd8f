"""The network's hooks for a store that outlives the process (the gateway's --simulate
keeps what phones receive in its database): ``on_submit`` sees each accepted part before
the modem answers +CMGS, and an SMS-MO sent again with its first SMSC time stamp is the
same SMS to its receiver."""
from datetime import datetime, timezone

from sim_harness import Driver

from modem.pdu.codec import decode_pdu


def test_on_submit_sees_each_part_with_its_delay_before_the_modem_answers():
    d = Driver(delivery_delay=7.0)
    d.at("ATE0")
    seen = []
    d.network.on_submit = lambda entry, sms, delay: seen.append(
        (entry.recipient, sms.text, sms.concat and sms.concat[1:], delay,
         d.modem.machine.output_waiting))
    answers = d.submit("+447700900123", "z" * 200)
    assert all("+CMGS:" in answer for answer in answers)
    assert seen == [("+447700900123", "z" * 153, (2, 1), 7.0, 0),
                    ("+447700900123", "z" * 47, (2, 2), 7.0, 0)]  # nothing answered yet


def test_an_sms_mo_keeps_the_smsc_time_stamp_it_is_given():
    d = Driver()
    d.at("ATE0")
    stamp = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)
    for _ in range(2):
        d.network.phone("+447700900123").send(d.modem.number, "STOP", timestamp=stamp)
    d.advance(0)
    stored = [decode_pdu(line) for line in d.at("AT+CMGL=4").split("\r\n")
              if line.startswith("07")]
    assert [(sms.text, sms.smsc_timestamp) for sms in stored] == [("STOP", stamp)] * 2
