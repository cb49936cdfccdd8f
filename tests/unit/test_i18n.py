"""Unit tests of gateway.i18n: language negotiation, the short-code SMS text and the catalogs."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import gateway
from gateway import i18n
from gateway.i18n import SUPPORTED_LANGUAGES, negotiate_language, short_code_sms

I18N_DIR = Path(i18n.__file__).resolve().parent
GATEWAY_DIR = Path(gateway.__file__).resolve().parent
REQUIRED_LANGUAGES = {"en", "fr", "de", "es", "it", "pt"}
NON_ENGLISH = [lang for lang in SUPPORTED_LANGUAGES if lang != "en"]
CODES = ["123456", "000000", "999999", "470815"]


# --- GSM 03.38 -------------------------------------------------------------------
# The GSM 7-bit default alphabet and its extension table, copied from
# 3GPP TS 23.038, section 6.2.1 ("GSM 7 bit Default Alphabet") and 6.2.1.1
# ("GSM 7 bit default alphabet extension table"), in code-point order 0x00-0x7F.
# 0x1B is the escape to the extension table; 0x24 is the currency sign (¤) and
# 0x60 is the inverted question mark (¿), not "$"/"`" as in ASCII.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Each of these costs two septets: the escape (0x1B) and its code in the table.
GSM7_EXTENSION = "\f^{}\\[~]|€"

SINGLE_SEGMENT_GSM7 = 160  # septets in one SMS without a user-data header
SINGLE_SEGMENT_UCS2 = 70  # UCS-2 code units in one SMS without a user-data header


def gsm7_septets(text: str) -> int | None:
    """Septets needed to send ``text`` in the GSM default alphabet, None if impossible."""
    septets = 0
    for char in text:
        if char in GSM7_EXTENSION:
            septets += 2
        elif char in GSM7_BASIC and char != "\x1b":
            septets += 1
        else:
            return None
    return septets


def fits_one_sms(text: str) -> bool:
    septets = gsm7_septets(text)
    if septets is not None:
        return septets <= SINGLE_SEGMENT_GSM7
    return len(text.encode("utf-16-be")) // 2 <= SINGLE_SEGMENT_UCS2


def test_gsm7_tables_are_complete():
    assert len(GSM7_BASIC) == 128 and len(set(GSM7_BASIC)) == 128
    assert len(GSM7_EXTENSION) == 10 and not set(GSM7_EXTENSION) & set(GSM7_BASIC)
    assert gsm7_septets("Hello, World!") == 13
    assert gsm7_septets("10 € [x]") == 11
    assert gsm7_septets("código") is None  # ó is not in the default alphabet
    assert fits_one_sms("a" * 160) and not fits_one_sms("a" * 159 + "€")
    assert fits_one_sms("ó" * 70) and not fits_one_sms("ó" * 71)


# --- The SMS text ----------------------------------------------------------------


def test_supported_languages():
    assert REQUIRED_LANGUAGES <= set(SUPPORTED_LANGUAGES)
    assert "en" in SUPPORTED_LANGUAGES
    assert len(set(SUPPORTED_LANGUAGES)) == len(SUPPORTED_LANGUAGES)
    assert all(lang == lang.lower() and "-" not in lang and "_" not in lang for lang in SUPPORTED_LANGUAGES)


def test_english_text():
    assert short_code_sms("123456", ["en"], valid_minutes=10) == (
        "Your verification code is 123456. Enter it in the app to confirm your phone number. "
        "It expires in 10 minutes."
    )


def test_english_plural_forms():
    assert short_code_sms("123456", ["en"], valid_minutes=1).endswith("It expires in 1 minute.")
    assert short_code_sms("123456", ["en"], valid_minutes=10).endswith("It expires in 10 minutes.")
    assert short_code_sms("123456", ["en"], valid_minutes=2).endswith("It expires in 2 minutes.")


def test_french_plural_forms():
    assert short_code_sms("123456", ["fr"], valid_minutes=1).endswith("dans 1 minute.")
    assert short_code_sms("123456", ["fr"], valid_minutes=10).endswith("dans 10 minutes.")


def test_polish_three_plural_forms():
    assert short_code_sms("123456", ["pl"], valid_minutes=1).endswith(" 1 minutę.")
    assert short_code_sms("123456", ["pl"], valid_minutes=3).endswith(" 3 minuty.")
    assert short_code_sms("123456", ["pl"], valid_minutes=10).endswith(" 10 minut.")
    assert short_code_sms("123456", ["pl"], valid_minutes=22).endswith(" 22 minuty.")


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_catalog_is_shipped_and_found(lang):
    assert (I18N_DIR / "locale" / lang / "LC_MESSAGES" / "messages.po").is_file()
    assert gettext.find("messages", i18n.LOCALE_DIR, languages=[lang]) == str(
        I18N_DIR / "locale" / lang / "LC_MESSAGES" / "messages.mo"
    )


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("code", CODES)
def test_code_appears_exactly_once_and_fits_one_sms(lang, code):
    text = short_code_sms(code, [lang], valid_minutes=10)
    assert text.count(code) == 1
    assert f" {code}" in text  # set apart from the words around it
    assert fits_one_sms(text), f"{lang}: {len(text)} characters: {text!r}"
    assert text == text.strip() and "\n" not in text and "%" not in text


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_fits_one_sms_for_any_sensible_validity(lang):
    for minutes in range(1, 100):
        text = short_code_sms("123456", [lang], valid_minutes=minutes)
        assert fits_one_sms(text), f"{lang}, {minutes} min: {text!r}"
        assert f" {minutes} " in text


@pytest.mark.parametrize("lang", NON_ENGLISH)
def test_translation_differs_from_english(lang):
    english = short_code_sms("123456", ["en"], valid_minutes=10)
    assert short_code_sms("123456", [lang], valid_minutes=10) != english
    assert short_code_sms("123456", [lang], valid_minutes=1) != short_code_sms("123456", ["en"], valid_minutes=1)


def test_language_comes_from_accept_languages():
    assert short_code_sms("123456", ["fr-CA", "en"], valid_minutes=10).startswith("Votre code")
    assert short_code_sms("123456", ["da", "de-AT"], valid_minutes=10).startswith("Ihr Bestätigungscode")
    assert short_code_sms("123456", [], valid_minutes=10).startswith("Your verification code")


@pytest.mark.parametrize("code", ["", "12345a", "１２３４５６", " 123456", None, 123456])
def test_rejects_a_code_that_is_not_digits(code):
    with pytest.raises(ValueError):
        short_code_sms(code, ["en"], valid_minutes=10)


@pytest.mark.parametrize("minutes", [0, -1, True, 1.5, "10"])
def test_rejects_a_bad_validity(minutes):
    with pytest.raises(ValueError):
        short_code_sms("123456", ["en"], valid_minutes=minutes)


def test_translations_are_cached():
    i18n._translations.cache_clear()
    short_code_sms("123456", ["de"], valid_minutes=10)
    short_code_sms("654321", ["de-CH"], valid_minutes=5)
    info = i18n._translations.cache_info()
    assert info.misses == 1 and info.hits == 1
    assert isinstance(i18n._translations("de"), gettext.GNUTranslations)


# --- Negotiation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # exact matches, any case
        (["fr"], "fr"),
        (["de"], "de"),
        (["EN"], "en"),
        (["Es"], "es"),
        # region (and script) fallback
        (["pt-BR"], "pt"),
        (["pt_PT"], "pt"),
        (["en-gb"], "en"),
        (["EN-GB"], "en"),
        (["de-CH"], "de"),
        (["fr-ca"], "fr"),
        (["nl-BE"], "nl"),
        (["it-IT"], "it"),
        (["es-419"], "es"),
        (["sr-Latn-RS", "pl-PL"], "pl"),
        # order of preference respected
        (["da", "en-GB"], "en"),
        (["it", "fr"], "it"),
        (["fr", "it"], "fr"),
        (["ja-JP", "de-DE", "fr-FR"], "de"),
        (["xx", "zz-ZZ", "pt-BR", "en"], "pt"),
        # unknown, empty and garbage
        (["ja"], "en"),
        (["zh-Hant-TW", "ko"], "en"),
        ([], "en"),
        ([""], "en"),
        (["*"], "en"),
        (["   "], "en"),
        (["-"], "en"),
        (["fr;;;", "!!"], "fr"),
        (["f r"], "en"),
        (["é-FR"], "en"),
        (["../../etc/passwd"], "en"),
        (["fr\x00"], "en"),
        (["x" * 10_000], "en"),
        (["-fr"], "en"),
        ([None, 42, "de"], "de"),
    ],
)
def test_negotiate_language(accept, expected):
    assert negotiate_language(accept) == expected


def test_negotiate_language_accepts_any_sequence():
    assert negotiate_language(("de-DE", "en")) == "de"
    preferences = ["nl-NL", "en"]
    assert negotiate_language(preferences) == "nl"
    assert preferences == ["nl-NL", "en"]  # not modified


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_negotiate_every_supported_language(lang):
    assert negotiate_language([lang]) == lang
    assert negotiate_language([f"{lang.upper()}-XX"]) == lang


# --- Catalogs --------------------------------------------------------------------


def _read_po(lang):
    with (I18N_DIR / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")


def _placeholders(text):
    """Named %-placeholders of ``text`` with their conversion, as a sorted list."""
    found = []
    for match in _PLACEHOLDER.finditer(text):
        name, conversion = match.groups()
        if conversion == "%":
            continue
        assert name, f"positional placeholder in {text!r}: translators could not move it"
        found.append((name, conversion))
    assert "%" not in _PLACEHOLDER.sub("", text), f"stray % in {text!r}"
    return sorted(found)


def _messages(catalog):
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context): m.string for m in catalog if m.id}


def test_locale_dir_holds_exactly_the_supported_languages():
    on_disk = {p.name for p in (I18N_DIR / "locale").iterdir() if p.is_dir()}
    assert on_disk == set(SUPPORTED_LANGUAGES)


def test_pot_is_up_to_date_with_the_source():
    with (I18N_DIR / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    extracted = {
        (message if isinstance(message, str) else tuple(message), context)
        for _filename, _lineno, message, _comments, context in extract_from_dir(
            GATEWAY_DIR, method_map, options_map
        )
    }
    with (I18N_DIR / "messages.pot").open("rb") as f:
        template = read_po(f)
    in_template = {(m.id if isinstance(m.id, str) else tuple(m.id), m.context) for m in template if m.id}
    assert extracted, "nothing extracted: is babel.cfg right?"
    assert in_template == extracted, "run `make l10n`"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_po_translates_every_template_message(lang):
    with (I18N_DIR / "messages.pot").open("rb") as f:
        template = read_po(f)
    catalog = _read_po(lang)
    assert str(catalog.locale) == lang
    assert not catalog.obsolete
    assert {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id} == {
        m.id if isinstance(m.id, str) else tuple(m.id) for m in template if m.id
    }
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id, message.context)
        assert translated is not None, f"{lang}: missing {message.id!r}"
        assert not translated.fuzzy, f"{lang}: fuzzy {message.id!r}"
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        if message.pluralizable:
            assert len(strings) == catalog.num_plurals, f"{lang}: wrong number of plural forms"
        assert all(s and s.strip() for s in strings), f"{lang}: empty translation of {message.id!r}"
        # Babel's check() only catches unknown placeholders, not dropped ones:
        # each form must use every placeholder of the source, once.
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        expected = _placeholders(ids[-1])
        assert all(_placeholders(i) == expected for i in ids)
        for s in strings:
            assert _placeholders(s) == expected, f"{lang}: placeholders of {s!r}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, f"{lang}: {problems}"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_committed_mo_is_up_to_date_with_po(lang):
    catalog = _read_po(lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    expected = read_mo(compiled)
    with (I18N_DIR / "locale" / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        committed = read_mo(f)
    assert _messages(committed) == _messages(expected), f"{lang}: run `make l10n` (pybabel compile)"
    assert committed.plural_forms == expected.plural_forms
    # The stdlib reads it too, with the same plural rule.
    with (I18N_DIR / "locale" / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        translations = gettext.GNUTranslations(f)
    assert translations.info()["language"] == lang
