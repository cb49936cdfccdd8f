"""`selftest`: what a field tester runs on a SIM: can the modem open it (PIN), is it
registered, is the signal usable, is there an SMSC, and does an SMS to its own number
come back. One verdict per step; the run fails if any step fails.

It opens the modem itself, so the gateway's worker must not hold the port.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass

from modem.exceptions import ModemError
from modem.pool import ModemPool
from modem.transport import ModemConfig

WEAK_SIGNAL_DBM = -105  # below this, sends often fail (CSQ about 4)


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def run_selftest(config: ModemConfig, timeout: float) -> list[Step]:
    """Run every step that can run; later steps are skipped when the modem did not open."""
    pool = ModemPool([config], supervise=False)  # one attempt: no reopening behind our back
    pool.start()
    try:
        health = pool.health()[0]
        steps = [_opened(health)]
        if not steps[0].ok:
            return steps
        steps += [_sim(health), _registration(health), _signal(health), _smsc(health)]
        number = health.identity.own_number
        if not number:
            steps.append(Step("own number", False, "unknown: the SIM has no number (AT+CNUM); "
                                                   "give it with --own-number"))
        else:
            steps.append(_loopback(pool, number, timeout))
        return steps
    finally:
        pool.stop()


def _opened(health) -> Step:
    if health.state == "ready":
        identity = health.identity
        return Step("open and initialise", True,
                    " ".join(p for p in (identity.manufacturer, identity.model,
                                         identity.revision) if p) or "ok")
    return Step("open and initialise", False, health.last_error or health.state)


def _sim(health) -> Step:
    identity = health.identity
    return Step("SIM and PIN", bool(identity.imsi),
                f"IMSI {identity.imsi or '?'}, ICCID {identity.iccid or '?'}")


def _registration(health) -> Step:
    registration = health.network.registration
    return Step("network registration", registration in ("home", "roaming"),
                f"{registration} on {health.network.operator or '?'}")


def _signal(health) -> Step:
    dbm = health.network.signal_dbm
    if dbm is None:
        return Step("signal", False, "no signal (CSQ 99)")
    return Step("signal", dbm >= WEAK_SIGNAL_DBM,
                f"{dbm} dBm" + ("" if dbm >= WEAK_SIGNAL_DBM else " (too weak)"))


def _smsc(health) -> Step:
    smsc = health.identity.smsc
    return Step("SMS centre", bool(smsc), smsc or "not set on the SIM (AT+CSCA): sends will "
                                                 "fail with CMS 330")


def _loopback(pool: ModemPool, number: str, timeout: float) -> Step:
    """Send a random token to the modem's own number and wait for it to come back. Other
    SMS received meanwhile are left on the SIM for the gateway."""
    token = f"msisdn-gateway selftest {secrets.token_hex(4)}"
    started = time.monotonic()
    try:
        pool.send(number, token)
    except (ModemError, ValueError) as exc:
        return Step("SMS to own number", False, f"send failed: {exc}")
    while (left := timeout - (time.monotonic() - started)) > 0:
        item = pool.receive(timeout=left)
        if item is None:
            break
        if getattr(item, "text", None) == token:
            item.ack()
            return Step("SMS to own number", True,
                        f"came back in {time.monotonic() - started:.1f} s")
        if hasattr(item, "release"):
            item.release()
    return Step("SMS to own number", False, f"sent to {number} but not received within "
                                             f"{timeout:.0f} s")
