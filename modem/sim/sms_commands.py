"""SMS commands of the simulated modem (3GPP TS 27.005, PDU mode).

AT+CMGF, +CNMI, +CPMS, +CSCA, +CSMS, +CMGS and +CMGW (with the '> ' prompt and the PDU
that follows), +CMGR, +CMGL, +CMGD and +CNMA. Handlers take the machine, the parsed
command and ``now`` and return information lines (or PROMPT), or raise AtError.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from modem.pdu.codec import PduError, decode_submit
from modem.sim.atparse import PROMPT, AtError, Command
from modem.sim.card import REC_READ, REC_UNREAD, STO_UNSENT

if TYPE_CHECKING:
    from modem.sim.machine import ModemMachine

MEMORIES = ("SM", "ME", "MT")


def require_sim(m: ModemMachine, sms: bool = False) -> None:
    """Raise the CME (or, for SMS commands, CMS) error of a SIM that is not ready."""
    status = m.sim_status()
    if status == "READY":
        return
    cme, cms = {"SIM PIN": (11, 311), "SIM PUK": (12, 316)}.get(status, (13, 313))
    raise AtError("CMS", cms) if sms else AtError("CME", cme)



def cmgf(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return [f"+CMGF: {m.cmgf}"]
    mode = cmd.int_arg(0)
    if mode not in (0, 1) or (mode == 1 and not m.profile.text_mode):
        raise AtError("CMS", 303)
    m.cmgf = mode
    return []


def cnmi(m: ModemMachine, cmd: Command, now: float) -> list[str]:
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


def cpms(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m, sms=True)
    used, total = (m.card.used, m.card.capacity)
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


def csca(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m, sms=True)
    if cmd.kind == "set":
        m.card.smsc = cmd.args[0]
        return []
    if m.faults.smsc_unknown or not m.card.smsc:
        return ['+CSCA: "",129']
    return [f'+CSCA: "{m.card.smsc}",{145 if m.card.smsc.startswith("+") else 129}']


def csms(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    if cmd.kind == "read":
        return [f"+CSMS: {m.csms},1,1,1"]
    service = cmd.int_arg(0)
    if service not in (0, 1) or (service == 1 and not m.profile.phase2plus):
        raise AtError("CMS", 303)
    m.csms = service
    return ["+CSMS: 1,1,1"]


def cmgs(m: ModemMachine, cmd: Command, now: float) -> object:
    require_sim(m, sms=True)
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


def cmgr(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m, sms=True)
    message = m.card.read(_slot(m, cmd.int_arg(0)))
    if message is None:
        if m.profile.empty_read_ok:
            return []
        raise AtError("CMS", 321)
    lines = [f"+CMGR: {message.stat},,{message.tpdu_length}", message.pdu_hex]
    if message.stat == REC_UNREAD:
        message.stat = REC_READ
    return lines


def cmgl(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m, sms=True)
    stat = cmd.int_arg(0) if cmd.args else REC_UNREAD
    if not 0 <= stat <= 4:
        raise AtError("CMS", 302)
    lines = []
    for index, message in m.card.listing(stat):
        lines += [f"+CMGL: {index + m.profile.first_index},{message.stat},,{message.tpdu_length}", message.pdu_hex]
        if message.stat == REC_UNREAD:
            message.stat = REC_READ
    return lines


def cmgd(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    require_sim(m, sms=True)
    flag = cmd.int_arg(1, 0)
    if flag:
        m.card.delete_by_flag(flag)
    else:
        m.card.delete(_slot(m, cmd.int_arg(0)))
    return []


def cnma(m: ModemMachine, cmd: Command, now: float) -> list[str]:
    reply = cmd.int_arg(0, 0)
    if reply not in (0, 1, 2):
        raise AtError("CMS", 303)
    if m.csms != 1 or not m.radio.acknowledge(positive=reply != 2):
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
    reference = m.radio.next_reference()
    m.radio.uplink.submit(reference, sms, pdu_hex)
    slow = m.faults.slow_submit
    m.respond([f"+CMGS: {reference}"], "OK", hold_until=now + slow if slow > 0 else None)
