"""The pages in Chinese and English, in Chromium: Chinese for a Chinese browser, the switcher on
every page, the choice sticking across pages and (signed in) across browsers, and the pages'
money and dates formatted for the locale, the same in the browser as on the server.

There is no CJK font on this machine, so these tests read text, never pixels."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import Account, Api, Pages, fill_sale_form
from tests.e2e.test_flash_sale import start_sale
from web.i18n import format_money

pytestmark = pytest.mark.browser


async def live_show(api: Api) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    host = await api.signup("Mia", role="host")
    tea = await api.product(host, title="Longjing tea", price_minor=12800, currency="CNY",
                            stock=50)
    room = await api.room(host, [tea], title="Spring tea live")
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": tea["id"]})
    return host, room, tea


async def chinese_viewer_opens(api: Api, pages: Pages,
                               room: dict[str, Any]) -> tuple[Account, Page]:
    """A new viewer, Lin, opens the room in a browser that asks for Chinese."""
    viewer = await api.signup("Lin")
    return viewer, await pages.open(f"/rooms/{room['id']}", viewer, locale="zh-CN")


async def in_language(page: Page, code: str) -> None:
    """The page is in `code` (waiting out a navigation the switcher started)."""
    await expect(page.locator("html")).to_have_attribute("lang", code)


async def test_a_chinese_browser_gets_chinese_and_the_choice_sticks_across_pages(
        api: Api, pages: Pages) -> None:
    # given a live room with a tea pinned, priced in yuan, and a flash sale of 5 of its 50
    host, room, tea = await live_show(api)
    await start_sale(api, host, room, tea, price_minor=9900)

    # when a viewer with a Chinese browser opens the room
    _, page = await chinese_viewer_opens(api, pages, room)

    # then the page, the scripts' text and the prices are Chinese
    await in_language(page, "zh-CN")
    await expect(page.get_by_test_id("connection")).to_have_text("已连接")
    await expect(page.get_by_test_id("room-status")).to_have_text("直播中")
    await expect(page.get_by_test_id("pinned-price")).to_have_text("¥128.00")
    await expect(page.get_by_test_id("pinned-stock")).to_have_text("库存 45 件")
    await expect(page.get_by_test_id("sale-buy")).to_have_text("立即购买 · ¥99.00")
    await expect(page.get_by_test_id("sale-stock")).to_have_text("剩余 5 / 5 件")
    await expect(page.get_by_test_id("bag-button")).to_contain_text("小黄车")
    await expect(page.locator("#chat-input")).to_have_attribute("placeholder", "说点什么…")

    # when they switch to English
    await page.get_by_test_id("lang-en").click()

    # then the same page is back in English
    await expect(page).to_have_url(re.compile(f"/rooms/{room['id']}$"))
    await in_language(page, "en")
    await expect(page.get_by_test_id("connection")).to_have_text("Connected")
    await expect(page.get_by_test_id("pinned-stock")).to_have_text("45 in stock")
    await expect(page.get_by_test_id("pinned-price")).to_have_text("¥128.00")
    await expect(page.get_by_test_id("sale-buy")).to_have_text("Buy now · ¥99.00")

    # and the choice sticks on the next page, though the browser still asks for Chinese
    await page.goto(pages.server.url + "/")
    await in_language(page, "en")
    await expect(page.get_by_role("heading", name=re.compile("^Live now"))).to_be_visible()

    # when they switch back
    await page.get_by_test_id("lang-zh-CN").click()

    # then Chinese again, here and on the next page
    await in_language(page, "zh-CN")
    await expect(page.get_by_role("heading", name=re.compile("^正在直播"))).to_be_visible()
    await page.goto(pages.server.url + f"/rooms/{room['id']}")
    await expect(page.get_by_test_id("pinned-stock")).to_have_text("库存 45 件")


async def test_a_signed_in_choice_follows_the_account_to_a_new_browser(
        api: Api, pages: Pages) -> None:
    # given a signed-in viewer whose browser is Chinese, who picks English
    viewer = await api.signup("Ana")
    page = await pages.open("/", viewer, locale="zh-CN")
    await in_language(page, "zh-CN")
    await page.get_by_test_id("lang-en").click()
    await expect(page.get_by_role("heading", name=re.compile("^Live now"))).to_be_visible()

    # when they open the site in another browser (a new context: no language cookie), also
    # Chinese, signed in as themselves
    other = await pages.open("/", viewer, locale="zh-CN")

    # then it is in English: their account's choice
    await in_language(other, "en")
    await expect(other.get_by_role("button", name="Log out")).to_be_visible()

    # and a guest in a Chinese browser still gets Chinese
    guest = await pages.open("/", locale="zh-CN")
    await in_language(guest, "zh-CN")
    await expect(guest.get_by_role("banner").get_by_role("link", name="登录")).to_be_visible()


async def test_host_pages_and_error_codes_in_chinese(api: Api, pages: Pages) -> None:
    # given a host with a live show, in a Chinese browser
    host, room, _ = await live_show(api)
    panel = await pages.open(f"/host/rooms/{room['id']}", host, locale="zh-CN")

    # then the host room speaks Chinese, from the template and from the scripts
    await expect(panel.get_by_test_id("room-status")).to_have_text("直播中")
    await expect(panel.get_by_test_id("unpin")).to_have_text("取消讲解")
    await expect(panel.get_by_test_id("sale-start")).to_have_text("⚡ 开始秒杀")

    # when the host asks for a sale of more units than there are
    form = await fill_sale_form(panel, "99", "500")
    await form.get_by_test_id("sale-start").click()

    # then the form says so in Chinese
    await expect(form.locator('[data-error-for="quantity"]')).to_have_text("库存仅 50 件。")

    # and an API error code the page knows is shown in Chinese (a cross-site refusal's code)
    shown = await panel.evaluate(
        """async () => (await import("/static/js/i18n.js")).errorText({code: "sold_out",
                                                                       message: "sold out"})""")
    assert shown == "已售罄。"
    unknown = await panel.evaluate(
        """async () => (await import("/static/js/i18n.js")).errorText({code: "new_code",
                                                                       message: "As the API says"})""")
    assert unknown == "As the API says"


AMOUNTS = [0, 5, 1999, 123456, -250, 100000000]
CURRENCIES = ["CNY", "USD", "EUR", "GBP", "JPY", "CAD", "AUD", "SGD", "INR", "BRL", "HKD", "KRW"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_the_browser_and_the_server_format_money_alike(pages: Pages, locale: str) -> None:
    # given a page in the locale
    page = await pages.open("/", locale=locale)
    await in_language(page, locale)

    # when format.js formats amounts in every currency the host panel offers (and a few more)
    formatted: dict[str, str] = await page.evaluate(
        """async ([amounts, currencies]) => {
             const {formatMoney} = await import("/static/js/format.js");
             const out = {};
             for (const c of currencies) for (const a of amounts) out[`${a} ${c}`] = formatMoney(a, c);
             return out;
           }""", [AMOUNTS, CURRENCIES])

    # then the server's formatter wrote the same text
    expected = {f"{a} {c}": format_money(a, c, locale) for c in CURRENCIES for a in AMOUNTS}
    assert formatted == expected
    assert formatted["1999 CNY"] == "¥19.99"


async def test_form_errors_from_the_api_are_shown_in_chinese(pages: Pages) -> None:
    # given the sign-up page in Chinese
    page = await pages.open("/signup", locale="zh-CN")
    await expect(page.get_by_role("heading", name="创建你的账号")).to_be_visible()

    # when someone signs up with a bad email and a short password
    await page.get_by_label("昵称").fill("小林")
    await page.get_by_label("邮箱").fill("not-an-email")
    await page.get_by_label("密码").fill("short")
    await page.get_by_role("button", name="创建账号").click()

    # then the API's refusal (English, with codes) is shown in Chinese under each field
    await expect(page.locator('[data-error-for="password"]')).to_have_text("至少需要 8 个字符。")
    await expect(page.locator('[data-error-for="email"]')).to_have_text(
        "请输入有效的邮箱地址，例如 name@example.com。")  # noqa: RUF001


async def test_the_phone_room_in_chinese_fits_and_switches(api: Api, pages: Pages) -> None:
    # given the live room on a phone, in Chinese
    _, room, _ = await live_show(api)
    viewer = await api.signup("Qi")
    page = await pages.open(f"/rooms/{room['id']}", viewer, width=390, height=844,
                            has_touch=True, locale="zh-CN")
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")

    # then the switcher offers only the other language, and nothing scrolls sideways
    await expect(page.get_by_test_id("lang-zh-CN")).to_be_hidden()
    await expect(page.get_by_test_id("lang-en")).to_be_visible()
    await expect(page.get_by_test_id("bag-button")).to_contain_text("小黄车")
    width, inner = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width <= inner

    # when they tap English, the phone layout is in English
    await page.get_by_test_id("lang-en").tap()
    await expect(page.get_by_test_id("bag-button")).to_contain_text("Shop")
    await expect(page.get_by_test_id("lang-zh-CN")).to_be_visible()
    width, inner = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width <= inner


async def test_the_seller_line_the_rain_and_the_feeds_are_chinese_in_a_chinese_browser(
        api: Api, pages: Pages) -> None:
    # given a live show, and the host dropping a red envelope rain that opens in a minute
    host, room, _ = await live_show(api)
    await api.call("POST", f"/api/rooms/{room['id']}/rains", host, json={
        "envelope_count": 10, "total_minor": 10000, "currency": "CNY", "countdown_seconds": 60,
        "duration_seconds": 30})

    # when a viewer with a Chinese browser opens the room
    viewer, page = await chinese_viewer_opens(api, pages, room)

    # then the seller line, written by the server, is Chinese
    await in_language(page, "zh-CN")
    await expect(page.locator("#seller-followers")).to_have_text("0 粉丝")
    await expect(page.get_by_test_id("seller-score")).to_have_text("暂无评价")
    await expect(page.get_by_test_id("follow-button")).to_have_text("关注")
    # and so is the rain's card, written by the script
    rain = page.get_by_test_id("rain")
    await expect(rain).to_contain_text("红包雨")
    await expect(rain).to_contain_text("10 个红包 · 共 ¥100.00")
    await expect(rain.get_by_test_id("rain-countdown")).to_contain_text("后开抢")

    # when they follow the host, the script's words are Chinese too
    await page.get_by_test_id("follow-button").click()
    await expect(page.get_by_test_id("follow-button")).to_have_text("已关注")
    await expect(page.locator("#seller-followers")).to_have_text("1 粉丝")
    await expect(page.get_by_test_id("follower-count")).to_have_text("1")

    # and the feeds' tabs and the notifications page are Chinese
    feeds = await pages.open("/videos", viewer, locale="zh-CN")
    await expect(feeds.get_by_test_id("feed-tab-for-you")).to_have_text("推荐")
    await expect(feeds.get_by_test_id("feed-tab-following")).to_have_text("关注")
    inbox = await pages.open("/notifications", viewer, locale="zh-CN")
    await expect(inbox.get_by_role("heading", name="通知")).to_be_visible()
