"""Which modems `selftest` opens: --modem, --simulate, or the configured ones; refused
while the gateway's worker holds them."""
from __future__ import annotations

import dataclasses

import click

from gateway.config.worker_identity import worker_identity
from gateway.deps import Deps
from modem.transport import ModemConfig

SIMULATED_NUMBER = "+33700000001"
RECENT_SECONDS = 30


def selftest_targets(deps: Deps, *, url: str | None, pin: str | None,
                     own_number: str | None, simulate: bool) -> list[ModemConfig]:
    if simulate:
        import modem.sim

        modem.sim.register()
        network = modem.sim.create_network("selftest")
        network.add_modem("selftest", "generic", number=SIMULATED_NUMBER)
        configs = [ModemConfig(url="modemsim://selftest?network=selftest", name="selftest")]
    elif url:
        configs = [ModemConfig(url=url, name="modem")]
    else:
        configs = list(deps.settings.modems)
        if not configs:
            raise click.ClickException("no modem to test: give --modem URL (or configure "
                                       "modems, or use --simulate)")
        _refuse_if_worker_runs(deps)
    changes = {k: v for k, v in (("pin", pin), ("own_number", own_number)) if v}
    return [dataclasses.replace(c, **changes) for c in configs]


def recent_local_statuses(deps: Deps) -> list:
    """The modem statuses this box's worker published within RECENT_SECONDS (other boxes
    sharing the database have ports of their own)."""
    worker = worker_identity(deps.settings, keep=False)
    with deps.uow(read_only=True) as uow:
        return [s for s in uow.modems.fresh(deps.now(), RECENT_SECONDS) if s.worker == worker]


def _refuse_if_worker_runs(deps: Deps) -> None:
    if recent_local_statuses(deps):
        raise click.ClickException(
            f"the gateway's worker reported its modems {RECENT_SECONDS} s ago or less: it holds "
            "the ports. Stop it first (systemctl stop msisdn-gateway), or test one port "
            "with --modem")
