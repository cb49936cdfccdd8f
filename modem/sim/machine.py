"""The AT state machine of a simulated modem: bytes in, bytes out, no threads, no clock.

Drive it with ``receive(data, now)`` (what the host writes), ``tick(now)`` (lets timed
things happen: a held slow +CMGS answer, +CMT acknowledgement timeouts, vendor spam) and
``radio.deliver_sms`` / ``radio.deliver_status_report`` (what the network hands it, see
:mod:`modem.sim.radio`); collect what it
writes with ``read_output()``. ``now`` is monotonic seconds from the caller. The machine
is not thread-safe: its owner (the virtual network) serialises every call.

Wire format as in 3GPP TS 27.007 / 27.005 with V1 (verbose) results: a response is
``\\r\\n<line>\\r\\n<line>\\r\\n`` then ``\\r\\nOK\\r\\n`` (or ERROR, +CME ERROR: n,
+CMS ERROR: n, or the profile's own line for unknown commands); AT+CMGS answers
``\\r\\n> `` and then takes hex PDU digits up to Ctrl-Z (0x1A; ESC 0x1B cancels).
Commands themselves live in :mod:`modem.sim.basic_commands`.
"""
from __future__ import annotations

from modem.sim import basic_commands as commands
from modem.sim.card import SimCard
from modem.sim.faults import GARBAGE, Faults
from modem.sim.profiles import Profile
from modem.sim.radio import Radio, Uplink

CTRL_Z, ESC = 0x1A, 0x1B
MAX_LINE = 4096  # a real modem drops an over-long line; so do we
REGISTRATION_CODES = commands.REGISTRATION_CODES
CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    16: "incorrect password", 30: "no network service", 100: "unknown",
}


def _block(lines: list[str]) -> bytes:
    return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8") if lines else b""


class ModemMachine:
    def __init__(
        self,
        profile: Profile,
        card: SimCard,
        imei: str,
        *,
        uplink: Uplink | None = None,
        faults: Faults | None = None,
        plmn: str | None = None,
        operator_name: str = "SIMNET",
        registration: str = "home",
        signal: int = 20,
    ) -> None:
        if registration not in REGISTRATION_CODES:
            raise ValueError(f"registration must be one of {', '.join(REGISTRATION_CODES)}")
        self.profile, self.card, self.imei = profile, card, imei
        self.radio = Radio(self, uplink)
        self.faults = faults or Faults()
        self.plmn = plmn or card.home_plmn
        self.operator_name = operator_name
        self.registration = registration
        self.signal = signal
        self.powered = self.pin_entered = False
        self._out = bytearray()
        self._in = bytearray()
        self._deferred: list[bytes] = []
        self._held: tuple[float, bytes] | None = None
        self._now = 0.0  # the latest ``now`` given to receive() or tick()
        self._pdu_target: tuple[str, int] | None = None
        self._next_spam: float | None = None
        self._last_reg = self.reg_state()
        self.reset_session()

    # ------------------------------------------------------------ session

    def reset_session(self) -> None:
        """Settings back to power-on values (ATZ, AT&F, a power cycle)."""
        self.echo, self.cmee, self.cmgf = True, 0, 0
        self.cnmi = [2, 1, 0, 0, 0]  # <mode>,<mt>,<bm>,<ds>,<bfr>
        self.csms = 0  # <service> of AT+CSMS: 1 (phase 2+) makes +CMT/+CDS wait for AT+CNMA
        self.reg_urc = {"+CREG": 0, "+CGREG": 0, "+CEREG": 0}
        self.cops_format = 0
        self.mems = ["SM", "SM", "SM"]
        self.spam_on = True

    def power_on(self, now: float) -> None:
        """Boot: fresh session, PIN to be entered again, the profile's boot lines."""
        self.powered, self.pin_entered = True, False
        self._in.clear(), self._out.clear(), self._deferred.clear()
        self._held = self._pdu_target = None
        self.reset_session()
        boot = [u if u != "+CPIN: READY" else f"+CPIN: {self.sim_status()}" for u in self.profile.boot_urcs]
        for line in boot:
            self.urc([line])
        self._next_spam = now + self.profile.spam_interval if self.profile.spam_interval else None
        self._last_reg = self.reg_state()

    def power_off(self) -> None:
        """Power gone (unplugged): buffers lost; an unacknowledged +CMT goes back to the network."""
        self.radio.power_off()
        self.powered, self._held, self._pdu_target = False, None, None
        self._in.clear(), self._out.clear(), self._deferred.clear()

    def sim_status(self) -> str:
        if self.card.puk_attempts <= 0:
            return "SIM failure"
        if self.card.pin is None or self.pin_entered:
            return "READY"
        return "SIM PIN" if self.card.pin_attempts > 0 else "SIM PUK"

    def reg_state(self) -> str:
        if self.faults.no_network:
            return "searching"
        if self.sim_status() != "READY":
            return "none"
        return self.registration

    def registered(self) -> bool:
        return self.reg_state() in ("home", "roaming")

    def refresh_registration(self) -> None:
        """Announce a registration change (+CREG: <stat>) to whoever enabled it."""
        state = self.reg_state()
        if state != self._last_reg:
            self._last_reg = state
            for name, mode in self.reg_urc.items():
                if mode and (name != "+CEREG" or self.profile.lte):
                    self.urc([f"{name}: {REGISTRATION_CODES[state]}"])

    # ------------------------------------------------------------ bytes in / out

    @property
    def output_waiting(self) -> int:
        return len(self._out)

    def read_output(self, size: int | None = None) -> bytes:
        size = len(self._out) if size is None else size
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def receive(self, data: bytes, now: float) -> None:
        self._now = now
        if not self.powered or self.faults.no_answer:
            return  # a hung modem swallows everything, echo included
        if self.echo:
            self._out += data
        self._in += data
        self._process(now)

    def tick(self, now: float) -> None:
        self._now = now
        if not self.powered:
            return
        if self._held and now >= self._held[0]:
            self._write(self._held[1])
            self._held = None
            self._process(now)
        self.radio.tick(now)
        if self._next_spam is not None and now >= self._next_spam:
            if self.spam_on:
                values = {"rssi": self.signal, "rssi_lte": 30 + self.signal}
                for line in self.profile.spam_lines:
                    self.urc([line.format(**values)])
            self._next_spam = now + self.profile.spam_interval
        self._flush_deferred()

    def next_due(self) -> float | None:
        """When :meth:`tick` next has something to do (``now`` seconds): a held answer, the
        radio's +CNMA deadline or vendor spam; None when nothing is timed. A new timer in
        the machine must show here, or a real-time network runs it late."""
        if not self.powered:
            return None
        times = (self._held[0] if self._held else None, self.radio.next_due(), self._next_spam)
        return min((t for t in times if t is not None), default=None)

    def urc(self, lines: list[str]) -> None:
        """Emit an unsolicited result (held back while a command or a PDU is in progress)."""
        block = _block(lines)
        if self.faults.urc_in_response or self._busy():
            self._deferred.append(block)
        else:
            self._out += block

    def _busy(self) -> bool:
        return self._held is not None or self._pdu_target is not None

    def _flush_deferred(self) -> None:
        if self._deferred and not self._busy() and not self.faults.urc_in_response:
            self._out += b"".join(self._deferred)
            self._deferred.clear()

    def _write(self, data: bytes) -> None:
        self._out += data
        self._flush_deferred()

    # ------------------------------------------------------------ commands

    def _process(self, now: float) -> None:
        while not self._held:
            if self._pdu_target:
                ends = [i for i in (self._in.find(bytes([CTRL_Z])), self._in.find(bytes([ESC]))) if i >= 0]
                if not ends:
                    return
                end = min(ends)
                body, terminator = bytes(self._in[:end]), self._in[end]
                del self._in[:end + 1]
                target, self._pdu_target = self._pdu_target, None
                if terminator == ESC:
                    self.respond([], "OK")
                else:
                    commands.finish_pdu(self, target[0], target[1], body.decode("latin-1"), now)
                continue
            end = self._in.find(b"\r")
            if end < 0:
                if len(self._in) > MAX_LINE:
                    self._in.clear()
                return
            # an ESC outside the PDU prompt is ignored, as modems do (the driver leaves a
            # prompt it may have left pending with ESC before its next command)
            line = bytes(self._in[:end]).decode("latin-1").replace("\x1b", "").strip()
            del self._in[:end + 1]
            if line[:2].upper() == "AT":
                self._run_line(line[2:], now)

    def _run_line(self, rest: str, now: float) -> None:
        if self.faults.sim_busy > 0:
            self.faults.sim_busy -= 1
            code = self.faults.busy_code or self.profile.busy_code
            self.respond([], self.final_for(commands.AtError("CME", code)))
            return
        lines: list[str] = []
        try:
            for command in commands.parse_line(rest):
                result = commands.dispatch(self, command, now)
                if result is commands.PROMPT:
                    self._out += b"\r\n> "
                    return
                lines += result
        except commands.AtError as error:
            self.respond(lines, self.final_for(error))
            return
        self.respond(lines, "OK")

    def start_pdu(self, target: str, length: int) -> None:
        self._pdu_target = (target, length)

    def final_for(self, error: commands.AtError) -> str:
        if error.kind == "UNKNOWN":
            return self.profile.unknown_command
        if error.kind == "ERROR" or self.cmee == 0:
            return "ERROR"
        if error.kind == "CME" and self.cmee == 2:
            return f"+CME ERROR: {CME_TEXT.get(error.code, error.code)}"
        return f"+{error.kind} ERROR: {error.code}"

    def respond(self, lines: list[str], final: str, *, hold_until: float | None = None) -> None:
        if self.faults.late_answer > 0:  # held like a slow submit: nothing is read meanwhile
            self.faults.late_answer -= 1
            late = self._now + self.faults.late_delay
            hold_until = late if hold_until is None else max(hold_until, late)
        data = b""
        if self.faults.garbage > 0:
            self.faults.garbage -= 1
            data += GARBAGE
        data += _block(lines)
        if self.faults.urc_in_response and self._deferred:
            data += b"".join(self._deferred)  # between the information lines and the result
            self._deferred.clear()
        data += _block([final])
        if hold_until is not None:
            self._held = (hold_until, data)
        else:
            self._write(data)
