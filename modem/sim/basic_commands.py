"""AT commands of the simulated modem: basic, identity and network commands, and dispatch.

Each handler takes the machine, the parsed command (:mod:`modem.sim.atparse`) and ``now``;
it returns information lines, PROMPT (AT+CMGS / AT+CMGW wait for a PDU), or raises
AtError. SMS commands are in :mod:`modem.sim.sms_commands`. Handlers reach into the
machine's state: these modules are the machine's other half.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from modem.sim import sms_commands as sms
from modem.sim.atparse import PROMPT, AtError, Command, parse_line
from modem.sim.card import MAX_PIN_ATTEMPTS, MAX_PUK_ATTEMPTS
from modem.sim.sms_commands import finish_pdu, require_sim

if TYPE_CHECKING:
    from modem.sim.machine import ModemMachine

REGISTRATION_CODES = {"none": 0, "home": 1, "searching": 2, "denied": 3, "unknown": 4, "roaming": 5}
NOOP_COMMANDS = frozenset({"+CLIP", "+CRC", "+CSDH", "+CMMS", "+CSCB", "+CSCS", "+CSMP"})
__all__ = ["PROMPT", "REGISTRATION_CODES", "AtError", "Command", "dispatch", "finish_pdu", "parse_line"]


# ---------------------------------------------------------------- basic and identity


def _basic(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    value = cmd.args[0] if cmd.args else ""
    if cmd.name == "E":
        m.echo = value not in ("", "0")
    elif cmd.name == "V" and value == "0":
        raise AtError("ERROR")  # numeric results are not simulated
    elif cmd.name in ("Z", "&F"):
        m.reset_session()
    elif cmd.name == "I":
        p = m.profile
        return [p.manufacturer, p.model, f"Revision: {p.revision}"]
    elif cmd.name not in ("V", "Q", "X", "&W", "&D", "&C", "&K", "S"):
        raise AtError("UNKNOWN")
    return []


def _cmee(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return [f"+CMEE: {m.cmee}"]
    value = cmd.int_arg(0)
    if value not in (0, 1, 2):
        raise AtError("CME", 3)
    m.cmee = value
    return []


def _cpin(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    status, card = m.sim_status(), m.card
    if status == "SIM failure":
        raise AtError("CME", 13)
    if cmd.kind == "read":
        return [f"+CPIN: {status}"]
    if status == "READY":
        raise AtError("CME", 3)
    if status == "SIM PIN":
        if cmd.args[0] != card.pin:
            card.pin_attempts -= 1
            raise AtError("CME", 16)
        card.pin_attempts = MAX_PIN_ATTEMPTS
    else:  # SIM PUK: AT+CPIN="<puk>","<new pin>"
        if len(cmd.args) < 2 or not cmd.args[1]:
            raise AtError("CME", 3)
        if cmd.args[0] != card.puk:
            card.puk_attempts -= 1
            raise AtError("CME", 16)
        card.pin, card.pin_attempts, card.puk_attempts = cmd.args[1], MAX_PIN_ATTEMPTS, MAX_PUK_ATTEMPTS
    m.pin_entered = True
    m.refresh_registration()
    return []


def _identity(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    p = m.profile
    name = cmd.name.replace("+G", "+CG")
    if name == "+CIMI":
        require_sim(m)
        return [m.card.imsi]
    return [{"+CGSN": m.imei, "+CGMI": p.manufacturer, "+CGMM": p.model,
             "+CGMR": p.cgmr_template.format(revision=p.revision)}[name]]


def _iccid(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if m.sim_status() == "SIM failure":
        raise AtError("CME", 13)
    return [m.profile.iccid_commands[cmd.name].format(iccid=m.card.iccid)]


def _curc(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return [f"{cmd.name}: {int(m.spam_on)}"]
    m.spam_on = cmd.int_arg(0) != 0
    return []


# ---------------------------------------------------------------- network


def _cops(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    act = m.profile.access_technology
    if cmd.kind == "test":
        return [f'+COPS: (2,"{m.operator_name}","{m.operator_name}","{m.plmn}",{act}),,(0-4),(0-2)']
    if cmd.kind == "set":
        if cmd.int_arg(0) == 3:
            fmt = cmd.int_arg(1)
            if fmt not in (0, 1, 2):
                raise AtError("CME", 3)
            m.cops_format = fmt
        return []
    if not m.registered():
        return ["+COPS: 0"]
    name = m.plmn if m.cops_format == 2 else m.operator_name
    return [f'+COPS: 0,{m.cops_format},"{name}",{act}']


def _cnum(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m)
    number = m.card.number
    if not number or not m.card.number_on_sim:
        return []
    return [f'+CNUM: "","{number}",{145 if number.startswith("+") else 129}']


def _csq(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    return ["+CSQ: 99,99" if m.faults.no_network else f"+CSQ: {m.signal},99"]


def _creg(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "set":
        mode = cmd.int_arg(0)
        if not 0 <= mode <= (5 if cmd.name == "+CEREG" else 2):
            raise AtError("CME", 3)
        m.reg_urc[cmd.name] = mode
        return []
    return [f"{cmd.name}: {m.reg_urc[cmd.name]},{REGISTRATION_CODES[m.reg_state()]}"]


def _cfun(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    return ["+CFUN: 1"] if cmd.kind == "read" else []


# ---------------------------------------------------------------- dispatch

Handler = Callable[["ModemMachine", Command, float], object]
TABLE: dict[str, tuple[Handler, frozenset[str]]] = {
    "+CMEE": (_cmee, frozenset({"set", "read"})),
    "+CPIN": (_cpin, frozenset({"set", "read"})),
    "+CGSN": (_identity, frozenset({"exec"})), "+GSN": (_identity, frozenset({"exec"})),
    "+CIMI": (_identity, frozenset({"exec"})),
    "+CGMI": (_identity, frozenset({"exec"})), "+GMI": (_identity, frozenset({"exec"})),
    "+CGMM": (_identity, frozenset({"exec"})), "+GMM": (_identity, frozenset({"exec"})),
    "+CGMR": (_identity, frozenset({"exec"})), "+GMR": (_identity, frozenset({"exec"})),
    "+COPS": (_cops, frozenset({"set", "read", "test"})),
    "+CNUM": (_cnum, frozenset({"exec"})),
    "+CSQ": (_csq, frozenset({"exec"})),
    "+CREG": (_creg, frozenset({"set", "read"})),
    "+CGREG": (_creg, frozenset({"set", "read"})),
    "+CEREG": (_creg, frozenset({"set", "read"})),
    "+CFUN": (_cfun, frozenset({"set", "read"})),
    "+CMGF": (sms.cmgf, frozenset({"set", "read"})),
    "+CNMI": (sms.cnmi, frozenset({"set", "read"})),
    "+CPMS": (sms.cpms, frozenset({"set", "read", "test"})),
    "+CSCA": (sms.csca, frozenset({"set", "read"})),
    "+CSMS": (sms.csms, frozenset({"set", "read"})),
    "+CMGS": (sms.cmgs, frozenset({"set"})),
    "+CMGW": (sms.cmgs, frozenset({"set"})),
    "+CMGR": (sms.cmgr, frozenset({"set"})),
    "+CMGL": (sms.cmgl, frozenset({"set", "exec"})),
    "+CMGD": (sms.cmgd, frozenset({"set"})),
    "+CNMA": (sms.cnma, frozenset({"set", "exec"})),
}


def dispatch(m: ModemMachine, cmd: Command, now: float) -> object:
    profile = m.profile
    if cmd.name[0].isalpha() or cmd.name[0] == "&":
        return _basic(m, cmd, now)
    if cmd.name in profile.iccid_commands and cmd.kind in ("exec", "read"):
        return _iccid(m, cmd, now)
    if profile.spam_off_command and cmd.name == profile.spam_off_command.split("=")[0]:
        return _curc(m, cmd, now)
    if cmd.name in profile.extra_ok_commands or cmd.name in NOOP_COMMANDS:
        return []
    entry = TABLE.get(cmd.name)
    if entry is None or (cmd.name == "+CEREG" and not profile.lte):
        raise AtError("UNKNOWN")
    handler, kinds = entry
    if cmd.kind == "test":
        return handler(m, cmd, now) if "test" in kinds else []
    if cmd.kind not in kinds:
        raise AtError("ERROR")
    return handler(m, cmd, now)
