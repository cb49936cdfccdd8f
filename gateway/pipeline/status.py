"""Publishing what the worker knows of its modems to the database (modem_status), for the
API processes: discover, back-off and the heartbeat read it from there, every box's modems
together. A worker writes and removes only its own rows (keyed by its identity and the
modem's name); rows older than ``modem_status_ttl`` (a worker that stopped reporting) are
removed by whichever worker publishes next."""
from __future__ import annotations

import logging

from gateway.deps import Deps
from modem.numbers import region_of
from modem.pool import ModemHealth

log = logging.getLogger(__name__)


def mask_imsi(imsi: str | None) -> str | None:
    """MCC+MNC and the last 3 digits: enough to tell SIMs apart, not to clone one."""
    if not imsi:
        return None
    return imsi[:5] + "*" * max(0, len(imsi) - 8) + imsi[-3:]



def _power_warning(health: ModemHealth) -> str | None:
    if not health.last_power_warning:
        return None
    at = health.last_power_warning_at
    return f"{health.last_power_warning} at {at:%Y-%m-%d %H:%M:%S}Z" if at else \
        health.last_power_warning


def status_row(worker: str, health: ModemHealth, seconds_per_part: float | None,
               now) -> dict:
    identity, network = health.identity, health.network
    home = identity.home_network or ""
    model = " ".join(p for p in (identity.manufacturer, identity.model) if p) or None
    return {"worker": worker, "name": health.name, "url": health.url, "state": health.state,
            "healthy": health.healthy, "model": model, "imsi_masked": mask_imsi(identity.imsi),
            "number": identity.own_number, "mcc": home[:3] or None, "mnc": home[3:] or None,
            "region": region_of(identity.own_number) if identity.own_number else None,
            "signal_dbm": network.signal_dbm,
            "registration": network.registration, "last_error": health.last_error,
            "power_warning": _power_warning(health),
            "sent_today": health.sent_today, "failed": health.rejected + health.unknown,
            "daily_quota": health.daily_quota, "seconds_per_part": seconds_per_part,
            "updated_at": now}


def publish(deps: Deps, worker: str, healths: list[ModemHealth],
            speeds: dict[str, float]) -> None:
    """Replace ``worker``'s rows of modem_status with ``healths``, then remove every
    worker's rows older than ``modem_status_ttl``. Two transactions, so that two workers
    publishing at once never wait on each other's rows in turn (no deadlock)."""
    now = deps.now()
    with deps.uow() as uow:
        for health in healths:
            uow.modems.upsert(status_row(worker, health, speeds.get(health.name), now))
        uow.modems.remove_except(worker, [h.name for h in healths])
        uow.commit()
    with deps.uow() as uow:
        removed = uow.modems.remove_stale(now, deps.settings.modem_status_ttl)
        uow.commit()
    if removed:
        log.info("removed %d modem status(es) older than %d s (a worker stopped reporting)",
                 removed, deps.settings.modem_status_ttl)
