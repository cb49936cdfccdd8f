"""`serve --simulate` with two modems, one pulled out while it sends (through the
simulator's fault endpoints): no SMS is lost or sent twice."""

import requests

from modem.numbers import mask_number
from processes import eventually, query, start_serve, start_verification, stop

NUMBERS = [f"+336123451{i:02d}" for i in range(6)]
FINAL = {"sent", "delivered", "unknown"}


def test_two_modems_one_unplugged_mid_send_loses_nothing_and_sends_nothing_twice(tmp_path):
    serve, url = start_serve(tmp_path, "--simulate", env={"MSISDN_GATEWAY_SIMULATED_MODEMS": "2"})
    try:
        eventually(lambda: query(tmp_path, "SELECT count(*) FROM modem_status WHERE healthy")
                   == [(2,)])
        for modem in ("sim0", "sim1"):  # answers to AT+CMGS held for 2 s
            assert requests.post(f"{url}/__sim__/modems/{modem}/faults",
                                 json={"fault": "slow_submit:2"}).status_code == 202
        eventually(lambda: query(tmp_path, "SELECT count(*) FROM sim_modem_commands "
                                           "WHERE outcome = 'applied'") == [(2,)])
        for number in NUMBERS:
            start_verification(url, number)
        def received(number):
            return len(requests.get(f"{url}/__sim__/phones/{number}/messages").json())

        # Both modems wrote their PDU (the phones have the SMS) and wait for the answer.
        eventually(lambda: sum(map(received, NUMBERS)) == 2)
        assert query(tmp_path, "SELECT count(*) FROM outbox WHERE status = 'sending'") == [(2,)]
        requests.post(f"{url}/__sim__/modems/sim0/faults", json={"fault": "unplug"})
        requests.delete(f"{url}/__sim__/modems/sim1/faults", params={"fault": "slow_submit"})
        eventually(lambda: {s for (s,) in query(tmp_path, "SELECT status FROM outbox")} <= FINAL,
                   timeout=60)
        requests.delete(f"{url}/__sim__/modems/sim0/faults", params={"fault": "unplug"})
        statuses = dict(query(tmp_path, "SELECT recipient, status FROM outbox"))
        assert list(statuses.values()).count("unknown") == 1  # sim0's send: no answer
        sent = [n for n in NUMBERS if statuses[mask_number(n)] != "unknown"]  # masked
        eventually(lambda: all(received(n) >= 1 for n in sent))
        assert [received(n) for n in NUMBERS] == [1] * len(NUMBERS)  # none lost or doubled
    finally:
        stop(serve)
