"""`make bench-soak`: the long soak (issue 11, point 9), 100 rounds by default.

Under steady verification traffic through the API, the worker (`msisdn-gateway worker
--simulate`, two simulated modems) is killed with SIGKILL at moments drawn from a seed and
restarted, and simulated modems are slowed, unplugged and replugged; then the ledger:
SMS accepted, received by the phones, duplicated, lost, left queued/sending, and of
unknown outcome, each of those explained. What is done and how it is judged:
tests/e2e/soak.py (its 10-round version runs in `make test`).

    python bench/soak.py [--rounds N] [--seed S] [--keep DIR]

Exit status 1 when anything was lost, sent twice, left behind or unexplained; the seed
printed replays the same plan (SOAK_SEED=S or --seed S).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from soak import Soak, new_seed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None, help="default: SOAK_SEED or new")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this (new) state directory and keep it")
    args = parser.parse_args(argv)
    seed = new_seed() if args.seed is None else args.seed
    state = args.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    state.mkdir(parents=True, exist_ok=True)
    print(f"state in {state}", flush=True)
    try:
        ledger = Soak(state, args.rounds, seed, say=lambda text: print(text, flush=True)).run()
    finally:
        if args.keep is None:
            shutil.rmtree(state, ignore_errors=True)
    print(ledger.report())
    return 0 if ledger.ok else 1


if __name__ == "__main__":
    sys.exit(main())
