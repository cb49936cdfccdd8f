"""The settings that add lines to short-code SMS, and their checks.

``sms_origin_bound`` ends the SMS with the origin-bound line ``@<host> #<code>`` of the
WICG "Origin-bound one-time codes delivered via SMS" format (https://wicg.github.io/
sms-one-time-codes/): Safari and Chrome's WebOTP offer the code only on that host, over
HTTPS and on its default port, so a phishing page elsewhere gets no autofill. The host is
``sms_origin_host``, or the host of ``public_url`` when that is ``https://<host>``.
``sms_app_hash`` adds the 11-character app hash of Google's SMS Retriever API on its own
line (https://developers.google.com/identity/sms-retriever/verify).

The limits keep such an SMS within one part in every language: gateway.i18n holds the
same numbers (config may not import it): tests/unit/test_code_sms_settings.py keeps them
equal, tests/unit/test_origin_bound_sms.py encodes every language with modem.pdu.
Pure functions.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gateway.config.settings import Settings

#: Longest host of an origin-bound line (gateway.i18n.MAX_ORIGIN_HOST_LENGTH).
SMS_ORIGIN_HOST_MAX_LENGTH = 64
#: Longest validity such an SMS states, minutes (gateway.i18n.MAX_LINED_VALID_MINUTES).
SMS_LINED_MAX_MINUTES = 9999

# ASCII letters, digits and '-' in dot-separated labels of 1-63 characters that neither
# start nor end with '-': what Chrome's WebOTP parser reads after '@' ([a-zA-Z0-9.-]+),
# so no port, no IPv6 literal, and an internationalised name in its xn-- form.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Google's app hash: the first 11 characters of a standard base64 (A-Z a-z 0-9 + /) digest.
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")

Fail = Callable[[str, str], Exception]


def validate_code_sms_lines(settings: Settings, fail: Fail) -> None:
    """Check sms_app_hash, sms_origin_host and what sms_origin_bound needs; raises
    ``fail(setting, message)`` (a SettingsError naming where the value came from)."""
    if settings.sms_app_hash and not _APP_HASH.fullmatch(settings.sms_app_hash):
        raise fail("sms_app_hash", f"sms_app_hash {settings.sms_app_hash!r} is not an SMS "
                   "Retriever app hash: 11 characters of A-Z, a-z, 0-9, + and /")
    if settings.sms_origin_host:
        _check_host(settings.sms_origin_host, "sms_origin_host", fail)
    if settings.sms_origin_bound and not settings.sms_origin_host:
        url = urlsplit(settings.public_url)
        if url.scheme != "https" or url.port not in (None, 443):
            shown = repr(settings.public_url) if settings.public_url else "not set"
            raise fail("sms_origin_bound", "sms_origin_bound binds codes to https://<host> "
                       "(default port) of the page where users type them: set "
                       "sms_origin_host to that host, or public_url to https://<host> "
                       f"(public_url is {shown})")
        _check_host(url.hostname or "", "public_url", fail)
    minutes = max(1, settings.short_code_ttl // 60)
    if (settings.sms_origin_bound or settings.sms_app_hash) and minutes > SMS_LINED_MAX_MINUTES:
        raise fail("short_code_ttl", f"short_code_ttl {settings.short_code_ttl} is {minutes} "
                   "minutes: with sms_origin_bound or sms_app_hash a code SMS fits one part "
                   f"only up to {SMS_LINED_MAX_MINUTES} minutes")


def _check_host(host: str, name: str, fail: Fail) -> None:
    """Raise ``fail(name, ...)`` unless ``host`` can follow '@' in an origin-bound line."""
    if not host.isascii() or not _HOST.fullmatch(host.lower()):
        raise fail(name, f"{name}: {host!r} cannot follow '@' in an origin-bound SMS line: "
                   "give a host name such as verify.example.org (ASCII letters, digits, '-' "
                   "and dots, an internationalised name in its xn-- form; no scheme, port, "
                   "path or IPv6 address)")
    if len(host) > SMS_ORIGIN_HOST_MAX_LENGTH:
        raise fail(name, f"{name}: {host!r} has {len(host)} characters; at most "
                   f"{SMS_ORIGIN_HOST_MAX_LENGTH} keep a code SMS within one part in every "
                   "language")
