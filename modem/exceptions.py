"""The modem error family.

Every error raised by ``modem`` (engine, driver, pool, probe) is a :class:`ModemError`.
pyserial and gsmmodem exceptions never cross this boundary: they are caught where they
happen and re-raised as one of these, with the original chained as ``__cause__``.

The send path has three outcomes (see design.md): a list of receipts, :class:`SendRejected`
(the network or modem said no: nothing went out, safe to try another modem),
or :class:`SendOutcomeUnknown` (the SMS may have been sent: never retry it blindly).
"""
from __future__ import annotations

import re

_SECRET_ARGUMENTS = re.compile(r"^(AT\+CPIN=|AT\+CPWD=|AT\+CLCK=)(.*)$", re.IGNORECASE)


def redact(command: str) -> str:
    """``command`` as it may be shown in logs, transcripts and errors: the PIN, PUK and
    passwords of AT+CPIN / AT+CPWD / AT+CLCK replaced by ``****``."""
    match = _SECRET_ARGUMENTS.match(command)
    return f"{match.group(1)}****" if match else command


class ModemError(Exception):
    """Base of every error raised by the ``modem`` package."""


class ModemTimeout(ModemError):
    """A command got no final result code within its timeout (seconds)."""

    def __init__(self, command: str, timeout: float):
        command = redact(command)
        super().__init__(f"no answer to {command!r} within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class CommandRejected(ModemError):
    """The modem answered a command with an error final result code.

    ``kind`` is one of ``"CME"`` (``+CME ERROR: n``), ``"CMS"`` (``+CMS ERROR: n``),
    ``"ERROR"`` (a bare ``ERROR``) or ``"NOT_SUPPORTED"`` (Huawei ``COMMAND NOT SUPPORT``).
    ``code`` is the numeric code for CME/CMS (``None`` for the other kinds, or when the modem
    answered with a text instead of a number, which is kept in ``text``).
    """

    def __init__(self, command: str, kind: str, code: int | None = None, text: str = ""):
        detail = f"{kind} {code}" if code is not None else kind
        if text:
            detail = f"{detail} ({text})"
        command = redact(command)
        super().__init__(f"{command!r} rejected: {detail}")
        self.command = command
        self.kind = kind
        self.code = code
        self.text = text


class SendRejected(ModemError):
    """The modem or network refused an SMS submit (``+CMS ERROR: n`` or ``ERROR``).

    ``cms_code`` is the CMS code (``None`` for a bare ``ERROR``). ``accepted`` holds the
    receipts of parts of the same message that were accepted before the rejection (empty
    when nothing went out: only then may the caller try another modem).
    """

    def __init__(self, cms_code: int | None, detail: str = "", accepted: tuple = ()):
        code = f"CMS {cms_code}" if cms_code is not None else "ERROR"
        message = f"SMS submit rejected: {code}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)
        self.cms_code = cms_code
        self.accepted = tuple(accepted)


class SendOutcomeUnknown(ModemError):
    """An SMS submit was written but no result came back: it may or may not have been sent.

    ``accepted`` holds the receipts of earlier parts that were accepted.
    """

    def __init__(self, detail: str, accepted: tuple = ()):
        super().__init__(f"SMS send outcome unknown: {detail}")
        self.accepted = tuple(accepted)


class ModemGone(ModemError):
    """The port raised or was closed: the modem is unplugged, crashed or was stopped."""


class ModemOutOfSync(ModemGone):
    """After a timeout the modem did not answer the resynchronisation probe: its answers can
    no longer be told apart from late ones. The command was not written; the engine is
    marked gone, so the modem is reopened like a vanished one."""


class NoModemAvailable(ModemError):
    """No modem in the pool can take this message now.

    ``retry_after`` (seconds, or ``None`` when no wait would help) tells the caller when a
    rate limit will let a message through again.
    """

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(f"no modem available: {reason}")
        self.reason = reason
        self.retry_after = retry_after


class PinError(ModemError):
    """The SIM is locked and could not be unlocked from the configuration."""


class PinRequired(PinError):
    """The SIM asks for a PIN and none is configured."""

    def __init__(self, modem: str = ""):
        where = f" on {modem}" if modem else ""
        super().__init__(f"SIM PIN required{where}: set the modem's pin in the configuration")


class WrongPin(PinError):
    """The configured PIN was refused. Retrying would burn the SIM's remaining attempts."""

    def __init__(self, modem: str = ""):
        where = f" on {modem}" if modem else ""
        super().__init__(
            f"SIM PIN refused{where}: fix the configured pin before retrying "
            "(after three wrong PINs the SIM asks for its PUK)")


class PukRequired(PinError):
    """The SIM is blocked and asks for its PUK: a person must unblock it."""

    def __init__(self, modem: str = ""):
        where = f" on {modem}" if modem else ""
        super().__init__(
            f"SIM blocked{where}: it needs its PUK; unblock it in a phone, then restart")


class SimNotReady(ModemError):
    """The SIM is missing, failed, or asks for an unlock code this gateway cannot give."""
