"""Buying from a replay's page in the browser: a viewer opens a product card of the replay (its
room no longer live), sees the product's current price labelled as such, picks a size and
colour, buys, gives an address the first time, pays on the sandbox gateway's page (the webhook
delivered by a real Celery worker), comes back to the replay and sees the order confirmed; the
order is the replay's, and their orders page says so. The replay's row is inserted ready: the transcode is tested in
tests/video."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from core.context import Services
from live.models import ShortVideo, ShortVideoTag, VideoStatus
from orders.models import Order
from tests.e2e.buying import expect_confirmed, fill_address, newest_order_card
from tests.e2e.conftest import Api, Pages, pay_in_sandbox, screenshot
from tests.e2e.test_regular_buying import SHIRT, SIZES_AND_COLOURS, TIMES

pytestmark = pytest.mark.browser


async def _ready_replay(services: Services, host_id: int, room_id: int,
                        product_ids: list[int]) -> int:
    async with services.db.transaction() as session:
        video = ShortVideo(host_id=host_id, room_id=room_id, title="Summer linen, the replay",
                           status=VideoStatus.READY.value, size_bytes=1000,
                           content_type="video/mp4", duration_ms=60_000, renditions=[360])
        session.add(video)
        await session.flush()
        # Shown from the start: the card is on screen without playing.
        session.add_all([ShortVideoTag(video_id=video.id, product_id=product_id, at_ms=0)
                         for product_id in product_ids])
        return int(video.id)


async def test_a_viewer_buys_a_replays_product_at_its_current_price_and_pays(
        api: Api, pages: Pages, services: Services, webhook_worker) -> None:
    # given a replay of a show that is not live, tagging a shirt in sizes and colours
    show = await api.show(SHIRT, variants=[SIZES_AND_COLOURS], title="Summer linen")
    replay_id = await _ready_replay(services, show.host.id, show.room["id"],
                                    [show.products[0]["id"]])
    viewer = await api.viewer()
    page = await pages.open(f"/videos/{replay_id}", viewer)

    # when they open the product's card
    await page.get_by_test_id("tag-card").click()
    dialog = page.get_by_test_id("product-dialog")
    shop = dialog.get_by_test_id("dialog-shop")

    # then its current price is labelled as such, and Buy waits for a size and a colour
    await expect(shop.get_by_test_id("shop-price")).to_have_text(
        re.compile(r"^Current price .*25\.00$"))
    await expect(shop.get_by_test_id("buy-now")).to_be_disabled()
    await expect(shop.get_by_test_id("add-to-cart")).to_have_count(0)

    # when they pick L in blue (its own price), and buy
    await shop.get_by_test_id("option-size").get_by_role("button", name="L").click()
    await shop.get_by_test_id("option-colour").get_by_role("button", name="Blue").click()
    await expect(shop.get_by_test_id("shop-price")).to_have_text(re.compile(r"29\.00"))
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 4 left")
    await screenshot(page, "video-variant-picked")
    await shop.get_by_test_id("buy-now").click()

    # then the address is asked for the first time
    form = page.get_by_test_id("address-form")
    await expect(form).to_be_visible()
    await fill_address(form)
    await form.get_by_test_id("address-save").click()

    # and the order awaits payment, its units held
    order_box = page.get_by_test_id("shop-order")
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(order_box).to_contain_text(f"1 {TIMES} Linen shirt — Blue / L")
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 3 left")
    order_id = int(await order_box.get_attribute("data-order-id") or 0)
    await dialog.get_by_role("button", name="Close").click()

    # when they pay on the sandbox gateway's page
    await pay_in_sandbox(page, order_box.get_by_test_id("shop-pay"), f"/videos/{replay_id}")

    # then they are back on the replay, which shows the order confirmed
    await expect_confirmed(page, order_box,
                           re.compile(rf"Order #{order_id} confirmed · .*29\.00 paid"))
    await screenshot(page, "video-order-confirmed")

    # and their orders page says it was bought from the replay, linking back to it
    card = await newest_order_card(page)
    await expect(card).to_have_attribute("data-order-id", str(order_id))
    await expect(card).to_have_attribute("data-status", "paid")
    source = card.get_by_test_id("order-source")
    await expect(source).to_have_attribute("data-kind", "replay")
    await expect(source).to_have_text("Bought from a replay")
    await expect(source.locator("a")).to_have_attribute("href", f"/videos/{replay_id}")
    await screenshot(page, "video-order-on-orders-page")

    # and the order is the replay's, in the replay's room
    order = await api.call("GET", f"/api/orders/{order_id}", viewer)
    assert order["source"] == {"kind": "replay", "id": replay_id}
    assert (order["status"], order["room_id"], order["amount_minor"]) == (
        "paid", show.room["id"], 2900)
    async with services.db.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None and (row.source_kind, row.source_id) == ("replay", replay_id)
