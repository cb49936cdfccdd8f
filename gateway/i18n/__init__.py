"""Localised texts sent to users (the short-code verification SMS).

Catalogs live next to this module and are maintained with Babel::

    gateway/i18n/babel.cfg                       extraction mapping
    gateway/i18n/messages.pot                    template (pybabel extract)
    gateway/i18n/locale/<lang>/LC_MESSAGES/      messages.po (source), messages.mo (compiled)

``make l10n`` re-extracts the template, updates every ``.po`` and compiles
the ``.mo`` files, which are committed and shipped as package data.
Translations are looked up with the standard library's :mod:`gettext`.

May import only the kernel (held by tests/test_import_graph.py).
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Sequence
from pathlib import Path

from babel.core import negotiate_locale

__all__ = [
    "DEFAULT_LANGUAGE",
    "LOCALE_DIR",
    "SUPPORTED_LANGUAGES",
    "negotiate_language",
    "short_code_sms",
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


def short_code_sms(code: str, accept_languages: Sequence[str], *, valid_minutes: int) -> str:
    """The SMS text carrying a short verification ``code``, localised.

    The language is negotiated from ``accept_languages`` (see
    :func:`negotiate_language`); ``valid_minutes`` is how long the code stays
    valid.  The code appears exactly once in the text.
    """
    if not (isinstance(code, str) and code.isascii() and code.isdigit()):
        raise ValueError("the verification code must be a string of ASCII digits")
    if isinstance(valid_minutes, bool) or not isinstance(valid_minutes, int) or valid_minutes < 1:
        raise ValueError("valid_minutes must be a positive integer")
    translations = _translations(negotiate_language(accept_languages))
    template = translations.ngettext(
        "Your verification code is %(code)s. Enter it in the app to confirm "
        "your phone number. It expires in %(minutes)d minute.",
        "Your verification code is %(code)s. Enter it in the app to confirm "
        "your phone number. It expires in %(minutes)d minutes.",
        valid_minutes,
    )
    return template % {"code": code, "minutes": valid_minutes}
