"""Comment-to-buy in the browser, in Chinese: the host switches it on in the panel, a viewer
types `买2 蓝色 M` in the chat, gets a confirm-and-pay card of the held order, taps it, pays on
the sandbox gateway's page (the webhook delivered by a real Celery worker) and sees the order
confirmed in the room; an ambiguous line gets a private hint instead."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import PAYMENT_TIMEOUT_MS, Api, Pages, connected, pay_in_sandbox, screenshot

pytestmark = pytest.mark.browser

COLOURS_AND_SIZES = {
    "options": [{"name": "颜色", "values": ["蓝色", "红色"]}, {"name": "尺码", "values": ["M", "L"]}],
    "variants": [{"options": {"颜色": colour, "尺码": size}, "stock": 5}
                 for colour in ("蓝色", "红色") for size in ("M", "L")],
}
ADDRESS = {"name": "李伟", "line1": "南京路88号", "city": "上海", "postal_code": "200001",
           "country": "CN", "phone": "+86 138 0000 0000"}


async def test_a_chat_line_gives_a_confirm_card_that_pays_in_one_tap(
        api: Api, pages: Pages, webhook_worker) -> None:
    # given a live show with a shirt in colours and sizes pinned, and a viewer with an address
    show = await api.show({"title": "亚麻衬衫", "price_minor": 2500, "currency": "CNY"},
                          variants=[COLOURS_AND_SIZES], pin=True, title="夏日亚麻")
    viewer = await api.viewer(address=ADDRESS)
    watch = await pages.watch(show, viewer, locale="zh-CN")
    await expect(watch.get_by_test_id("chat-buy-note")).to_be_hidden()

    # when the host switches comment-to-buy on in the panel
    panel = await pages.panel(show, locale="zh-CN")
    await panel.get_by_test_id("comment-buy-toggle").check(force=True)
    await expect(panel.get_by_test_id("comment-buy-toggle")).to_be_checked()

    # then the viewers are told they can buy by chat
    await expect(watch.get_by_test_id("chat-buy-note")).to_have_text(re.compile("评论下单"))

    # when the viewer sends `买2 蓝色 M`
    await watch.get_by_test_id("chat-input").fill("买2 蓝色 M")
    await watch.get_by_test_id("chat-send").click()

    # then the line is in the chat, and the viewer gets a card of the held order
    await expect(watch.get_by_test_id("chat-list")).to_contain_text("买2 蓝色 M")
    card = watch.get_by_test_id("chat-buy")
    await expect(card.get_by_test_id("chat-buy-title")).to_contain_text("50.00")
    await expect(card).to_contain_text("2 \u00d7 亚麻衬衫 — M / 蓝色")
    await screenshot(watch, "comment-to-buy-card")
    # and the host's panel sees the chat line only
    await expect(panel.get_by_test_id("chat-list")).to_contain_text("买2 蓝色 M")

    # when they tap Confirm and pay, and pay on the sandbox gateway's page
    await pay_in_sandbox(watch, card.get_by_test_id("chat-buy-pay"), show.path, label="确认支付")

    # then the room shows the order confirmed
    order_box = watch.get_by_test_id("shop-order")
    await expect(order_box).to_have_attribute("data-status", "paid", timeout=PAYMENT_TIMEOUT_MS)
    await expect(watch.get_by_test_id("shop-order-status")).to_contain_text("已确认")
    orders = await api.call("GET", "/api/orders", viewer)
    assert [(o["status"], o["lines"][0]["quantity"], o["lines"][0]["options"])
            for o in orders["orders"]] == [("paid", 2, {"颜色": "蓝色", "尺码": "M"})]

    # when they send a line two variants match
    await connected(watch)
    await watch.get_by_test_id("chat-input").fill("买 红色")
    await watch.get_by_test_id("chat-send").click()

    # then only a private hint names what to add, and nothing more is ordered
    hint = watch.get_by_test_id("chat-buy-hint")
    await expect(hint).to_have_attribute("data-code", "ambiguous")
    await expect(hint).to_contain_text("尺码")
    await screenshot(watch, "comment-to-buy-hint")
    assert len((await api.call("GET", "/api/orders", viewer))["orders"]) == 1
