"""A share link in the browser: A copies their link from the room, B opens it in another
browser, buys in the flash sale and pays on the sandbox gateway (the signed webhook delivered
by a real Celery worker); A's sharer page shows the order and the pending earning, and B's
order says who was credited and how much."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import Api, Pages, screenshot
from tests.e2e.test_flash_sale import PAYMENT_TIMEOUT_MS, connected, pinned_show, start_sale
from tests.workers.conftest import CeleryProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def webhook_worker(solo_worker: CeleryProcess) -> CeleryProcess:
    """A Celery worker on this run's broker, to deliver the sandbox gateway's webhook."""
    return solo_worker


async def test_a_friend_buys_through_a_share_link_and_both_see_the_commission(
        api: Api, pages: Pages, webhook_worker: CeleryProcess) -> None:
    # given a live room with a flash sale of a scarf that pays sharers 10%
    host, room, scarf = await pinned_show(api)
    await api.call("PATCH", f"/api/products/{scarf['id']}", host, json={"share_rate_bp": 1000})
    await start_sale(api, host, room, scarf)
    sharer = await api.signup("Alice")
    friend = await api.signup("Bruno")

    # when A presses Share in the room and copies the link
    room_page = await connected(await pages.open(f"/rooms/{room['id']}", sharer))
    await room_page.get_by_test_id("share-button").click()
    field = room_page.get_by_test_id("share-url")
    await expect(field).to_have_value(re.compile(r"/s/r\d+\.\d+\.\d+\.[\w-]+$"))
    url = await field.input_value()
    await screenshot(room_page, "share-link-copied")

    # and B opens it in another browser, lands in the room, buys and pays in the sandbox
    path = url[url.index("/s/"):]
    watch = await connected(await pages.open(path, friend))
    assert watch.url.endswith(f"/rooms/{room['id']}")
    buy = watch.get_by_test_id("sale-buy")
    await expect(buy).to_be_enabled()
    await buy.click()
    await expect(watch.get_by_test_id("sale-order")).to_have_attribute("data-status",
                                                                       "pending_payment")
    await watch.get_by_test_id("sale-pay").click()
    await watch.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await watch.get_by_role("button", name="Pay", exact=True).click()
    await watch.wait_for_url(re.compile(rf"/rooms/{room['id']}$"), timeout=PAYMENT_TIMEOUT_MS)

    # then B's order is confirmed and says A was credited 10% of $9.99, pending
    order = watch.get_by_test_id("sale-order")
    await expect(order).to_have_attribute("data-status", "paid", timeout=PAYMENT_TIMEOUT_MS)
    await expect(watch.get_by_test_id("sale-order-share")).to_have_text(
        "Alice earns $0.99 (10.00%, pending) for sharing", timeout=10_000)
    order_id = await order.get_attribute("data-order-id")
    await screenshot(watch, "share-link-buyer-credited")

    # and A's sharer page shows the link's visit and order, and the pending earning
    shares = await pages.open("/me/shares", sharer)
    row = shares.locator(f'[data-testid=share-order][data-order-id="{order_id}"]')
    await expect(row).to_have_attribute("data-earning-status", "pending")
    await expect(row.get_by_test_id("order-earned")).to_have_text("$0.99")
    await expect(shares.get_by_test_id("share-pending")).to_contain_text("$0.99")
    await expect(shares.get_by_test_id("link-visits")).to_have_text("1")
    await expect(shares.get_by_test_id("link-orders")).to_have_text("1")
    await screenshot(shares, "share-link-sharer-page")

    # and in Chinese, the buyer's note and the sharer's page say the same in Chinese words,
    # amounts through the same formatter (written as escapes: full-width brackets and comma)
    watch_zh = await connected(await pages.open(f"/rooms/{room['id']}", friend, locale="zh-CN"))
    await expect(watch_zh.get_by_test_id("sale-order-share")).to_have_text(
        "Alice \u5206\u4eab\u83b7\u5f97\u4f63\u91d1 US$0.99\uff0810.00%\uff0c\u5f85\u7ed3\u7b97\uff09",
        timeout=10_000)
    shares_zh = await pages.open("/me/shares", sharer, locale="zh-CN")
    await expect(shares_zh.get_by_test_id("shares-link")).to_have_text("\u6211\u7684\u5206\u4eab")
    await expect(shares_zh.get_by_test_id("share-pending")).to_contain_text("\u5f85\u7ed3\u7b97")
    await expect(shares_zh.get_by_test_id("share-pending")).to_contain_text("US$0.99")
