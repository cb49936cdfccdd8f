"""Vendor profiles of the simulated modem, as data.

A :class:`Profile` says how one model answers: identity strings, how it reads the ICCID,
whether it knows LTE registration (+CEREG), its error line for unknown commands, the
unsolicited lines it prints at boot and periodically, and a few SMS details. Profiles
are frozen values; :func:`get_profile` hands out a fresh one per modem (``overrides``
replace fields), so one modem's quirks never leak into another's.

Facts come from the vendors' AT manuals (SIMCom SIM800 / SIM7600, Quectel EC25,
Huawei E3372 / MU709 family) and 3GPP TS 27.005 / 27.007.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping


def _frozen(mapping: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str
    model: str
    revision: str
    # command name (as after "AT", e.g. "+CCID", "^ICCID") -> line template ({iccid})
    iccid_commands: Mapping[str, str] = field(default_factory=lambda: _frozen({"+CCID": "+CCID: {iccid}"}))
    cgmr_template: str = "{revision}"  # some models prefix "+CGMR: " or "Revision: "
    lte: bool = True  # answers AT+CEREG
    access_technology: int = 7  # <AcT> of +COPS: 0 GSM, 2 UTRAN, 7 E-UTRAN
    unknown_command: str = "ERROR"  # final line for a command the model does not know
    text_mode: bool = False  # AT+CMGF=1 refused when False (the simulator speaks PDU only)
    boot_urcs: tuple[str, ...] = ()
    # periodic unsolicited spam: (interval seconds, line templates with {rssi})
    spam_interval: float = 0.0
    spam_lines: tuple[str, ...] = ()
    spam_off_command: str | None = None  # e.g. "^CURC=0" silences the spam
    storage_capacity: int = 30
    first_index: int = 1  # number of the first message slot (SIMCom 1, Quectel and Huawei 0)
    # Accepts AT+CSMS=1 (phase 2+): +CMT/+CDS then wait for AT+CNMA, which the gateway sends
    # after its commit; in phase 2 (AT+CSMS=0, the power-on state) the modem acknowledges them.
    phase2plus: bool = True
    cnma_timeout: float = 15.0  # an unacknowledged +CMT/+CDS goes back to the network after this
    empty_read_ok: bool = False  # AT+CMGR on an empty slot: OK (True) or +CMS ERROR: 321
    storage_full_urc: str | None = None
    busy_code: int = 14  # +CME ERROR code while the SIM is busy (14 SIM busy, 515 please wait)
    extra_ok_commands: frozenset[str] = frozenset()


_GENERIC = Profile(
    name="generic",
    manufacturer="MSISDN-GATEWAY",
    model="SIMULATED MODEM",
    revision="SIM 1.0",
    iccid_commands=_frozen({"+CCID": "+CCID: {iccid}", "+ICCID": "+ICCID: {iccid}"}),
    boot_urcs=("RDY",),
)

_SIM800 = Profile(
    name="sim800",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="1418B04SIM800L24",
    cgmr_template="Revision:{revision}",
    iccid_commands=_frozen({"+CCID": "{iccid}"}),  # bare ICCID line
    lte=False,  # 2G module: no +CEREG
    access_technology=0,
    boot_urcs=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
    storage_capacity=30,
    empty_read_ok=True,
    extra_ok_commands=frozenset({"+CSCLK", "+CLTS"}),
)

_SIM7600 = Profile(
    name="sim7600",
    manufacturer="SIMCOM INCORPORATED",
    model="SIMCOM_SIM7600E-H",
    revision="LE20B04SIM7600M22",
    cgmr_template="+CGMR: {revision}",
    iccid_commands=_frozen({"+CICCID": "+ICCID: {iccid}", "+CCID": "+CCID: {iccid}"}),
    boot_urcs=("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"),
    busy_code=14,
)

_EC25 = Profile(
    name="ec25",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    cgmr_template="Revision: {revision}",
    iccid_commands=_frozen({"+QCCID": "+QCCID: {iccid}"}),
    boot_urcs=("RDY", "+CPIN: READY", "+QIND: SMS DONE", "+QIND: PB DONE"),
    storage_capacity=50,
    first_index=0,
    extra_ok_commands=frozenset({"+QURCCFG", "+QCFG"}),
)

_E3372 = Profile(
    name="e3372",
    manufacturer="huawei",
    model="E3372",
    revision="22.315.01.00.00",
    iccid_commands=_frozen({"^ICCID": "^ICCID: {iccid}"}),
    unknown_command="COMMAND NOT SUPPORT",
    boot_urcs=("^BOOT:20133487,0,0,0,75",),
    spam_interval=10.0,
    spam_lines=("^RSSI: {rssi}", '^HCSQ: "LTE",{rssi_lte},50,120,20', "^BOOT:20133487,0,0,0,75"),
    spam_off_command="^CURC=0",
    storage_full_urc='^SMMEMFULL: "SM"',
    busy_code=515,
    first_index=0,
)

PROFILES: Mapping[str, Profile] = MappingProxyType({
    p.name: p for p in (_GENERIC, _SIM800, _SIM7600, _EC25, _E3372)
})
ALIASES: Mapping[str, str] = MappingProxyType({
    "simcom": "sim800", "sim800l": "sim800", "sim800c": "sim800", "sim7600e": "sim7600",
    "quectel": "ec25", "huawei": "e3372",
})


def get_profile(name: str = "generic", **overrides: object) -> Profile:
    """A profile by name (or alias), with fields replaced by ``overrides``.

    Raises ValueError for an unknown name, listing the known ones.
    """
    key = ALIASES.get(name.lower(), name.lower())
    if key not in PROFILES:
        raise ValueError(f"unknown modem profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    return replace(PROFILES[key], **overrides) if overrides else PROFILES[key]
