"""Buying at the regular price in the browser: a viewer picks a size and colour on the pinned
product, gives an address, buys, pays on the sandbox gateway's page (the webhook delivered by a
real Celery worker), sees the order confirmed in the room and finds it on their orders page;
then adds two products to the cart and checks out once."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import expect

from tests.e2e.buying import expect_confirmed, fill_address, newest_order_card
from tests.e2e.conftest import (
    ADDRESS,
    PAYMENT_TIMEOUT_MS,
    Api,
    Pages,
    connected,
    pay_in_sandbox,
    screenshot,
)

pytestmark = pytest.mark.browser

SIZES_AND_COLOURS = {
    "options": [{"name": "size", "values": ["S", "M", "L"]},
                {"name": "colour", "values": ["Blue", "Red"]}],
    "variants": [
        {"options": {"size": size, "colour": colour}, "stock": 0 if (size, colour) == ("L", "Red") else 4,
         **({"price_minor": 2900} if size == "L" else {})}
        for size in ("S", "M", "L") for colour in ("Blue", "Red")],
}
# The pages write the units and the title with a multiplication sign between them.
TIMES = "\u00d7"
SHIRT = {"title": "Linen shirt", "price_minor": 2500, "currency": "CNY"}


async def test_a_viewer_picks_a_size_and_colour_buys_pays_and_finds_the_order(
        api: Api, pages: Pages, webhook_worker) -> None:
    # given a live show whose pinned shirt comes in sizes and colours, and a mug in the lineup
    show = await api.show(SHIRT, {"title": "Tea mug", "price_minor": 800, "currency": "CNY"},
                          variants=[SIZES_AND_COLOURS, {"variants": [{"stock": 12}]}], pin=True,
                          title="Summer linen")
    watch = await pages.watch(show, await api.viewer())
    room = show.room
    defined = await api.call("GET", f"/api/products/{show.products[0]['id']}/variants", show.host)
    blue_l = next(v["id"] for v in defined["variants"]
                  if v["options"] == {"size": "L", "colour": "Blue"})
    shop = watch.get_by_test_id("shop-slot")

    # when they pick a size and a colour
    await expect(shop.get_by_test_id("buy-now")).to_be_disabled()
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Choose colour and size.")
    await shop.get_by_test_id("option-size").get_by_role("button", name="L").click()
    await shop.get_by_test_id("option-colour").get_by_role("button", name="Blue").click()

    # then the variant's own price and its stock show, and Buy now is open
    await expect(shop.get_by_test_id("shop-price")).to_have_text(re.compile(r"29\.00"))
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 4 left")
    await expect(shop.get_by_test_id("buy-now")).to_be_enabled()
    await screenshot(watch, "regular-variant-picked")

    # when they buy two and give their address the first time
    await shop.get_by_test_id("shop-quantity").fill("2")
    await shop.get_by_test_id("buy-now").click()
    form = watch.get_by_test_id("address-form")
    await expect(form).to_be_visible()
    await form.locator("[name=name]").fill(ADDRESS["name"])
    await form.locator("[name=line1]").fill(ADDRESS["line1"])
    await form.locator("[name=city]").fill(ADDRESS["city"])
    await form.locator("[name=postal_code]").fill(ADDRESS["postal_code"])
    await form.locator("[name=country]").fill("C")
    await form.locator("[name=phone]").fill(ADDRESS["phone"])
    await form.get_by_test_id("address-save").click()
    # a country code of one letter is refused under its field, and nothing is ordered
    await expect(form.locator("[data-error-for=country]")).not_to_be_empty()
    await form.locator("[name=country]").fill(ADDRESS["country"])
    await form.get_by_test_id("address-save").click()

    # then the order awaits payment with its size and colour, and the stock left went down
    order_box = watch.get_by_test_id("shop-order")
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(order_box).to_contain_text(f"2 {TIMES} Linen shirt — Blue / L")
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 2 left")
    await screenshot(watch, "regular-held")
    # and when another viewer buys one more, the card and the pinned stock follow, no reload
    # (the room's `variant_stock` news): 20 units of the shirt, 3 of them held now
    other = await api.signup("Bo")
    await api.call("PUT", "/api/account/address", other, json=ADDRESS)
    bought = await api.http.post(f"/api/rooms/{room['id']}/buy",
                                 json={"variant_id": blue_l, "quantity": 1},
                                 headers={**other.headers, "Idempotency-Key": "bo-1"})
    assert bought.status_code == 201, bought.text
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 1 left")
    await expect(watch.get_by_test_id("pinned-stock")).to_have_text("17 in stock")

    # when they pay on the sandbox gateway's page and come back to the show
    await pay_in_sandbox(watch, order_box.get_by_test_id("shop-pay"), show.path)

    # then the room shows the order confirmed
    await expect_confirmed(watch, order_box, re.compile(r"Order #\d+ confirmed · .*58\.00 paid"))
    await screenshot(watch, "regular-confirmed")

    # and their orders page lists it with its item, variant, price, address and history
    card = await newest_order_card(watch)
    await expect(card).to_have_attribute("data-status", "paid")
    await expect(card.get_by_test_id("order-line")).to_contain_text(f"2 {TIMES} Linen shirt — Blue / L")
    await expect(card).to_contain_text("58.00")
    await expect(card).to_contain_text("Ships to Li Wei, 88 Nanjing Road")
    await card.get_by_test_id("order-history").locator("summary").click()
    await expect(card.get_by_test_id("order-history").locator("li")).to_have_count(2)
    await screenshot(watch, "regular-orders-page")

    # when they go back, add the shirt in another size and two mugs to the cart, and check out
    await watch.goto(pages.server.url + show.path)
    await connected(watch)
    await shop.get_by_test_id("option-size").get_by_role("button", name="S").click()
    await shop.get_by_test_id("option-colour").get_by_role("button", name="Red").click()
    await shop.get_by_test_id("add-to-cart").click()
    await expect(watch.get_by_test_id("cart-count")).to_have_text("1")
    await watch.get_by_test_id("viewer-lineup").get_by_role("button", name="Tea mug: details").click()
    dialog_shop = watch.get_by_test_id("dialog-shop")
    await expect(dialog_shop.get_by_test_id("shop-status")).to_have_text("12 in stock")
    await dialog_shop.get_by_test_id("shop-quantity").fill("2")
    await dialog_shop.get_by_test_id("add-to-cart").click()
    await expect(watch.get_by_test_id("cart-count")).to_have_text("3")
    await watch.get_by_test_id("product-dialog").get_by_role("button", name="Close").click()
    await watch.get_by_test_id("cart-button").click()
    cart = watch.get_by_test_id("cart-dialog")
    await expect(cart.get_by_test_id("cart-line")).to_have_count(2)
    await expect(cart.get_by_test_id("cart-total")).to_have_text(re.compile(r"41\.00"))
    await screenshot(watch, "regular-cart")
    await cart.get_by_test_id("checkout").click()

    # then one order holds both lines, awaiting one payment
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(order_box).to_contain_text(f"1 {TIMES} Linen shirt — Red / S")
    await expect(order_box).to_contain_text(f"2 {TIMES} Tea mug")
    await expect(order_box).to_contain_text("41.00")
    await expect(watch.get_by_test_id("cart-count")).to_have_text("0")
    await pay_in_sandbox(watch, order_box.get_by_test_id("shop-pay"), show.path)
    await expect(order_box).to_have_attribute("data-status", "paid", timeout=PAYMENT_TIMEOUT_MS)

    # and the orders page filtered to paid shows both orders
    await watch.goto(f"{pages.server.url}/orders?status=paid")
    await expect(watch.get_by_test_id("order-card")).to_have_count(2)
    await watch.get_by_test_id("status-filter").select_option("pending_payment")
    await expect(watch.get_by_test_id("orders-empty")).to_be_visible()


async def test_the_host_defines_sizes_and_colours_and_ships_an_order_to_its_address(
        api: Api, pages: Pages, webhook_worker) -> None:
    # given a host with a shirt in a live show
    show = await api.show(SHIRT, title="Summer linen")
    shirt = show.products[0]
    panel = await pages.open("/host", show.host)

    # when they give the shirt two sizes and two colours, with stock and a dearer size
    await panel.locator(f"[data-product-id='{shirt['id']}']").get_by_test_id("edit-variants").click()
    dialog = panel.get_by_test_id("variants-dialog")
    first = dialog.get_by_test_id("variant-option").first
    await first.locator("[name=option-name]").fill("size")
    await first.locator("[name=option-values]").fill("S, M")
    await dialog.get_by_role("button", name="Add an option").click()
    second = dialog.get_by_test_id("variant-option").nth(1)
    await second.locator("[name=option-name]").fill("colour")
    await second.locator("[name=option-values]").fill("Blue, Red")
    rows = dialog.get_by_test_id("variant-row")
    await expect(rows).to_have_count(4)
    for label, stock in (("Blue / S", "3"), ("Blue / M", "2"), ("Red / S", "1"), ("Red / M", "0")):
        await dialog.locator(f"[data-label='{label}'] [name=stock]").fill(stock)
    await dialog.locator("[data-label='Blue / M'] [name=price]").fill("29")
    await screenshot(panel, "regular-host-variants")
    await dialog.get_by_test_id("variants-save").click()
    await expect(dialog).to_have_count(0)

    # then the shirt sells in those variants, each with its stock and price
    variants = await api.call("GET", f"/api/products/{shirt['id']}/variants")
    found = {v["label"]: (v["remaining"], v["price_minor"]) for v in variants["variants"]}
    assert found == {"Blue / S": (3, 2500), "Blue / M": (2, 2900), "Red / S": (1, 2500),
                     "Red / M": (0, 2500)}

    # when a viewer buys one and pays
    viewer = await api.viewer(address=ADDRESS)
    variant = next(v for v in variants["variants"] if v["label"] == "Blue / M")
    response = await api.http.post(f"/api/rooms/{show.room['id']}/buy", json={"variant_id": variant["id"]},
                                   headers={**viewer.headers, "Idempotency-Key": "one"})
    assert response.status_code == 201, response.text
    placed = response.json()
    watch = await pages.open(placed["order"]["payment_url"].replace(pages.server.url, ""), viewer)
    await watch.get_by_role("button", name="Pay", exact=True).click()
    await expect(watch.locator(".status")).to_have_attribute("data-status", "submitted")

    # then the host's orders to ship list it, paid, with the buyer's address
    order_id = placed["order"]["id"]
    deadline = time.monotonic() + PAYMENT_TIMEOUT_MS / 1000
    while (await api.call("GET", f"/api/orders/{order_id}", viewer))["status"] != "paid":
        assert time.monotonic() < deadline, "the payment's webhook never came"
        await asyncio.sleep(0.1)
    await panel.reload()
    order = panel.get_by_test_id("host-order")
    await expect(order).to_have_count(1)
    await expect(order).to_have_attribute("data-status", "paid")
    await expect(order.get_by_test_id("host-order-address")).to_contain_text("Li Wei, 88 Nanjing Road")
    await screenshot(panel, "regular-host-orders")

    # when they mark it delivered, it is
    await order.get_by_test_id("host-order-complete").click()
    await expect(order).to_have_attribute("data-status", "completed")


async def test_on_a_phone_the_pinned_sheet_sells_a_size_and_colour_and_fits(
        api: Api, pages: Pages) -> None:
    # given a viewer with an address on a phone, in a show whose pinned shirt has variants
    show = await api.show(SHIRT, variants=[SIZES_AND_COLOURS], pin=True, title="Summer linen")
    phone = await pages.watch(show, await api.viewer(address=ADDRESS), width=390, height=844,
                              has_touch=True)

    # when they tap the pinned card, pick a size and colour in the sheet and buy
    await phone.get_by_test_id("pinned-card").tap()
    shop = phone.get_by_test_id("shop-slot")
    await expect(shop).to_be_visible()
    await shop.get_by_test_id("option-size").get_by_role("button", name="M").tap()
    await shop.get_by_test_id("option-colour").get_by_role("button", name="Red").tap()
    await expect(shop.get_by_test_id("shop-status")).to_have_text("Only 4 left")
    # the sheet fits the phone: nothing scrolls sideways
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(phone, "regular-phone-sheet", full_page=False)
    await shop.get_by_test_id("buy-now").tap()

    # then the order awaits payment, with the variant
    order_box = phone.get_by_test_id("shop-order")
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(order_box).to_contain_text(f"1 {TIMES} Linen shirt — Red / M")
    await expect(order_box.get_by_test_id("shop-pay")).to_be_in_viewport()
    await screenshot(phone, "regular-phone-held", full_page=False)
    # and the banner can be put away
    await order_box.get_by_test_id("shop-order-dismiss").tap()
    await expect(order_box).to_be_hidden()


HAN = re.compile(r"[\u4e00-\u9fff]")


async def test_a_chinese_reader_buys_from_the_cart_and_finds_the_order_in_chinese(
        api: Api, pages: Pages) -> None:
    # given a live show whose pinned shirt has sizes and colours, and a viewer with no address
    # whose browser reads Chinese
    show = await api.show(SHIRT, variants=[SIZES_AND_COLOURS], pin=True, title="Summer linen")
    viewer = await api.viewer()
    watch = await pages.watch(show, viewer, locale="zh-CN")
    shop = watch.get_by_test_id("shop-slot")

    # then the shop speaks Chinese, naming the host's options in the language's list
    await expect(shop.get_by_test_id("buy-now")).to_have_text("立即购买")
    await expect(shop.get_by_test_id("add-to-cart")).to_have_text("加入购物车")
    await expect(shop.get_by_test_id("shop-status")).to_have_text("请选择colour和size。")

    # when they pick a size and colour and add two to the cart
    await shop.get_by_test_id("option-size").get_by_role("button", name="M").click()
    await shop.get_by_test_id("option-colour").get_by_role("button", name="Red").click()
    await expect(shop.get_by_test_id("shop-status")).to_have_text("仅剩 4 件")
    await shop.get_by_test_id("shop-quantity").fill("2")
    await shop.get_by_test_id("add-to-cart").click()
    await expect(watch.get_by_test_id("cart-count")).to_have_text("2")

    # then the cart says its total in Chinese, and a quantity over the limit is refused in it
    await watch.get_by_test_id("cart-button").click()
    cart = watch.get_by_test_id("cart-dialog")
    await expect(cart.locator("#cart-title")).to_have_text("购物车")
    await expect(cart.get_by_test_id("cart-total")).to_have_text("合计 ¥50.00")
    await cart.get_by_test_id("cart-quantity").fill("11")
    await cart.get_by_test_id("cart-quantity").dispatch_event("change")
    await expect(cart.get_by_test_id("cart-message")).to_have_text("数量须在 0 到 10 之间。")
    await screenshot(watch, "regular-zh-cart")

    # when they check out and give their address, first with a country code too short
    await cart.get_by_test_id("checkout").click()
    dialog = watch.get_by_test_id("address-dialog")
    await expect(dialog.locator("#address-title")).to_have_text("请填写收货地址")
    form = dialog.get_by_test_id("address-form")
    await fill_address(form, leave_out=("country",))
    await form.locator("[name=country]").fill("C")
    await form.get_by_test_id("address-save").click()
    await expect(form.locator("[data-error-for=country]")).to_have_text(HAN)
    await form.locator("[name=country]").fill("CN")
    await form.get_by_test_id("address-save").click()

    # then the order waits for payment in Chinese, and cancelled, says so
    order_box = watch.get_by_test_id("shop-order")
    await expect(order_box).to_have_attribute("data-status", "pending_payment")
    await expect(order_box).to_contain_text("请在")
    await expect(order_box.get_by_test_id("shop-pay")).to_have_text("立即付款")
    await order_box.get_by_test_id("shop-cancel").click()
    await expect(watch.get_by_test_id("shop-order-status")).to_have_text(re.compile(r"^订单 #\d+ 已取消。$"))

    # and their orders page, from the top bar, lists it in Chinese with its history
    await watch.get_by_test_id("nav-orders").click()
    await expect(watch.locator("h1")).to_have_text("我的订单")
    card = watch.get_by_test_id("order-card")
    await expect(card.get_by_test_id("order-status")).to_have_text("已取消")
    await expect(card).to_contain_text("寄往\uff1aLi Wei, 88 Nanjing Road")
    await card.get_by_test_id("order-history").locator("summary").click()
    await expect(card.get_by_test_id("order-history").locator("li")).to_have_text(
        [re.compile(r"^已下单 · "), re.compile(r"^已取消 · ")])

    # and the host's variants editor and orders to ship are in Chinese too
    panel = await pages.open("/host", show.host, locale="zh-CN")
    await expect(panel.locator("#host-orders-heading")).to_have_text("待发货订单")
    await expect(panel.locator("#host-orders-empty")).to_have_text("还没有订单。")
    await panel.locator(f"[data-product-id='{show.products[0]['id']}']").get_by_test_id(
        "edit-variants").click()
    editor = panel.get_by_test_id("variants-dialog")
    await expect(editor.locator("h2")).to_have_text("Linen shirt\uff1a规格与库存")
    await expect(editor.get_by_role("button", name="添加规格")).to_be_visible()
