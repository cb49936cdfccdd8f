"""One typed, frozen Settings object for the whole process.

Sources, lowest to highest precedence: built-in defaults < TOML file (``--config`` or
``MSISDN_GATEWAY_CONFIG``) < ``MSISDN_GATEWAY_<NAME>`` environment variables < CLI flags.
This is the only module that reads the environment. ``load_settings`` validates everything
and raises ``SettingsError`` with a message naming the offending setting and its source.
"""
from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from gateway.config.code_sms import validate_code_sms_lines
from gateway.config.values import RateRule, coerce

if TYPE_CHECKING:
    from modem.transport import ModemConfig

ENV_PREFIX = "MSISDN_GATEWAY_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# A worker identity (the worker_id setting, outbox.claimed_by, modem_status.worker).
WORKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SettingsError(ValueError):
    """A setting is missing, malformed or inconsistent; the message says which and why."""


def _rules(*texts: str) -> tuple[RateRule, ...]:
    return tuple(RateRule.parse(t) for t in texts)


@dataclass(frozen=True)
class Settings:
    """Every setting of the gateway. Field names are the TOML keys; the environment
    variable is ``MSISDN_GATEWAY_`` + the upper-cased name."""

    # Running mode: simulated modems and network, throw-away keys allowed.
    simulate: bool = False
    # Where state lives (database, generated keys under --simulate).
    state_dir: Path = Path("./var")
    # SQLAlchemy URL; empty means SQLite at <state_dir>/msisdn-gateway.sqlite3.
    database_url: str = ""
    # The URL clients use to reach us (scheme, host, port); Hawk signatures and the
    # certificate issuer are checked against it, so set it when behind a TLS proxy.
    public_url: str = ""
    # Other host[:port] names clients may use: URLs answered to a request whose Host is
    # one of them use it (with public_url's scheme); any other Host gets public_url,
    # never an echo (see gateway.http.origins). Hawk MACs are checked the same way.
    allowed_hosts: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 5000
    # API worker processes; 0 means one per CPU core.
    workers: int = 0
    # Networks whose X-Forwarded-For header is trusted to carry the client address.
    trusted_proxies: tuple[str, ...] = ()

    # Secrets: the certificate signing key (PEM) and a 32-byte server secret (hex).
    signing_key_file: Path | None = None
    secret_key_file: Path | None = None

    # HTTP limits.
    max_body_bytes: int = 25 * 1024
    hawk_skew_seconds: int = 60

    # Verification codes and sessions.
    short_code_ttl: int = 600
    long_code_ttl: int = 3600
    max_code_attempts: int = 3
    pending_session_ttl: int = 86400
    verified_session_ttl: int = 365 * 86400
    certificate_max_duration: int = 86400
    # Certificate issuer host; empty means the host of public_url.
    issuer: str = ""

    # SMS: sender shown for sms/mt (number or sender id) and the MO number for sms/momt.
    mt_sender: str = ""
    mo_verifier: str = ""
    sms_ttl: int = 600
    # Phishing-resistant codes: end short-code SMS with the origin-bound line
    # "@<host> #<code>" that browsers autofill only on that host (WebOTP), for
    # sms_origin_host or else the host of public_url (https, default port); and/or with
    # the 11-character hash of an Android app (SMS Retriever API), on its own line.
    sms_origin_bound: bool = False
    sms_origin_host: str = ""
    sms_app_hash: str = ""

    # Rate limits, each a list of rules such as "3/10m".
    rate_limit_short_code: tuple[RateRule, ...] = _rules("5/1h")
    rate_limit_msisdn: tuple[RateRule, ...] = _rules("3/10m", "10/1d")
    rate_limit_method: tuple[RateRule, ...] = _rules("500/1h")
    # Code SMS of every method together (every face): the ceiling of the bill.
    rate_limit_sms_total: tuple[RateRule, ...] = _rules("1000/1h")
    rate_limit_client: tuple[RateRule, ...] = _rules("1000/1m")
    # SMS that one client address (an IPv6 client's /64) may trigger (sms/mt/verify,
    # resend_code), counted apart from and before rate_limit_method.
    rate_limit_client_sms: tuple[RateRule, ...] = _rules("10/1h")
    # Never limited by rate_limit_client nor rate_limit_client_sms (a trusted backend).
    rate_limit_exempt_networks: tuple[str, ...] = ()

    # Modems: [[modems]] tables (url, name, pin, baudrate, rtscts, dsrdtr, xonxoff,
    # exclusive, own_number, send_timeout, rate_limit_per_minute, daily_quota, ...).
    modems: tuple[ModemConfig, ...] = ()
    # --simulate: how many simulated modems, their network (MCC+MNC) and send latency.
    simulated_modems: int = 1
    simulated_network: str = "20801"
    simulated_delay: float = 0.0
    # Networks ("MCC" or "MCCMNC") our modems may send codes to; empty means all.
    mt_networks: tuple[str, ...] = ()
    # Offer sms/momt only to devices in the country of a modem (no roaming charges).
    momt_same_country: bool = True

    # Destination policy (gateway.guard.policy), checked for every code SMS: ISO 3166
    # countries (empty: those of the modems' SIMs; "*": any), phonenumbers number types
    # ("mobile" also admits fixed_line_or_mobile), and E.164 prefixes ("+44909") that are
    # always refused / allowed whatever their country and type (deny wins).
    destination_countries: tuple[str, ...] = ()
    destination_types: tuple[str, ...] = ("mobile",)
    destination_allow_prefixes: tuple[str, ...] = ()
    destination_deny_prefixes: tuple[str, ...] = ()
    # Pumping detection (gateway.guard.pumping), per prefix: country code and this many
    # national digits. A prefix with at least guard_min_sms code SMS in the last
    # guard_window seconds and fewer verifications than guard_min_conversion of them is
    # refused for guard_cooldown seconds; an SMS is judged once it is guard_settle
    # seconds old (0: at once). guard_min_sms = 0 turns detection off.
    guard_prefix_digits: int = 3
    guard_window: int = 3600
    guard_min_sms: int = 20
    guard_min_conversion: float = 0.2
    guard_cooldown: int = 3600
    guard_settle: int = 300
    # The admin page (/admin/, gateway.api.admin): off until a password is set with
    # `msisdn-gateway admin password` (stored at admin_password_file; empty means
    # <state_dir>/admin-password). Only clients in admin_networks reach it (default:
    # loopback and private ranges); each client (an IPv4 address, an IPv6 /64) may try
    # admin_login_limit logins, all of them together a fixed few (gateway.api.admin.pages);
    # a login lasts admin_session_ttl seconds.
    admin_password_file: Path | None = None
    admin_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128", "10.0.0.0/8",
                                       "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
                                       "fe80::/10")
    admin_login_limit: tuple[RateRule, ...] = _rules("10/15m")
    admin_session_ttl: int = 43200

    # The TextSecure registration face (gateway.api.textsecure): prekeys one account may
    # fetch, directory tokens one account may look up per UTC day (a directory is an
    # enumeration oracle), and scrypt password checks one client address may cause (a
    # password already seen to match by the API process costs none: wrong ones do).
    rate_limit_textsecure_prekeys: tuple[RateRule, ...] = _rules("200/1h")
    textsecure_directory_daily_limit: int = 2000
    rate_limit_textsecure_password_checks: tuple[RateRule, ...] = _rules("30/1h")

    # The silent-authentication face (gateway.api.sna, issue 14): how long a request
    # waits for its proof, and its rate limits (errors 7020-7024): verify/status calls
    # per request, initiations per phone number, per client address, per API client, and
    # for the whole box.
    sna_request_ttl: int = 900
    rate_limit_sna_authentication: tuple[RateRule, ...] = _rules("10/15m")
    rate_limit_sna_identity: tuple[RateRule, ...] = _rules("5/1h")
    rate_limit_sna_ip: tuple[RateRule, ...] = _rules("100/1h")
    rate_limit_sna_application: tuple[RateRule, ...] = _rules("1000/1h")
    rate_limit_sna_total: tuple[RateRule, ...] = _rules("5000/1h")
    # Webhooks (issue 14), delivered by the worker: only https outside --simulate, and
    # never to a loopback, private or otherwise non-public address unless allowed here
    # (a test receiver; a backend on the LAN). Retried with a doubling backoff from
    # webhook_retry_backoff seconds (at most an hour) up to webhook_max_attempts. An
    # attempt has webhook_timeout seconds in all, connecting to the answer's headers.
    webhook_allow_private: bool = False
    webhook_timeout: float = 5.0
    webhook_retry_backoff: int = 10
    webhook_max_attempts: int = 15

    # The outbox dispatcher.
    dispatch_interval: float = 1.0
    max_send_attempts: int = 5
    retry_backoff: int = 10
    # Refuse new SMS (503/201) when the queue would take longer than this to send.
    queue_time_budget: int = 120
    # A modem status older than this is not trusted by the API (seconds).
    modem_status_ttl: int = 60
    # This box's worker identity, written to every outbox row it claims and to its modems'
    # status; empty: <state_dir>/worker-id, made once from the host name and a hash of
    # /etc/machine-id (gateway.config.worker_identity). Letters, digits, '.', '_', '-'.
    worker_id: str = ""
    # Seconds a worker's claim on an SMS holds without a heartbeat: renewed every third of
    # it; a row of a worker silent for longer is marked unknown by another worker.
    worker_lease: int = 30

    # Background jobs.
    cleanup_interval: int = 60
    # Seconds a received SMS (its sender and text) is kept in the inbox; then the cleanup
    # removes it. The default is repositories.DEFAULT_INBOX_RETENTION's 30 days.
    inbox_retention: int = 30 * 86400

    log_level: str = "INFO"
    # "text" (one line per event, key=value) or "json" (one JSON object per line).
    log_format: str = "text"
    # Set from $JOURNAL_STREAM (journald adds timestamps): not meant for the config file.
    journal_stream: str = ""
    # prometheus_client's multiprocess files; empty means <state_dir>/metrics.
    metrics_dir: Path | None = None
    # Set from $NOTIFY_SOCKET and $WATCHDOG_USEC (systemd, Type=notify; see
    # gateway.process.sd_notify): not meant for the config file.
    notify_socket: str = ""
    watchdog_usec: int = 0

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'msisdn-gateway.sqlite3'}"

    @property
    def effective_public_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def effective_sms_origin_host(self) -> str:
        """The host of the origin-bound line of code SMS, lower-case; "" when it is off."""
        if not self.sms_origin_bound:
            return ""
        return (self.sms_origin_host or urlsplit(self.public_url).hostname or "").lower()

    @property
    def effective_issuer(self) -> str:
        return self.issuer or (urlsplit(self.effective_public_url).hostname or "localhost")

    @property
    def effective_signing_key_file(self) -> Path:
        return self.signing_key_file or self.state_dir / "keys" / "signing-key.pem"

    @property
    def effective_secret_key_file(self) -> Path:
        return self.secret_key_file or self.state_dir / "keys" / "secret.hex"

    @property
    def effective_workers(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)


FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Convert a TOML/env/CLI value to the field's type; raises ValueError."""
    return coerce(FIELDS[name].type, value)


def _apply(values: dict, origins: dict, source: Mapping[str, Any], origin) -> None:
    """Coerce and record ``source``; ``origin(name)`` says where a value came from."""
    for name, raw in source.items():
        if name not in FIELDS:
            raise SettingsError(f"{origin(name)}: unknown setting {name!r}")
        try:
            values[name] = _coerce(name, raw)
        except ValueError as exc:
            raise SettingsError(f"{origin(name)}: setting {name!r}: {exc}") from None
        origins[name] = origin(name)


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror}") from None


def load_settings(config_file: str | Path | None = None,
                  overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate Settings from all sources.

    ``overrides`` are CLI flags (None values are ignored). ``environ`` defaults to
    ``os.environ``. Raises SettingsError.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = config_file or environ.get(CONFIG_ENV)
    if path:
        _apply(values, origins, _read_toml(Path(path)), lambda _name: f"config file {path}")
    env_values = {key[len(ENV_PREFIX):].lower(): val for key, val in environ.items()
                  if key.startswith(ENV_PREFIX) and key != CONFIG_ENV}
    _apply(values, origins, env_values,
           lambda name: f"environment variable {ENV_PREFIX}{name.upper()}")
    _apply(values, origins, {k: v for k, v in (overrides or {}).items() if v is not None},
           lambda _name: "command line")
    values.setdefault("journal_stream", environ.get("JOURNAL_STREAM", ""))
    values.setdefault("notify_socket", environ.get("NOTIFY_SOCKET", ""))
    values.setdefault("watchdog_usec", _watchdog_usec(environ))
    settings = Settings(**values)
    validate(settings, origins)
    return settings


def _watchdog_usec(environ: Mapping[str, str]) -> int:
    """$WATCHDOG_USEC when $WATCHDOG_PID is unset or names this process, as
    sd_watchdog_enabled(3) says; else 0."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID")
    return int(usec) if usec.isdigit() and pid in (None, str(os.getpid())) else 0


def validate(settings: Settings, origins: Mapping[str, str] | None = None) -> None:
    """Check cross-field rules; raises SettingsError naming the setting and, when
    ``origins`` (setting -> source) is given, where its value came from."""
    origins = origins or {}

    def fail(name: str, message: str) -> SettingsError:
        where = origins.get(name)
        return SettingsError(f"{where}: {message}" if where else message)

    if not settings.effective_database_url.split(":", 1)[0]:
        raise fail("database_url",
                   f"database_url {settings.database_url!r} is not a database URL")
    for name in ("port", "max_body_bytes", "hawk_skew_seconds", "short_code_ttl",
                 "long_code_ttl", "max_code_attempts", "pending_session_ttl",
                 "verified_session_ttl", "certificate_max_duration", "sms_ttl",
                 "cleanup_interval", "dispatch_interval", "max_send_attempts",
                 "textsecure_directory_daily_limit",
                 "sna_request_ttl", "webhook_timeout", "webhook_retry_backoff",
                 "webhook_max_attempts",
                 "retry_backoff", "queue_time_budget", "modem_status_ttl",
                 "inbox_retention"):
        if getattr(settings, name) <= 0:
            raise fail(name, f"{name} must be positive, not {getattr(settings, name)}")
    if not 0 < settings.port < 65536:
        raise fail("port", f"port {settings.port} is not a TCP port")
    _validate_public_url(settings, fail)
    _validate_allowed_hosts(settings, fail)
    validate_code_sms_lines(settings, fail)
    if settings.workers < 0:
        raise fail("workers", "workers must be 0 (one per core) or more")
    if settings.worker_id and not WORKER_ID.fullmatch(settings.worker_id):
        raise fail("worker_id", f"worker_id {settings.worker_id!r} must be 1 to 64 letters, "
                   "digits, '.', '_' or '-', beginning with a letter or digit")
    if settings.worker_lease < 3:
        raise fail("worker_lease", f"worker_lease must be 3 seconds or more, not "
                   f"{settings.worker_lease}")
    if settings.simulate and not 1 <= settings.simulated_modems <= 9:
        raise fail("simulated_modems", "simulated_modems must be between 1 and 9")
    if not re.fullmatch(r"[0-9]{5,6}", settings.simulated_network):
        raise fail("simulated_network", "simulated_network must be MCC+MNC, 5 or 6 digits")
    for pattern in settings.mt_networks:
        if not re.fullmatch(r"[0-9]{3}([0-9]{2,3})?", pattern):
            raise fail("mt_networks", f"mt_networks: {pattern!r} is not MCC or MCC+MNC")
    _validate_destinations(settings, fail)
    if settings.log_format not in ("text", "json"):
        raise fail("log_format", "log_format must be 'text' or 'json'")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise fail("log_level", f"log_level {settings.log_level!r} is not one of "
                                f"{', '.join(LOG_LEVELS)}")
    for name in ("trusted_proxies", "rate_limit_exempt_networks", "admin_networks"):
        for net in getattr(settings, name):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise fail(name, f"{name}: {net!r} is not an IP network") from None


def _validate_public_url(settings: Settings, fail) -> None:
    # Only scheme, host and port: views append paths to it and Hawk checks host and port.
    problem = f"public_url {settings.effective_public_url!r} must be http(s)://host[:port]"
    url = urlsplit(settings.effective_public_url)
    if (url.scheme not in ("http", "https") or not url.hostname or url.username
            or url.query or url.fragment or url.path not in ("", "/")):
        raise fail("public_url" if settings.public_url else "host", problem)
    try:
        url.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise fail("public_url" if settings.public_url else "port", problem) from None


def _validate_destinations(settings: Settings, fail) -> None:
    """The destination policy and pumping detection settings (see Settings)."""
    import phonenumbers  # here: most commands never validate a destination

    for code in settings.destination_countries:
        if code != "*" and code.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise fail("destination_countries", f"destination_countries: {code!r} is not "
                       "an ISO 3166 country code known to phonenumbers (such as 'FR'), "
                       "nor '*' (any country)")
    types = sorted(name.lower() for name in vars(phonenumbers.PhoneNumberType)
                   if name.isupper())
    for kind in settings.destination_types:
        if kind not in types:
            raise fail("destination_types", f"destination_types: {kind!r} is not one of "
                       f"{', '.join(types)}")
    for name in ("destination_allow_prefixes", "destination_deny_prefixes"):
        for prefix in getattr(settings, name):
            if not re.fullmatch(r"\+[1-9][0-9]{0,14}", prefix):
                raise fail(name, f"{name}: {prefix!r} is not an E.164 prefix: '+', the "
                           "country code and maybe more digits, such as '+44909'")
    if not 1 <= settings.guard_prefix_digits <= 8:
        raise fail("guard_prefix_digits", "guard_prefix_digits must be between 1 and 8")
    for name in ("guard_window", "guard_cooldown"):
        if getattr(settings, name) <= 0:
            raise fail(name, f"{name} must be positive, not {getattr(settings, name)}")
    if settings.guard_min_sms < 0:
        raise fail("guard_min_sms", "guard_min_sms must be 0 (detection off) or more")
    if not 0 <= settings.guard_settle < settings.guard_window:
        raise fail("guard_settle", "guard_settle is the age in seconds at which a code SMS "
                   "is judged: 0 (at once) or more, and less than guard_window "
                   f"({settings.guard_window}), not {settings.guard_settle}")
    if not 0.0 <= settings.guard_min_conversion <= 1.0:
        raise fail("guard_min_conversion", "guard_min_conversion is a share of the SMS "
                   f"sent, between 0 and 1, not {settings.guard_min_conversion}")


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def host_and_port(value: str) -> tuple[str, int | None]:
    """``"Example.org:8443"`` -> ``("example.org", 8443)``, ``"[::1]"`` -> ``("::1", None)``:
    a DNS name, an IPv4 or a bracketed IPv6 address, and maybe a port; raises ValueError."""
    url = urlsplit(f"//{value}")
    host = url.hostname or ""
    if (url.netloc != value or url.username is not None or url.password is not None
            or value.endswith(":")):
        raise ValueError(value)
    port = url.port  # ValueError unless 0-65535
    if ":" in host or value.startswith("["):
        ipaddress.IPv6Address(host)  # ValueError
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(value)
    if port == 0:
        raise ValueError(value)
    return host, port


def _validate_allowed_hosts(settings: Settings, fail) -> None:
    for value in settings.allowed_hosts:
        try:
            host_and_port(value)
        except ValueError:
            raise fail("allowed_hosts", f"allowed_hosts: {value!r} is not host[:port] (a DNS "
                       "name, an IPv4 or [IPv6] address, maybe ':' and a port)") from None


def export_environment(name: str, value: str) -> None:
    """Set a variable that a library reads itself (prometheus_client's
    PROMETHEUS_MULTIPROC_DIR), here and in the processes started from here."""
    os.environ[name] = value


__all__ = ["Settings", "SettingsError", "RateRule", "load_settings", "export_environment"]
