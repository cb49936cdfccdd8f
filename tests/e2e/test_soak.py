"""The soak, bounded (10 rounds; the long one is `make bench-soak`): under steady
verification traffic, the worker is killed with SIGKILL at random moments and simulated
modems are slowed, unplugged and replugged; then nothing the API accepted is lost, sent
twice or left behind, and every SMS of unknown outcome is explained (see soak.py).
SOAK_SEED=<seed> replays a plan; the seed is in the failure message."""
from soak import Soak, new_seed

ROUNDS = 10


def test_kills_and_unplugs_under_traffic_lose_nothing_send_nothing_twice_leave_nothing(
        tmp_path):
    ledger = Soak(tmp_path, ROUNDS, new_seed(), say=print).run()
    print(ledger.report())
    assert ledger.ok, ledger.report()
    assert ledger.accepted > ROUNDS  # traffic went on all along
    assert ledger.disruptions["kill"] == ROUNDS
