"""AT commands of the simulated modem: parsing a command line and answering each command.

Command line grammar (after the ``AT`` prefix, V.250)::

    line      := { command [";"] }
    command   := extended | basic
    extended  := ("+" | "^" | "$" | "%") NAME ( "=?" | "?" | "=" args | "" )
    basic     := ["&"] LETTER [DIGITS] | "S" DIGITS ( "?" | "=" DIGITS )
    args      := arg { "," arg }      (quotes are stripped, commas inside quotes kept)

Each handler takes the machine, the parsed command and ``now``; it returns information
lines, :data:`PROMPT` (AT+CMGS / AT+CMGW wait for a PDU), or raises :class:`AtError`.
Handlers reach into the machine's state: this module is the machine's other half.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from modem.pdu import PduError, decode_submit
from modem.sim.card import MAX_PIN_ATTEMPTS, MAX_PUK_ATTEMPTS, REC_READ, REC_UNREAD, STO_UNSENT

if TYPE_CHECKING:
    from modem.sim.machine import ModemMachine

PROMPT = object()
MEMORIES = ("SM", "ME", "MT")
NOOP_COMMANDS = frozenset({"+CLIP", "+CRC", "+CSDH", "+CMMS", "+CSCB", "+CSCS", "+CSMP"})


class AtError(Exception):
    """A final result other than OK: kind CME or CMS (with code), ERROR, or UNKNOWN command."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind, self.code = kind, code


@dataclass(frozen=True)
class Command:
    name: str  # "+CMGS", "^CURC", "E", "&F"
    kind: str  # exec, read, test, set
    args: tuple[str, ...] = ()

    def int_arg(self, index: int, default: int | None = None) -> int:
        try:
            return int(self.args[index])
        except (IndexError, ValueError):
            if default is None:
                raise AtError("ERROR") from None
            return default


def _split_args(raw: str) -> tuple[str, ...]:
    args, current, quoted = [], "", False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    args.append(current.strip())
    return tuple(args)


def _end_of_args(rest: str, start: int) -> int:
    quoted = False
    for i in range(start, len(rest)):
        if rest[i] == '"':
            quoted = not quoted
        elif rest[i] == ";" and not quoted:
            return i
    return len(rest)


def parse_line(rest: str) -> list[Command]:
    """The commands of one line after "AT"; raises AtError("UNKNOWN") for what it cannot read."""
    out, i = [], 0
    while i < len(rest):
        ch = rest[i]
        if ch in " ;":
            i += 1
        elif ch in "+^$%":
            j = i + 1
            while j < len(rest) and (rest[j].isalnum() or rest[j] == "_"):
                j += 1
            if j == i + 1:
                raise AtError("UNKNOWN")
            name = rest[i:j].upper()
            if rest.startswith("=?", j):
                out.append(Command(name, "test"))
                i = j + 2
            elif rest.startswith("?", j):
                out.append(Command(name, "read"))
                i = j + 1
            elif rest.startswith("=", j):
                end = _end_of_args(rest, j + 1)
                out.append(Command(name, "set", _split_args(rest[j + 1:end])))
                i = end
            else:
                out.append(Command(name, "exec"))
                i = j
        elif ch == "&" or ch.isalpha():
            j = i + (2 if ch == "&" else 1)
            name = rest[i:j].upper()
            k = j
            while k < len(rest) and (rest[k].isdigit() or (name == "S" and rest[k] in "=?")):
                k += 1
            out.append(Command(name, "exec", (rest[j:k],)))
            i = k
        else:
            raise AtError("UNKNOWN")
    return out


# ---------------------------------------------------------------- helpers


def _require_sim(m: ModemMachine, sms: bool = False) -> None:
    status = m.sim_status()
    if status == "READY":
        return
    cme, cms = {"SIM PIN": (11, 311), "SIM PUK": (12, 316)}.get(status, (13, 313))
    raise AtError("CMS", cms) if sms else AtError("CME", cme)


def _storage(m: ModemMachine) -> tuple[int, int]:
    return m.card.used, m.card.capacity


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
        _require_sim(m)
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
    _require_sim(m)
    number = m.card.number
    if not number or not m.card.number_on_sim:
        return []
    return [f'+CNUM: "","{number}",{145 if number.startswith("+") else 129}']


def _csq(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    return ["+CSQ: 99,99" if m.faults.no_network else f"+CSQ: {m.signal},99"]


def _creg(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    from modem.sim.machine import REGISTRATION_CODES

    if cmd.kind == "set":
        mode = cmd.int_arg(0)
        if not 0 <= mode <= (5 if cmd.name == "+CEREG" else 2):
            raise AtError("CME", 3)
        m.reg_urc[cmd.name] = mode
        return []
    return [f"{cmd.name}: {m.reg_urc[cmd.name]},{REGISTRATION_CODES[m.reg_state()]}"]


def _cfun(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    return ["+CFUN: 1"] if cmd.kind == "read" else []


# ---------------------------------------------------------------- SMS


def _cmgf(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return [f"+CMGF: {m.cmgf}"]
    mode = cmd.int_arg(0)
    if mode not in (0, 1) or (mode == 1 and not m.profile.text_mode):
        raise AtError("CMS", 303)
    m.cmgf = mode
    return []


def _cnmi(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return ["+CNMI: " + ",".join(map(str, m.cnmi))]
    try:
        values = [int(a) if a else m.cnmi[i] for i, a in enumerate(cmd.args[:5])]
    except ValueError:
        raise AtError("CMS", 303) from None
    if any(not 0 <= v <= 3 for v in values) or (len(values) > 3 and values[3] > 2):
        raise AtError("CMS", 303)
    m.cnmi[:len(values)] = values
    return []


def _cpms(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    _require_sim(m, sms=True)
    used, total = _storage(m)
    if cmd.kind == "read":
        return ["+CPMS: " + ",".join(f'"{mem}",{used},{total}' for mem in m.mems)]
    if cmd.kind == "test":
        choices = ",".join(f'"{mem}"' for mem in MEMORIES[:2])
        return [f"+CPMS: ({choices}),({choices}),({choices})"]
    names = [a.upper() for a in cmd.args[:3]]
    if not names or any(n not in MEMORIES for n in names):
        raise AtError("CMS", 302)
    m.mems[:len(names)] = names
    return ["+CPMS: " + ",".join([f"{used},{total}"] * 3)]


def _csca(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    _require_sim(m, sms=True)
    if cmd.kind == "set":
        m.card.smsc = cmd.args[0]
        return []
    if m.faults.smsc_unknown or not m.card.smsc:
        return ['+CSCA: "",129']
    return [f'+CSCA: "{m.card.smsc}",{145 if m.card.smsc.startswith("+") else 129}']


def _csms(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    return ["+CSMS: 0,1,1,1"] if cmd.kind == "read" else ["+CSMS: 1,1,1"]


def _cmgs(m: ModemMachine, cmd: Command, now: float) -> object:
    _require_sim(m, sms=True)
    length = cmd.int_arg(0)
    if not 7 <= length <= 175:
        raise AtError("CMS", 304)
    if cmd.name == "+CMGW" and m.card.full:
        raise AtError("CMS", 322)
    m.start_pdu("send" if cmd.name == "+CMGS" else "write", length)
    return PROMPT


def _slot(m: ModemMachine, number: int) -> int:
    index = number - m.profile.first_index
    if not 0 <= index < m.card.capacity:
        raise AtError("CMS", 321)
    return index


def _cmgr(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    _require_sim(m, sms=True)
    message = m.card.read(_slot(m, cmd.int_arg(0)))
    if message is None:
        if m.profile.empty_read_ok:
            return []
        raise AtError("CMS", 321)
    lines = [f"+CMGR: {message.stat},,{message.tpdu_length}", message.pdu_hex]
    if message.stat == REC_UNREAD:
        message.stat = REC_READ
    return lines


def _cmgl(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    _require_sim(m, sms=True)
    stat = cmd.int_arg(0) if cmd.args else REC_UNREAD
    if not 0 <= stat <= 4:
        raise AtError("CMS", 302)
    lines = []
    for index, message in m.card.listing(stat):
        lines += [f"+CMGL: {index + m.profile.first_index},{message.stat},,{message.tpdu_length}", message.pdu_hex]
        if message.stat == REC_UNREAD:
            message.stat = REC_READ
    return lines


def _cmgd(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    _require_sim(m, sms=True)
    flag = cmd.int_arg(1, 0)
    if flag:
        m.card.delete_by_flag(flag)
    else:
        m.card.delete(_slot(m, cmd.int_arg(0)))
    return []


def _cnma(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if not m.acknowledge():
        raise AtError("CMS", 340)  # no +CNMA acknowledgement expected
    return []


def _send_error(m: ModemMachine, sms_smsc: str | None) -> int | None:
    if m.faults.no_network or not m.registered():
        return 331
    if m.faults.smsc_unknown or not (sms_smsc or m.card.smsc):
        return 330
    return m.faults.cms_error


def finish_pdu(m: ModemMachine, target: str, length: int, text: str, now: float) -> None:
    """The PDU after the '> ' prompt arrived (Ctrl-Z): send or store it, then answer."""
    pdu_hex = "".join(text.split())
    try:
        data = bytes.fromhex(pdu_hex)
        has_smsc = len(data) != length
        if has_smsc and (not data or len(data) - 1 - data[0] != length):
            raise PduError(f"length {length} does not match the PDU")
        sms = decode_submit(pdu_hex, length)
    except (ValueError, PduError):
        m.respond([], m.final_for(AtError("CMS", 304)))
        return
    if target == "write":
        index = m.card.store(pdu_hex if has_smsc else "00" + pdu_hex, STO_UNSENT)
        if index is None:
            m.respond([], m.final_for(AtError("CMS", 322)))
        else:
            m.respond([f"+CMGW: {index + m.profile.first_index}"], "OK")
        return
    code = _send_error(m, sms.smsc)
    if code is not None:
        m.respond([], m.final_for(AtError("CMS", code)))
        return
    reference = m.next_reference()
    m.uplink.submit(reference, sms, pdu_hex)
    slow = m.faults.slow_submit
    m.respond([f"+CMGS: {reference}"], "OK", hold_until=now + slow if slow > 0 else None)


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
    "+CMGF": (_cmgf, frozenset({"set", "read"})),
    "+CNMI": (_cnmi, frozenset({"set", "read"})),
    "+CPMS": (_cpms, frozenset({"set", "read", "test"})),
    "+CSCA": (_csca, frozenset({"set", "read"})),
    "+CSMS": (_csms, frozenset({"set", "read"})),
    "+CMGS": (_cmgs, frozenset({"set"})),
    "+CMGW": (_cmgs, frozenset({"set"})),
    "+CMGR": (_cmgr, frozenset({"set"})),
    "+CMGL": (_cmgl, frozenset({"set", "exec"})),
    "+CMGD": (_cmgd, frozenset({"set"})),
    "+CNMA": (_cnma, frozenset({"set", "exec"})),
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
