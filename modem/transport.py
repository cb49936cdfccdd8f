"""What a modem takes from its surroundings: its configuration and its port (the clock is
:mod:`modem.clock`).

Every port is a pyserial URL opened with :func:`serial.serial_for_url`:

- a device path: ``/dev/gsm-modem-0``, ``/dev/ttyUSB2``, ``COM3``;
- ``modemsim://NAME?profile=...``: a simulated modem (``modem.sim``, registered on demand);
- ``spy:///dev/ttyUSB2?file=wire.txt``: a device with a wire capture;
- ``socket://host:port``: a modem behind a serial-to-TCP bridge (ser2net).
"""
from __future__ import annotations

import dataclasses

import serial

from modem.exceptions import ModemGone

#: Read timeout of the reader thread's blocking read (seconds). It bounds how long a stop
#: request waits on ports that cannot cancel a read; it is never a polling interval.
READ_TIMEOUT = 0.2
#: Schemes whose Serial class is (a subclass of) the native one, so ``exclusive`` means a lock.
_EXCLUSIVE_SCHEMES = ("", "spy")


@dataclasses.dataclass(frozen=True)
class ModemConfig:
    """Settings of one modem. Times are seconds.

    ``exclusive`` takes an advisory lock on device paths (and ``spy://`` over them); it is
    ignored for URL types that have no such notion. ``own_number`` (E.164) overrides what the
    SIM reports with ``AT+CNUM``. ``rate_limit_per_minute`` and ``daily_quota`` cap SMS
    submits (message parts) per modem; ``None`` means no cap. ``send_timeout`` is how long a
    ``+CMGS`` result may take (up to 120 s on LTE modules); past it the outcome is unknown.
    ``storage`` is the message store for ``AT+CPMS`` ("SM" = SIM, "ME"/"MT" = modem).
    ``cnmi`` forces the ``AT+CNMI=`` arguments (e.g. ``"2,2,0,1,0"`` for direct ``+CMT``
    delivery, ``"2,1,0,2,0"`` for stored ``+CDSI`` reports) instead of trying the defaults.
    """

    url: str
    name: str = ""
    baudrate: int = 115200
    rtscts: bool = False
    dsrdtr: bool = False
    xonxoff: bool = False
    exclusive: bool = True
    pin: str | None = None
    own_number: str | None = None
    command_timeout: float = 10.0
    prompt_timeout: float = 10.0
    send_timeout: float = 120.0
    busy_retries: int = 5
    busy_backoff: float = 0.5
    rate_limit_per_minute: float | None = None
    daily_quota: int | None = None
    storage: str = "SM"
    cnmi: str | None = None

    @property
    def label(self) -> str:
        """The name used in logs, thread names and health: ``name`` or else the URL."""
        return self.name or self.url


def url_scheme(url: str) -> str:
    """The lower-case scheme of a port URL, ``""`` for a plain device path."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def open_port(config: ModemConfig) -> serial.SerialBase:
    """Open the port of ``config``.

    Raises :class:`ModemGone` when the port cannot be opened (missing device, busy lock,
    unknown URL, refused connection); the pyserial error is chained as ``__cause__``.
    """
    scheme = url_scheme(config.url)
    if scheme == "modemsim":
        import modem.sim  # noqa: PLC0415  (lazy: the simulator is not needed on hardware)

        modem.sim.register()
    options = dict(baudrate=config.baudrate, rtscts=config.rtscts, dsrdtr=config.dsrdtr,
                   xonxoff=config.xonxoff, timeout=READ_TIMEOUT, write_timeout=config.command_timeout)
    if scheme in _EXCLUSIVE_SCHEMES:
        options["exclusive"] = config.exclusive
    try:
        return serial.serial_for_url(config.url, **options)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ModemGone(f"cannot open {config.url}: {exc}") from exc
