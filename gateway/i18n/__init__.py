"""Localised texts sent to users (the short-code verification SMS).

Catalogs live next to this module and are maintained with Babel::

    gateway/i18n/babel.cfg                       extraction mapping
    gateway/i18n/messages.pot                    template (pybabel extract)
    gateway/i18n/locale/<lang>/LC_MESSAGES/      messages.po (source), messages.mo (compiled)

``make l10n`` re-extracts the template, updates every ``.po`` and compiles
the ``.mo`` files, which are committed and shipped as package data.
Translations are looked up with the standard library's :mod:`gettext`.

Phishing-resistant codes: :func:`short_code_sms` can end the SMS with an origin-bound
line (``@<host> #<code>``, the WICG "Origin-bound one-time codes delivered via SMS"
format that Safari and Chrome's WebOTP autofill) and an Android SMS Retriever app hash
on its own line just before it (WebOTP wants its line last; Google only asks that the
hash be included). Those messages use a shorter body whose translations stay within
the GSM 03.38 alphabet, so that they fit one SMS in every language (see the constants
below; tests/unit/test_origin_bound_sms.py encodes them with modem.pdu).

May import only the kernel (held by tests/test_import_graph.py).
"""

from __future__ import annotations

import functools
import gettext
import re
from collections.abc import Sequence
from pathlib import Path

from babel.core import negotiate_locale

__all__ = [
    "DEFAULT_LANGUAGE",
    "LOCALE_DIR",
    "MAX_LINED_CODE_DIGITS",
    "MAX_LINED_VALID_MINUTES",
    "MAX_ORIGIN_HOST_LENGTH",
    "SUPPORTED_LANGUAGES",
    "negotiate_language",
    "short_code_sms",
    "textsecure_code_sms",
]

#: gettext domain of the catalogs (``messages.po`` / ``messages.mo``).
DOMAIN = "messages"

#: Directory holding ``<lang>/LC_MESSAGES/messages.mo``.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

#: Language used when nothing the client asks for is supported.
DEFAULT_LANGUAGE = "en"

#: Languages with a catalog in LOCALE_DIR (ISO 639-1 codes, lowercase).
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "it", "nl", "pl", "pt")

# Longest language tag worth looking at; anything longer is garbage.
_MAX_TAG_LENGTH = 35

# With an origin-bound line or an app hash, the SMS fits one part (160 GSM-7 septets) in
# every supported language as long as the host, the code and the validity stay within
# these; short_code_sms refuses anything longer. gateway/config/code_sms.py holds the same
# limits for the settings (it may not import this package; a test keeps them equal).
MAX_ORIGIN_HOST_LENGTH = 64
MAX_LINED_CODE_DIGITS = 8
MAX_LINED_VALID_MINUTES = 9999

# A host as the WebOTP parsers read it: ASCII letters, digits, '-' and '.' (Chrome's
# parser accepts nothing else, so no port, no IPv6 literal; IDNs in their xn-- form),
# labels of 1-63 characters that neither start nor end with '-'.
_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_ORIGIN_HOST = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
# Google's app hash: the first 11 characters of a standard base64 (A-Z a-z 0-9 + /) digest.
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")


def _normalise_tag(tag: object) -> str | None:
    """Return ``tag`` as a lowercase, hyphen-separated tag, or None if unusable."""
    if not isinstance(tag, str):
        return None
    tag = tag.split(";", 1)[0].strip().replace("_", "-").lower()
    if not tag or len(tag) > _MAX_TAG_LENGTH:
        return None
    if not all(part.isascii() and part.isalnum() for part in tag.split("-")):
        return None
    return tag


def negotiate_language(accept_languages: Sequence[str]) -> str:
    """Pick the supported language that best matches the client's preferences.

    ``accept_languages`` are language tags in the client's order of preference,
    already parsed from ``Accept-Language`` (e.g. ``["da", "en-GB"]``).  Matching
    is case-insensitive, accepts ``-`` or ``_`` as separator and falls back from
    a regional tag to its language (``"pt-BR"`` -> ``"pt"``).  The first
    preference that matches wins; with no match the result is ``"en"``.
    """
    preferred = [tag for tag in map(_normalise_tag, accept_languages) if tag]
    match = negotiate_locale(preferred, SUPPORTED_LANGUAGES, sep="-")
    if match is None:
        return DEFAULT_LANGUAGE
    language = match.lower().split("-", 1)[0]
    return language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


@functools.lru_cache(maxsize=None)
def _translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (loaded once, then cached)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def _checked_lines(code: str, valid_minutes: int, origin_host: str | None,
                   app_hash: str | None) -> list[str]:
    """The lines that follow the body: the app hash, then the origin-bound line (last, as
    WebOTP requires). Raises ValueError when one would not keep the SMS in one part."""
    lines = []
    if app_hash is not None:
        if not (isinstance(app_hash, str) and _APP_HASH.fullmatch(app_hash)):
            raise ValueError("the app hash must be 11 characters of A-Z, a-z, 0-9, + and /")
        lines.append(app_hash)
    if origin_host is not None:
        # ASCII first: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII.
        ascii_host = isinstance(origin_host, str) and origin_host.isascii()
        host = origin_host.lower() if ascii_host else ""
        if not _ORIGIN_HOST.fullmatch(host):
            raise ValueError(f"{origin_host!r} is not a host name (ASCII, no port)")
        if len(host) > MAX_ORIGIN_HOST_LENGTH:
            raise ValueError(f"the origin host has {len(host)} characters, more than "
                             f"{MAX_ORIGIN_HOST_LENGTH}: the SMS would not fit one part")
        lines.append(f"@{host} #{code}")
    if lines and (len(code) > MAX_LINED_CODE_DIGITS or valid_minutes > MAX_LINED_VALID_MINUTES):
        raise ValueError(f"with an origin-bound line or an app hash, codes of at most "
                         f"{MAX_LINED_CODE_DIGITS} digits valid at most "
                         f"{MAX_LINED_VALID_MINUTES} minutes fit one SMS")
    return lines


def short_code_sms(code: str, accept_languages: Sequence[str], *, valid_minutes: int,
                   origin_host: str | None = None, app_hash: str | None = None) -> str:
    """The SMS text carrying a short verification ``code``, localised.

    The language is negotiated from ``accept_languages`` (see
    :func:`negotiate_language`); ``valid_minutes`` is how long the code stays
    valid.  The code appears exactly once in the body.

    ``app_hash`` (an Android SMS Retriever app hash, 11 base64 characters) and
    ``origin_host`` (the host of the HTTPS page where the code is typed) add lines
    after a shorter body and a blank line::

        Your verification code is 123456. It expires in 10 minutes.

        FA+9qCX9VSu
        @verify.example.org #123456

    the origin-bound line ``@<host> #<code>`` always last. Such a text fits one SMS
    (160 GSM-7 characters) in every supported language; hence a host of at most
    MAX_ORIGIN_HOST_LENGTH characters (lower-cased here), a code of at most
    MAX_LINED_CODE_DIGITS digits and at most MAX_LINED_VALID_MINUTES minutes.
    Raises ValueError for anything else.
    """
    if not (isinstance(code, str) and code.isascii() and code.isdigit()):
        raise ValueError("the verification code must be a string of ASCII digits")
    if isinstance(valid_minutes, bool) or not isinstance(valid_minutes, int) or valid_minutes < 1:
        raise ValueError("valid_minutes must be a positive integer")
    lines = _checked_lines(code, valid_minutes, origin_host, app_hash)
    translations = _translations(negotiate_language(accept_languages))
    if not lines:
        template = translations.ngettext(
            "Your verification code is %(code)s. Enter it in the app to confirm "
            "your phone number. It expires in %(minutes)d minute.",
            "Your verification code is %(code)s. Enter it in the app to confirm "
            "your phone number. It expires in %(minutes)d minutes.",
            valid_minutes,
        )
        return template % {"code": code, "minutes": valid_minutes}
    # The body before an app hash or an origin-bound line: translations keep to the GSM
    # 03.38 alphabet (no ó, ç, ã, ę, ż...) so that the SMS stays GSM-7, 160 characters.
    template = translations.ngettext(
        "Your verification code is %(code)s. It expires in %(minutes)d minute.",
        "Your verification code is %(code)s. It expires in %(minutes)d minutes.",
        valid_minutes,
    )
    return "\n".join([template % {"code": code, "minutes": valid_minutes}, "", *lines])


def textsecure_code_sms(code: str, accept_languages: Sequence[str]) -> str:
    """The SMS of a TextSecure registration code (gateway.api.textsecure), localised:
    ``Your TextSecure verification code: 123-456``, the six digits shown with a dash as
    TextSecure clients expect (they read the code back from it). Raises ValueError for
    anything but six ASCII digits."""
    if not (isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()):
        raise ValueError("a TextSecure verification code is six ASCII digits")
    translations = _translations(negotiate_language(accept_languages))
    return translations.gettext("Your TextSecure verification code: %(code)s") % {
        "code": f"{code[:3]}-{code[3:]}"}
