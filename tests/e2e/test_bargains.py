"""Honest bargaining in the browser: the host offers a lineup product from the host panel; the
buyer's live room shows its badge at once and the buyer starts a bargain from the product's
card; two friends, each in a browser of their own, help from its page; the buyer's page shows
every cut and the exact progress (told at once by the live room open in another tab), and the
buyer buys at the floor and pays on the sandbox gateway (the webhook delivered by a real
Celery worker)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.e2e.buying import fill_address
from tests.e2e.conftest import PAYMENT_TIMEOUT_MS, Api, Pages, screenshot

pytestmark = pytest.mark.browser


async def test_friends_cut_a_bargain_to_its_floor_and_the_buyer_buys_and_pays(
        api: Api, pages: Pages, webhook_worker) -> None:
    # given a host whose room's lineup holds a tea mug at ¥8.00
    host = await api.signup("Mia", role="host")
    mug = await api.product(host, title="Tea mug", price_minor=800, currency="CNY")
    room = await api.room(host, [mug], title="Tea time", live=False)
    await api.call("PUT", f"/api/products/{mug['id']}/variants", host,
                   json={"variants": [{"stock": 5}]})
    # and a buyer watching the room, where no product is offered for bargaining yet
    buyer = await api.signup("Lan")
    page = await pages.open(f"/rooms/{room['id']}", buyer)
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    card = page.get_by_test_id("viewer-lineup").locator(f"[data-product-id='{mug['id']}']")
    await expect(card).to_contain_text("Tea mug")
    await expect(card.get_by_test_id("bargain-badge")).to_have_count(0)

    # when the host offers it for bargaining, from ¥8.00 down to ¥5.00 with 2 friends
    panel = await pages.open(f"/host/rooms/{room['id']}", host)
    form = panel.get_by_test_id("bargain-form")
    await expect(form.get_by_test_id("bargain-start-price")).to_have_value("8.00")
    await form.get_by_test_id("bargain-floor-price").fill("5.00")
    await form.get_by_test_id("bargain-helpers").fill("2")
    await form.get_by_test_id("enable-bargain").click()
    offer = panel.get_by_test_id("bargain-offer-item")
    await expect(offer).to_contain_text("Tea mug")
    await screenshot(panel, "bargain-host-offer")
    offer_path = await offer.get_by_role("link").first.get_attribute("href")
    assert offer_path is not None and re.fullmatch(r"/bargain-offers/\d+", offer_path)

    # then the buyer's room shows the offer on the product's card, without a reload
    badge = card.get_by_test_id("bargain-badge")
    await expect(badge).to_have_text("Bargain")
    await expect(badge).to_have_attribute("href", offer_path)
    await screenshot(page, "bargain-room-badge")
    # and, once the host pins it, on the pinned card too, with the floor friends can reach
    await api.call("POST", f"/api/rooms/{room['id']}/pin", host, json={"product_id": mug["id"]})
    await expect(page.get_by_test_id("pinned-bargain")).to_have_text(
        "Bargain Friends can cut it to ¥5.00")
    await expect(page.get_by_test_id("pinned-bargain")).to_have_attribute("href", offer_path)
    # and the buyer, keeping the live room open in another tab, starts a bargain from the card
    # on the offer's page, whose schedule is published
    room_tab = await page.context.new_page()
    await room_tab.goto(page.url)
    await expect(room_tab.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    await badge.click()
    await page.wait_for_url(re.compile(offer_path + "$"))
    await expect(page.get_by_test_id("bargain-schedule").locator("li")).to_have_text(
        ["Friend 1 cuts ¥1.99", "Friend 2 cuts ¥1.01"])
    await page.get_by_test_id("bargain-start").click()
    await page.wait_for_url(re.compile(r"/bargains/\d+$"))
    await expect(page.get_by_test_id("bargain-progress")).to_have_text(
        "0 of 2 friends, ¥3.00 to go")
    await expect(page.get_by_test_id("bargain-price")).to_have_text("¥8.00")
    bargain_url = page.url
    path = bargain_url[bargain_url.index("/bargains/"):]

    # and two friends, each in their own browser, help from the page the buyer shared
    for name in ("Bo", "Chen"):
        friend = await api.signup(name)
        friend_page = await pages.open(path, friend)
        await friend_page.get_by_test_id("bargain-help").click()
        await expect(friend_page.get_by_test_id("bargain-helped")).to_be_visible()
    # and the buyer cannot help their own
    await expect(page.get_by_test_id("bargain-help")).to_have_count(0)

    # then the buyer's page shows every cut and the floor reached, without a reload, each cut
    # told at once by the live room's tab (the buyer's `bargain` events passed on)
    await expect(page.get_by_test_id("bargain")).to_have_attribute("data-news-heard", "2")
    await expect(page.get_by_test_id("bargain-progress")).to_have_text(
        "2 of 2 friends, ¥0.00 to go")
    await expect(page.get_by_test_id("bargain-price")).to_have_text("¥5.00")
    cuts = page.get_by_test_id("bargain-cut")
    await expect(cuts).to_have_count(2)
    await expect(cuts.nth(0)).to_contain_text("Bo")
    await expect(cuts.nth(0)).to_contain_text("cut ¥1.99")
    await expect(cuts.nth(1)).to_contain_text("Chen")
    await expect(cuts.nth(1)).to_contain_text("cut ¥1.01")
    await screenshot(page, "bargain-floor-reached")

    # when the buyer buys at the floor, giving an address the first time, and pays
    await page.get_by_test_id("bargain-buy").click()
    address = page.get_by_test_id("address-form")
    await expect(address).to_be_visible()
    await fill_address(address)
    await address.get_by_test_id("address-save").click()
    await page.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await expect(page.locator("body")).to_contain_text("¥5.00")
    await page.get_by_role("button", name="Pay", exact=True).click()

    # then they are back on the bargain's page, the order at ¥5.00 paid
    await page.wait_for_url(bargain_url, timeout=PAYMENT_TIMEOUT_MS)
    order = page.get_by_test_id("bargain-order")
    await expect(order).to_have_attribute("data-status", "paid", timeout=PAYMENT_TIMEOUT_MS)
    await expect(page.get_by_test_id("bargain-status")).to_have_text(
        "Bought at the price reached.")
    await expect(page.get_by_test_id("bargain-buy")).to_have_count(0)
    await screenshot(page, "bargain-bought")

    # when the host, seeing the bargain started, withdraws the offer from the panel
    await panel.reload()
    await expect(offer.get_by_test_id("bargain-offer-count")).to_have_text("1 bargain started")
    await offer.get_by_test_id("bargain-withdraw").click()
    await panel.get_by_test_id("bargain-withdraw-ask-yes").click()
    # then it leaves the panel, and the buyer's room drops its badges without a reload
    await expect(offer).to_have_count(0)
    await expect(room_tab.get_by_test_id("bargain-badge")).to_have_count(0)
    await expect(room_tab.get_by_test_id("pinned-bargain")).to_be_hidden()
    # while the buyer's bargain stays as it was
    await page.reload()
    await expect(page.get_by_test_id("bargain-order")).to_have_attribute("data-status", "paid")

    # and in Chinese, the same page says the same through the catalogs
    page_zh = await pages.open(path, buyer, locale="zh-CN")
    await expect(page_zh.get_by_test_id("bargain-progress")).to_have_text(
        "\u5df2\u6709 2/2 \u4f4d\u597d\u53cb\u5e2e\u780d\uff0c\u8fd8\u5dee \u00a50.00")
    await expect(page_zh.get_by_test_id("bargain-status")).to_have_text(
        "\u5df2\u6309\u780d\u540e\u4ef7\u4e0b\u5355\u3002")
