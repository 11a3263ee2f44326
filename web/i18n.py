"""Text and languages: the pages' message catalogs, the reader's locale, and the server side of
the one money and date formatter.

Every word a page shows comes from `web/i18n/<locale>.json`: a flat map of keys
(`room.chat.send`) to text with `{name}` parameters, or to `{"one": ..., "other": ...}` where
the text depends on a `count` (English has both forms; Chinese only `other`). Templates call
`t("key", name=...)`; the scripts get the page's catalog in the page (`<script id="i18n">`)
and call `t(key, params)` from web/static/js/i18n.js. Keys ending in `_html` may hold markup:
their parameters are escaped, the rest of the text is trusted (it is ours).

The catalogs are read once, at import (start-up), and each locale's JSON for the pages (the
keys the scripts use) is encoded once: a page pays for neither.

Which locale a page is in (`negotiate`): the reader's own choice (the `livesell_locale`
cookie, set by the switcher on every page), else the choice kept on their account, else the
browser's `Accept-Language`, else Simplified Chinese: the people this product is for read
Chinese first (docs/architecture.md, "Text and languages").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup, escape

CATALOG_DIR = Path(__file__).parent / "i18n"
LOCALES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LOCALE_COOKIE = "livesell_locale"
# A year: a language choice is not something to ask for again soon.
LOCALE_COOKIE_MAX_AGE = 365 * 24 * 3600

Message = str | dict[str, str]
_PARAM = re.compile(r"\{(\w+)\}")


class MissingParameter(KeyError):
    """A message names a parameter the caller did not give (a bug: fails loudly in tests)."""


def _load(locale: str) -> dict[str, Message]:
    data = orjson.loads((CATALOG_DIR / f"{locale}.json").read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{locale}.json must be a JSON object of key -> message")
    return data


CATALOGS: dict[str, dict[str, Message]] = {locale: _load(locale) for locale in LOCALES}

# The keys the scripts can ask for, read from web/static/js at start-up: `t("key")`,
# `has("key")`, `t(flag ? "key.a" : "key.b")`, and a dynamic `t(`prefix.${…}`)` (every key
# under the prefix). The pages embed only these: the rest of the catalog is the templates',
# used on the server. A key the scripts build some other way is missing in the page, and
# i18n.js says so on the console (which fails the browser tests).
SCRIPTS_DIR = Path(__file__).parent / "static" / "js"
SCRIPT_KEY = re.compile(r"""\b(?:t|has)\(\s*(?:"([\w.-]+)"|`([\w.-]+)\$\{)""")
SCRIPT_KEY_CHOICE = re.compile(r"""\bt\(\s*\w+\s*\?\s*"([\w.-]+)"\s*:\s*"([\w.-]+)"\s*[,)]""")
_COMMENT_LINE = re.compile(r"^\s*(//|\*|/\*\*).*$", re.M)


def script_keys(directory: Path = SCRIPTS_DIR) -> tuple[set[str], set[str]]:
    """(keys, prefixes) the scripts of `directory` use."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in sorted(directory.glob("*.js")):
        code = _COMMENT_LINE.sub("", path.read_text())
        for match in SCRIPT_KEY.finditer(code):
            if match.group(1):
                keys.add(match.group(1))
            else:
                prefixes.add(match.group(2))
        for match in SCRIPT_KEY_CHOICE.finditer(code):
            keys.update(match.groups())
    return keys, prefixes


def _for_scripts(catalog: dict[str, Message]) -> dict[str, Message]:
    keys, prefixes = script_keys()
    return {key: text for key, text in catalog.items()
            if key in keys or key.startswith(tuple(prefixes))}


SCRIPT_CATALOGS: dict[str, dict[str, Message]] = {
    locale: _for_scripts(catalog) for locale, catalog in CATALOGS.items()}
# The scripts' catalog as the pages embed it, encoded once. `</` cannot appear in it (orjson
# escapes nothing by default), so the text is made safe for a <script> element here.
CATALOG_JSON: dict[str, Markup] = {
    locale: Markup(orjson.dumps(catalog).decode().replace("</", "<\\/"))
    for locale, catalog in SCRIPT_CATALOGS.items()}


def normalize(tag: str | None) -> str | None:
    """One of LOCALES for a language tag (`zh`, `zh-Hans-CN`, `en-GB`, `EN`), else None.
    Traditional Chinese tags (`zh-TW`, `zh-Hant`) still get zh-CN: closer than English."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best of LOCALES by the header's q-values (ties: the first listed), else None."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        locale = normalize(tag)
        if locale is None or quality <= 0:
            continue
        candidate = (-quality, position, locale)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None


def negotiate(cookie: str | None, account: str | None, accept_language: str | None) -> str:
    """The page's locale: the cookie (the reader's choice) > the account's > the browser's >
    the default."""
    return (normalize(cookie) or normalize(account) or from_accept_language(accept_language)
            or DEFAULT_LOCALE)


def _plural_form(locale: str, count: Any) -> str:
    # CLDR: Chinese has one form; English "one" is exactly 1 (integers here).
    return "one" if locale == "en" and count == 1 else "other"


def message(locale: str, key: str) -> Message | None:
    return CATALOGS.get(locale, CATALOGS[DEFAULT_LOCALE]).get(key)


def translate(locale: str, key: str, **params: Any) -> str:
    """The text of `key` in `locale` with its parameters filled in; `count` picks the plural
    form and is formatted for the locale. An unknown key gives the key itself (the catalog
    tests make sure none is)."""
    return _fill(locale, key, params, markup=False)


def translate_html(locale: str, key: str, **params: Any) -> Markup:
    """As markup: the message's own text escaped unless its key ends in `_html` (then its
    markup is ours and kept), every parameter escaped unless it is markup already (an amount
    from the `money` filter)."""
    return Markup(_fill(locale, key, params, markup=True))


def _fill(locale: str, key: str, params: dict[str, Any], *, markup: bool) -> str:
    found = message(locale, key)
    if found is None:  # no key: text shown as it is (an API message on an error page)
        return str(escape(key)) if markup else key
    if isinstance(found, dict):
        found = found.get(_plural_form(locale, params.get("count")), found.get("other", key))
    if "count" in params and isinstance(params["count"], int):
        params = {**params, "count": format_number(params["count"], locale)}
    text = found if not markup or key.endswith("_html") else str(escape(found))

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise MissingParameter(f"{key} needs the parameter {name!r}")
        return str(escape(params[name])) if markup else str(params[name])

    return _PARAM.sub(value, text)


# --- Money and dates: the server's copy of web/static/js/format.js ------------------------
#
# The pages format in the browser with Intl (the reader's time zone is known only there); the
# server writes the same text first, so a page reads right before its scripts run and in
# anything that does not run them. The two agree for every currency the host panel offers in
# both locales (tests/e2e/test_languages.py compares them in Chromium).

# Minor-unit digits (ISO 4217) where they are not 2.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
                 "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 0, "LYD": 3}
# CLDR symbols, as Intl.NumberFormat shows them. CNY is shown as "¥" in both locales (its
# narrow symbol: what a Chinese shopper reads, and what format.js asks Intl for).
_SYMBOLS = {
    "en": {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "¥", "CAD": "CA$",
           "AUD": "A$", "SGD": "SGD", "INR": "₹", "BRL": "R$", "HKD": "HK$", "KRW": "₩",
           "TWD": "NT$"},
    "zh-CN": {"USD": "US$", "EUR": "€", "GBP": "£", "CNY": "¥", "JPY": "JP¥", "CAD": "CA$",
              "AUD": "AU$", "SGD": "SGD", "INR": "₹", "BRL": "R$", "HKD": "HK$", "KRW": "₩",
              "TWD": "NT$"},
}
NO_VALUE = "\u2013"


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency.upper(), 2)


def format_number(value: int, locale: str) -> str:
    """1234567 -> "1,234,567" (both locales group by thousands with a comma)."""
    return f"{value:,}"


def format_money(minor: int | None, currency: str | None, locale: str) -> str:
    """1999 USD -> "$19.99" (en) / "US$19.99" (zh-CN); 4800 CNY -> "¥48.00"; 4800 JPY ->
    "¥4,800"; a dash where there is no amount."""
    if minor is None or not currency:
        return NO_VALUE
    digits = minor_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(int(minor)), 10 ** digits)
    number = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    symbol = _SYMBOLS.get(locale, _SYMBOLS["en"]).get(currency.upper())
    if symbol is None or (symbol.isalpha() and symbol.isascii()):
        # A code, not a symbol: Intl puts a no-break space between it and the number.
        return f"{sign}{symbol or currency.upper()}\u00a0{number}"
    return f"{sign}{symbol}{number}"


_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ZH_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def format_datetime(value: datetime, locale: str, *, date: bool = True,
                    seconds: bool = False) -> str:
    """A moment in UTC, as the pages show it before format.js puts it in the reader's zone:
    "Fri, Nov 20, 2026, 8:00 PM UTC" / "2026年11月20日周五 UTC 20:00"."""
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if locale == "zh-CN":
        clock = f"{moment:%H:%M}" + (f":{moment:%S}" if seconds else "")
        day = (f"{moment.year}年{moment.month}月{moment.day}日{_ZH_DAYS[moment.weekday()]} "
               if date else "")
        return f"{day}UTC {clock}" if date else f"{clock} UTC"
    hour = moment.hour % 12 or 12
    clock = f"{hour}:{moment:%M}" + (f":{moment:%S}" if seconds else "")
    clock += " AM" if moment.hour < 12 else " PM"
    day = (f"{_EN_DAYS[moment.weekday()]}, {_EN_MONTHS[moment.month - 1]} {moment.day}, "
           f"{moment.year}, " if date else "")
    return f"{day}{clock} UTC"


@dataclass(frozen=True)
class Translator:
    """A locale's `t` for one render (what templates call)."""

    locale: str

    def __call__(self, key: str, **params: Any) -> str | Markup:
        if key.endswith("_html") or any(isinstance(v, Markup) for v in params.values()):
            return translate_html(self.locale, key, **params)
        return translate(self.locale, key, **params)

    def error(self, code: str | None, fallback: str) -> str:
        """An API error code in words, else the API's (English) message."""
        if code and f"errors.{code}" in CATALOGS.get(self.locale, {}):
            return translate(self.locale, f"errors.{code}")
        return fallback


TRANSLATORS = {locale: Translator(locale) for locale in LOCALES}
