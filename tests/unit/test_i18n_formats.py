"""The reader's locale (cookie > account > Accept-Language > zh-CN), the translation function,
and the server's money and date formatting (web/i18n.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from markupsafe import Markup

from web.i18n import (
    DEFAULT_LOCALE,
    TRANSLATORS,
    MissingParameter,
    format_datetime,
    format_money,
    from_accept_language,
    negotiate,
    normalize,
    translate,
)


def test_the_default_is_simplified_chinese() -> None:
    assert DEFAULT_LOCALE == "zh-CN"
    assert negotiate(None, None, None) == "zh-CN"
    assert negotiate(None, None, "") == "zh-CN"


@pytest.mark.parametrize(("cookie", "account", "header", "expected"), [
    ("en", "zh-CN", "zh-CN,zh;q=0.9", "en"),      # the cookie beats everything
    ("zh-CN", "en", "en-US", "zh-CN"),
    (None, "en", "zh-CN,zh;q=0.9", "en"),         # then the account
    (None, None, "en-US,en;q=0.9", "en"),         # then the browser
    (None, None, "zh-TW", "zh-CN"),               # any Chinese reads zh-CN
    (None, None, "fr-FR,de;q=0.8", "zh-CN"),      # nothing we have: the default
    ("fr", None, "en", "en"),                     # a cookie naming no locale of ours is no choice
    ("bogus", "xx", None, "zh-CN"),
])
def test_negotiation_order(cookie: str | None, account: str | None, header: str | None,
                           expected: str) -> None:
    assert negotiate(cookie, account, header) == expected


def test_accept_language_is_read_by_quality_then_order() -> None:
    assert from_accept_language("fr;q=1, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert from_accept_language("en-GB, zh-CN") == "en"
    assert from_accept_language("zh-CN;q=0, en;q=0.1") == "en"
    assert from_accept_language("en;q=abc, zh") == "zh-CN"
    assert from_accept_language("*") is None


def test_normalize_takes_tags_in_any_shape() -> None:
    assert normalize("zh-Hans-CN") == "zh-CN"
    assert normalize("ZH_cn") == "zh-CN"
    assert normalize("EN-gb") == "en"
    assert normalize("ja") is None
    assert normalize("") is None


def test_translate_fills_parameters_and_plurals() -> None:
    assert translate("en", "stock.only_left", count=3) == "Only 3 left"
    assert translate("zh-CN", "stock.only_left", count=3) == "仅剩 3 件"
    assert translate("en", "room.others_just_bought", name="Li", count=1) == \
        "Li and 1 other just bought"
    assert translate("en", "room.others_just_bought", name="Li", count=1200) == \
        "Li and 1,200 others just bought"
    assert translate("zh-CN", "room.others_just_bought", name="Li", count=2) == "Li 等 2 人刚刚下单了"


def test_an_unknown_key_shows_as_it_is_and_a_missing_parameter_fails() -> None:
    assert translate("en", "Some text from elsewhere") == "Some text from elsewhere"
    assert translate("zh-CN", "a message with {braces}", other=1) == "a message with {braces}"
    with pytest.raises(MissingParameter):
        translate("en", "stock.only_left")


def test_templates_escape_parameters_and_keep_markup_amounts() -> None:
    t = TRANSLATORS["en"]
    assert t("auth.signed_in_as_html", name="<b>x</b>") == Markup(
        "You are signed in as <strong>&lt;b&gt;x&lt;/b&gt;</strong>. Signing in again switches "
        "account.")
    amount = Markup('<data value="5">$0.05</data>')
    assert t("report.aov", amount=amount) == Markup('AOV <data value="5">$0.05</data>')


def test_error_codes_in_words_else_the_api_message() -> None:
    assert TRANSLATORS["zh-CN"].error("sold_out", "sold out") == "已售罄。"
    assert TRANSLATORS["zh-CN"].error("no_such_code", "as the API said") == "as the API said"
    assert TRANSLATORS["en"].error(None, "as the API said") == "as the API said"


@pytest.mark.parametrize(("minor", "currency", "locale", "expected"), [
    (1999, "USD", "en", "$19.99"),
    (1999, "USD", "zh-CN", "US$19.99"),
    (4800, "CNY", "zh-CN", "¥48.00"),
    (4800, "CNY", "en", "¥48.00"),           # CNY is "¥" in English too, not "CN¥"
    (123456789, "CNY", "zh-CN", "¥1,234,567.89"),
    (4800, "JPY", "en", "¥4,800"),           # no minor unit
    (4800, "JPY", "zh-CN", "JP¥4,800"),
    (5, "EUR", "en", "€0.05"),
    (-250, "GBP", "en", "-£2.50"),
    (1500, "KWD", "en", "KWD\u00a01.500"),   # three minor digits, and a code for a symbol
    (123456, "SGD", "zh-CN", "SGD\u00a01,234.56"),
    (0, "AUD", "zh-CN", "AU$0.00"),
])
def test_money(minor: int, currency: str, locale: str, expected: str) -> None:
    assert format_money(minor, currency, locale) == expected


def test_no_amount_is_a_dash() -> None:
    assert format_money(None, "USD", "en") == "\u2013"
    assert format_money(100, None, "zh-CN") == "\u2013"


def test_dates_in_each_locale_in_utc() -> None:
    moment = datetime(2026, 11, 20, 20, 5, 9, tzinfo=UTC)
    assert format_datetime(moment, "en") == "Fri, Nov 20, 2026, 8:05 PM UTC"
    assert format_datetime(moment, "zh-CN") == "2026年11月20日周五 UTC 20:05"
    assert format_datetime(moment, "en", date=False, seconds=True) == "8:05:09 PM UTC"
    assert format_datetime(moment, "zh-CN", date=False) == "20:05 UTC"
    # Another zone's moment is the same instant in UTC.
    beijing = moment.astimezone(timezone(timedelta(hours=8)))
    assert format_datetime(beijing, "zh-CN") == "2026年11月20日周五 UTC 20:05"
    assert format_datetime(datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "en") == "Thu, Jan 1, 2026, 12:00 AM UTC"
