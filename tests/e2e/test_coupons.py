"""Coupons in the browser: the host drops a coupon from the host panel, the viewer sees it
arrive in the room live, claims it in one tap, buys the pinned product with it at the
discounted price and pays on the sandbox gateway's page (the webhook delivered by a real
Celery worker); then claims a second one and uses it at a flash sale's Buy."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, expect

from tests.e2e.buying import expect_confirmed
from tests.e2e.conftest import ADDRESS, Api, Pages, screenshot
from tests.e2e.test_flash_sale import start_sale

pytestmark = pytest.mark.browser


async def buy_with_the_offered_coupon(slot: Locator, coupon: str, buy: str) -> None:
    """The slot's coupon choice offers a claimed coupon; its Buy button is pressed with it."""
    await expect(slot.get_by_test_id(coupon)).to_have_value(re.compile(r"\d+"))
    await slot.get_by_test_id(buy).click()


async def expect_held_with_coupon(order: Locator, price: str, discount: Locator, off: str,
                                  coupon: Locator) -> None:
    """The order awaits payment at the price, the coupon's amount off shown and the coupon's
    card marked used."""
    await expect(order).to_have_attribute("data-status", "pending_payment")
    await expect(order).to_contain_text(price)
    await expect(discount).to_contain_text(off)
    await expect(coupon.get_by_test_id("coupon-claimed")).to_have_text("Used")


async def test_a_host_drops_a_coupon_a_viewer_claims_it_and_pays_the_discounted_price(
        api: Api, pages: Pages, webhook_worker) -> None:
    # given a live show with a pinned mug at 25.00, and a viewer with an address watching it
    show = await api.show({"title": "Tea mug", "price_minor": 2500, "currency": "CNY"},
                          variants=[{"variants": [{"stock": 5}]}], pin=True, title="Tea time")
    viewer = await api.viewer(address=ADDRESS)
    watch = await pages.watch(show, viewer)
    coupons = watch.get_by_test_id("coupons")
    await expect(coupons).to_be_hidden()

    # when the host drops 5.00 off orders of 20.00 or more, three copies, from the panel
    panel = await pages.panel(show)
    form = panel.get_by_test_id("coupon-form")
    await form.get_by_test_id("coupon-amount_off_minor").fill("5.00")
    await form.get_by_test_id("coupon-min_spend_minor").fill("20.00")
    await form.get_by_test_id("coupon-quantity").fill("3")
    await form.get_by_test_id("drop-coupon").click()
    await expect(panel.get_by_test_id("host-coupons").get_by_test_id("coupon")).to_have_count(1)
    await screenshot(panel, "coupon-host-dropped")

    # then the viewer's room shows the coupon, live, with its terms and the copies left
    card = coupons.get_by_test_id("coupon")
    await expect(card).to_have_count(1)
    await expect(card.get_by_test_id("coupon-terms")).to_contain_text("5.00 off")
    await expect(card.get_by_test_id("coupon-terms")).to_contain_text("20.00 or more")
    await expect(card.get_by_test_id("coupon-left")).to_have_text("3 left")

    # when they claim it in one tap
    await card.get_by_test_id("coupon-claim").click()

    # then it is theirs, and the host's card sees one copy fewer
    await expect(card.get_by_test_id("coupon-claimed")).to_have_text("Claimed")
    await expect(panel.get_by_test_id("host-coupons").get_by_test_id("coupon-left")).to_have_text("2 left")
    await screenshot(watch, "coupon-claimed")

    # when they buy the pinned mug with the coupon (offered beside Buy now)
    shop = watch.get_by_test_id("shop-slot")
    await buy_with_the_offered_coupon(shop, "shop-coupon", "buy-now")

    # then the order is 20.00, the coupon's 5.00 taken off, and the coupon shows used
    order_box = watch.get_by_test_id("shop-order")
    await expect_held_with_coupon(order_box, "20.00", order_box.get_by_test_id("shop-discount"),
                                  "5.00", card)
    await expect(shop.get_by_test_id("shop-coupon")).to_have_count(0)
    await screenshot(watch, "coupon-order-held")

    # when they pay on the sandbox gateway's page and come back to the show
    await order_box.get_by_test_id("shop-pay").click()
    await watch.wait_for_url(re.compile(r"/sandbox/pay/\d+\?sig="))
    await expect(watch.locator("body")).to_contain_text("20.00")
    await watch.get_by_role("button", name="Pay", exact=True).click()
    await watch.wait_for_url(re.compile(rf"{show.path}$"))

    # then the room shows the order confirmed at the discounted price
    await expect_confirmed(watch, order_box, re.compile(r"Order #\d+ confirmed · .*20\.00 paid"))
    await screenshot(watch, "coupon-paid")

    # when the host drops a second coupon (3.00 off), the viewer claims it, and a flash sale of
    # the mug at 22.00 starts
    second = await api.call("POST", f"/api/rooms/{show.room['id']}/coupons", show.host, json={
        "kind": "amount", "amount_off_minor": 300, "currency": "CNY", "quantity": 3,
        "valid_seconds": 3600})
    second_card = coupons.locator(f"[data-coupon-id='{second['id']}']")
    await second_card.get_by_test_id("coupon-claim").click()
    await expect(second_card.get_by_test_id("coupon-claimed")).to_have_text("Claimed")
    await start_sale(api, show.host, show.room, show.products[0], price_minor=2200, quantity=2)

    # then the sale's Buy offers the coupon, and one tap reserves the unit at 19.00
    sale = watch.get_by_test_id("sale")
    await buy_with_the_offered_coupon(sale, "sale-coupon", "sale-buy")
    sale_order = sale.get_by_test_id("sale-order")
    await expect_held_with_coupon(sale_order, "19.00", sale_order.get_by_test_id("sale-discount"),
                                  "3.00", second_card)
    await screenshot(watch, "coupon-flash-sale-held")
