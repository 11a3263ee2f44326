"""Buying at the regular price: variants and their stock, a buy in a live room, payment,
cancel, expiry, refund, the cart's checkout, the shipping address and the buyer's orders."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, update

from analytics import actions as analytics_actions
from core.context import Services
from orders import order_moves, regular, variant_stock, variants
from orders.models import Order, OrderEvent
from tests.conftest import TestUser
from tests.orders.regular_helpers import (
    ADDRESS,
    Shop,
    buy,
    checkout,
    counts,
    deliver,
    expire_holds_past_payment_grace,
    fill_cart,
    open_shop,
    order_status,
    pay,
    payment_and_commission,
    queue_payment,
    snapshot,
    with_address,
)


async def test_a_host_defines_sizes_and_colours_each_with_its_stock_and_price(
        client, shop: Shop, services: Services):
    # given a shirt in sizes and colours, one of them dearer

    # when anyone reads its variants
    response = await client.get(f"/api/products/{shop.shirt['id']}/variants")

    # then each variant has its stock left and its price (its own, else the product's)
    assert response.status_code == 200
    body = response.json()
    assert body["options"] == [{"name": "colour", "values": ["Blue", "Red"]},
                               {"name": "size", "values": ["S", "M"]}]
    by_options = {(v["options"]["size"], v["options"]["colour"]): v for v in body["variants"]}
    assert by_options[("S", "Blue")]["remaining"] == 5
    assert by_options[("S", "Blue")]["price_minor"] == 2500
    assert by_options[("M", "Blue")]["price_minor"] == 2900
    assert by_options[("M", "Red")]["remaining"] == 0
    # and a product without options has one default variant
    mug = (await client.get(f"/api/products/{shop.mug['id']}/variants")).json()
    assert [v["options"] for v in mug["variants"]] == [{}]
    assert mug["variants"][0]["remaining"] == 10
    for variant in body["variants"] + mug["variants"]:
        assert (await variants.check_variant(services, variant["id"])).ok


@pytest.mark.redis6
async def test_a_buy_holds_units_and_its_payment_sells_them_with_a_commission(
        client, shop: Shop, buyer: TestUser, services: Services):
    # given a buyer with an address in a live room
    variant_id = shop.variant("M", "Blue")

    # when they buy two of a size and colour
    response = await buy(client, buyer, shop.room["id"], variant_id, 2)

    # then an order awaits payment at the variant's price, with its line and the address
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["kind"] == "regular" and order["sale_id"] is None
    assert order["status"] == "pending_payment"
    assert order["amount_minor"] == 5800 and order["currency"] == "CNY"
    assert [(line["variant_id"], line["quantity"], line["unit_price_minor"])
            for line in order["lines"]] == [(variant_id, 2, 2900)]
    assert order["lines"][0]["options"] == {"size": "M", "colour": "Blue"}
    assert order["shipping_address"] == ADDRESS
    assert order["payment_url"]
    assert await counts(services, variant_id) == (1, 2, 0)

    # when they pay
    assert await pay(client, services, order["id"]) == "paid"

    # then the units are sold, the host's commission accrued, and the host sees the address
    assert await counts(services, variant_id) == (1, 0, 2)
    _, entry = await payment_and_commission(services, order["id"])
    assert entry.host_id == shop.host.id and entry.base_minor == 5800
    host_orders = (await client.get("/api/host/orders", headers=shop.host.headers)).json()
    assert [(o["id"], o["status"], o["shipping_address"]) for o in host_orders["orders"]] == [
        (order["id"], "paid", ADDRESS)]
    # and the host completes it like a flash-sale order
    done = await client.post(f"/api/orders/{order['id']}/complete", headers=shop.host.headers)
    assert done.status_code == 200 and done.json()["status"] == "completed"


async def test_a_repeat_of_the_key_returns_the_first_order_and_holds_nothing_more(
        client, shop: Shop, buyer: TestUser, services: Services):
    variant_id = shop.variant("S", "Blue")
    first = await buy(client, buyer, shop.room["id"], variant_id, 1, key="press-1")
    again = await buy(client, buyer, shop.room["id"], variant_id, 3, key="press-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert await counts(services, variant_id) == (4, 1, 0)


@pytest.mark.redis6
async def test_cancel_and_expiry_give_every_unit_back_once(
        client, shop: Shop, buyer: TestUser, services: Services):
    room_id = shop.room["id"]
    shirt = shop.variant("S", "Blue")
    mug = shop.mug_variant["id"]
    cancelled = (await buy(client, buyer, room_id, shirt, 2)).json()["order"]
    expiring = (await buy(client, buyer, room_id, mug, 3)).json()["order"]
    assert await counts(services, shirt) == (3, 2, 0)
    assert await counts(services, mug) == (7, 3, 0)

    # when the buyer cancels one, and the other's hold runs out (swept twice over)
    response = await client.post(f"/api/orders/{cancelled['id']}/cancel", headers=buyer.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = await client.post(f"/api/orders/{cancelled['id']}/cancel", headers=buyer.headers)
    assert again.status_code == 409
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == expiring["id"])
                              .values(hold_expires_at=func.now()))
    first, second = (await order_moves.expire_due_orders(services),
                     await order_moves.expire_due_orders(services))

    # then each order's units went back exactly once
    assert first == [expiring["id"]] and second == []
    assert await counts(services, shirt) == (5, 0, 0)
    assert await counts(services, mug) == (10, 0, 0)


async def test_a_refund_puts_the_sold_units_back_on_sale(
        client, shop: Shop, buyer: TestUser, make_user, services: Services):
    ops = await make_user("ops")
    variant_id = shop.variant("S", "Red")
    order = (await buy(client, buyer, shop.room["id"], variant_id, 2)).json()["order"]
    assert await pay(client, services, order["id"]) == "paid"
    assert await counts(services, variant_id) == (0, 0, 2)

    # when the buyer asks for a refund (once), and ops refund it
    asked = await client.post(f"/api/orders/{order['id']}/refund-request", headers=buyer.headers)
    assert asked.status_code == 200, asked.text
    twice = await client.post(f"/api/orders/{order['id']}/refund-request", headers=buyer.headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "refund_already_requested"
    refunded = await client.post(f"/api/orders/{order['id']}/refund", headers=ops.headers)
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"

    # then the units are available again and the commission is void
    assert await counts(services, variant_id) == (2, 0, 0)
    _, entry = await payment_and_commission(services, order["id"])
    assert entry.status == "void"


async def test_a_payment_after_expiry_takes_the_units_again_only_if_every_line_has_them(
        client, shop: Shop, make_user, services: Services):
    late, quick = (await with_address(client, await make_user()),
                   await with_address(client, await make_user()))
    variant_id = shop.variant("S", "Red")  # two units
    order = (await buy(client, late, shop.room["id"], variant_id, 2)).json()["order"]
    event = await queue_payment(services, order["id"])
    # the payment is slow: past its in-flight grace, the hold expires like any other
    await expire_holds_past_payment_grace(services)
    assert await order_moves.expire_due_orders(services) == [order["id"]]
    # another buyer takes one of the two units meanwhile
    assert (await buy(client, quick, shop.room["id"], variant_id, 1)).status_code == 201

    # when the late payment lands, it cannot have both units: refunded, order stays expired
    assert await deliver(client, services, event) == "refunded_after_expiry"
    assert await counts(services, variant_id) == (1, 1, 0)
    assert await order_status(services, order["id"]) == "expired"


async def test_the_cart_checks_out_several_products_in_one_order_and_one_payment(
        client, shop: Shop, buyer: TestUser, services: Services):
    room_id = shop.room["id"]
    shirt, mug = shop.variant("M", "Blue"), shop.mug_variant["id"]
    headers = buyer.headers

    # when the buyer adds two products, changes a quantity and removes a line
    for variant_id, quantity in ((shirt, 1), (mug, 2), (shop.variant("S", "Red"), 1),
                                 (mug, 4), (shop.variant("S", "Red"), 0)):
        response = await client.put(f"/api/rooms/{room_id}/cart/{variant_id}",
                                    json={"quantity": quantity}, headers=headers)
        assert response.status_code == 200, response.text
    cart = response.json()
    assert [(line["variant_id"], line["quantity"]) for line in cart["lines"]] == sorted(
        [(shirt, 1), (mug, 4)])
    assert cart["total_minor"] == 2900 + 4 * 800 and cart["currency"] == "CNY"
    assert await counts(services, mug) == (10, 0, 0)  # a cart holds nothing

    # and checks out
    response = await checkout(client, buyer, room_id, "cart-1")

    # then one order covers both lines, both are held, and the cart is empty
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["amount_minor"] == 2900 + 3200 and order["quantity"] == 5
    assert sorted((line["variant_id"], line["quantity"]) for line in order["lines"]) == sorted(
        [(shirt, 1), (mug, 4)])
    assert await counts(services, shirt) == (2, 1, 0)
    assert await counts(services, mug) == (6, 4, 0)
    assert (await client.get(f"/api/rooms/{room_id}/cart", headers=headers)).json()["lines"] == []
    replay = await checkout(client, buyer, room_id, "cart-1")
    assert replay.json()["order"]["id"] == order["id"]

    # when it is paid once, every line is sold
    assert await pay(client, services, order["id"]) == "paid"
    assert await counts(services, shirt) == (2, 0, 1)
    assert await counts(services, mug) == (6, 0, 4)


async def test_a_cart_line_out_of_stock_refuses_the_whole_checkout_naming_the_line(
        client, make_user, make_product, make_room, services: Services):
    shop = await open_shop(client, make_user, make_product, make_room, mug_stock=3)
    buyer, rival = (await with_address(client, await make_user()),
                    await with_address(client, await make_user()))
    room_id = shop.room["id"]
    shirt, mug = shop.variant("S", "Blue"), shop.mug_variant["id"]
    await fill_cart(client, buyer, room_id, [(shirt, 2), (mug, 3)])
    # a rival buys a mug first: the cart's second line can no longer be had
    assert (await buy(client, rival, room_id, mug, 1)).status_code == 201
    before = await snapshot(services, [shirt, mug])

    response = await checkout(client, buyer, room_id, "cart")

    assert response.status_code == 409, response.text
    body = response.json()["error"]
    line = sorted([shirt, mug]).index(mug)
    assert body["code"] == "sold_out" and body["field"] == f"lines[{line}].quantity"
    assert body["variant_id"] == mug and body["remaining"] == 2
    assert await snapshot(services, [shirt, mug]) == before
    # the cart is kept, so the buyer can lower the quantity and try again
    assert len((await client.get(f"/api/rooms/{room_id}/cart",
                                 headers=buyer.headers)).json()["lines"]) == 2


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
        client, shop: Shop, buyer: TestUser, make_user, make_product, make_room, services: Services):
    homeless = await make_user()
    room_id = shop.room["id"]
    shirt = shop.variant("S", "Blue")
    outsider = await make_product(shop.host, title="Not shown tonight", currency="CNY")
    outsider_variant = (await client.put(f"/api/products/{outsider['id']}/variants",
                                         json={"variants": [{"stock": 5}]},
                                         headers=shop.host.headers)).json()["variants"][0]["id"]
    ended = await make_room(shop.host, products=[shop.shirt])  # scheduled, not live
    ids = [shirt, outsider_variant]
    before = await snapshot(services, ids)

    cases = [
        (buyer, room_id, {"variant_id": 999_999, "quantity": 1}, 404, "variant_id"),
        (buyer, room_id, {"variant_id": shirt, "quantity": 0}, 422, "quantity"),
        (buyer, room_id, {"variant_id": shirt, "quantity": 11}, 422, "quantity"),
        (buyer, room_id, {"variant_id": shirt, "quantity": 6}, 409, "quantity"),
        (buyer, room_id, {"variant_id": outsider_variant, "quantity": 1}, 422, "variant_id"),
        (buyer, ended["id"], {"variant_id": shirt, "quantity": 1}, 409, "room_id"),
        (buyer, room_id, {"variant_id": shirt, "quantity": 1, "colour": "Blue"}, 422, "colour"),
        (homeless, room_id, {"variant_id": shirt, "quantity": 1}, 422, "shipping_address"),
    ]
    for user, room, body, status, field in cases:
        response = await client.post(f"/api/rooms/{room}/buy", json=body,
                                     headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.text)
    missing_key = await client.post(f"/api/rooms/{room_id}/buy",
                                    json={"variant_id": shirt}, headers=buyer.headers)
    assert missing_key.status_code == 400 and missing_key.json()["error"]["field"] == "Idempotency-Key"
    # an address missing a field is refused and the old one kept
    bad = await client.put("/api/account/address", json={**ADDRESS, "city": ""},
                           headers=buyer.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "city"
    kept = await client.get("/api/account/address", headers=buyer.headers)
    assert kept.json()["shipping_address"] == ADDRESS
    # a cart line of a product not in the lineup, or of an unknown variant
    for variant_id, status in ((outsider_variant, 422), (999_999, 404)):
        response = await client.put(f"/api/rooms/{room_id}/cart/{variant_id}",
                                    json={"quantity": 1}, headers=buyer.headers)
        assert response.status_code == status and response.json()["error"]["field"] == "variant_id"
    empty = await checkout(client, buyer, room_id, "empty")
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "lines"

    assert await snapshot(services, ids) == before


async def test_a_variant_stock_cannot_go_below_what_its_orders_hold_or_sold(
        client, shop: Shop, buyer: TestUser, make_user, services: Services):
    mug = shop.mug_variant["id"]
    await buy(client, buyer, shop.room["id"], mug, 4)
    lower = await client.put(f"/api/products/{shop.mug['id']}/variants",
                             json={"variants": [{"stock": 3}]}, headers=shop.host.headers)
    assert lower.status_code == 409 and lower.json()["error"]["field"] == "variants[0].stock"
    raised = await client.put(f"/api/products/{shop.mug['id']}/variants",
                              json={"variants": [{"stock": 25}]}, headers=shop.host.headers)
    assert raised.status_code == 200
    assert await counts(services, mug) == (21, 4, 0)
    stranger = await make_user("host")
    refused = await client.put(f"/api/products/{shop.mug['id']}/variants",
                               json={"variants": [{"stock": 1}]}, headers=stranger.headers)
    assert refused.status_code == 403


@pytest.mark.redis6
async def test_lost_redis_counters_are_rebuilt_from_postgresql(
        client, shop: Shop, buyer: TestUser, services: Services):
    shirt = shop.variant("S", "Blue")
    paid = (await buy(client, buyer, shop.room["id"], shirt, 2)).json()["order"]
    await pay(client, services, paid["id"])
    await buy(client, buyer, shop.room["id"], shirt, 1)
    keys = [key async for key in services.redis.scan_iter(match=f"{services.keys.prefix}vstock*")]
    await services.redis.delete(*keys)

    # the next buy finds the keys missing, rebuilds them, and holds against the true counts
    assert (await buy(client, buyer, shop.room["id"], shirt, 2)).status_code == 201
    assert await counts(services, shirt) == (0, 3, 2)


async def test_a_hold_whose_order_was_never_written_is_released_by_the_sweep(
        client, shop: Shop, buyer: TestUser, services: Services):
    # given a hold made by a process that died before its order's commit
    mug = shop.mug_variant["id"]
    await counts(services, mug)
    held = await variant_stock.hold(services.redis, services.keys, shop.host.id, 987_654, 1,
                                    [variant_stock.Line(mug, 3)], write_deadline_ms=0)
    assert held.code == variant_stock.HELD
    # and a committed order, whose entry the sweep must leave alone
    order = (await buy(client, buyer, shop.room["id"], mug, 1)).json()["order"]

    released = await regular.release_unwritten_orders(services)
    again = await regular.release_unwritten_orders(services)

    assert released == [987_654] and again == []
    check = await variants.check_variant(services, mug)
    assert check.ok, check.problems
    assert check.redis is not None and (check.redis.available, check.redis.held) == (9, 1)
    assert await order_status(services, order["id"]) == "pending_payment"


async def test_the_buyers_orders_list_filters_by_status_with_items_and_history(
        client, shop: Shop, buyer: TestUser, services: Services):
    room_id = shop.room["id"]
    paid = (await buy(client, buyer, room_id, shop.variant("S", "Blue"))).json()["order"]
    await pay(client, services, paid["id"])
    unpaid = (await buy(client, buyer, room_id, shop.mug_variant["id"])).json()["order"]

    everything = (await client.get("/api/orders", headers=buyer.headers)).json()["orders"]
    only_paid = (await client.get("/api/orders?status=paid", headers=buyer.headers)).json()
    wrong = await client.get("/api/orders?status=lost", headers=buyer.headers)

    assert [o["id"] for o in everything] == [unpaid["id"], paid["id"]]
    assert [o["id"] for o in only_paid["orders"]] == [paid["id"]]
    assert only_paid["orders"][0]["lines"][0]["title"] == "Linen shirt — Blue / S"
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "status"
    history = (await client.get(f"/api/orders/{paid['id']}/events", headers=buyer.headers)).json()
    assert [e["type"] for e in history["events"]] == ["order_placed", "order_paid"]
    async with services.db.session() as session:
        placed = await session.scalar(select(OrderEvent.data).where(
            OrderEvent.order_id == paid["id"], OrderEvent.type == "order_placed"))
    assert placed is not None and placed["lines"][0]["quantity"] == 1


async def test_the_broadcast_report_counts_a_cart_once_and_each_product_its_line(
        client, shop: Shop, buyer: TestUser, services: Services):
    # given a paid cart of two products and a paid single buy in one show
    room_id = shop.room["id"]
    shirt, mug = shop.variant("M", "Blue"), shop.mug_variant["id"]
    await fill_cart(client, buyer, room_id, [(shirt, 1), (mug, 2)])
    cart = (await checkout(client, buyer, room_id)).json()["order"]
    single = (await buy(client, buyer, room_id, mug, 1)).json()["order"]
    for order in (cart, single):
        assert await pay(client, services, order["id"]) == "paid"

    # when the report is computed
    report = await analytics_actions.compute(services, room_id)

    # then the cart is one paid order, and each product has its own units and GMV
    assert report["summary"]["paid_orders"] == 2
    assert report["summary"]["gmv_minor"] == 2900 + 1600 + 800
    rows = {row["product_id"]: row for row in report["products"]}
    assert (rows[shop.shirt["id"]]["units_sold"], rows[shop.shirt["id"]]["gmv_minor"]) == (1, 2900)
    assert (rows[shop.mug["id"]]["units_sold"], rows[shop.mug["id"]]["gmv_minor"]) == (3, 2400)
    assert rows[shop.mug["id"]]["paid_orders"] == 2
    assert sum(row["paid_orders"] for row in report["timeline"]) == 2


async def test_a_late_payment_for_a_cart_takes_every_lines_units_again_while_they_are_free(
        client, shop: Shop, buyer: TestUser, services: Services):
    # given a cart order of two lines whose hold ran out while its payment was on its way
    room_id = shop.room["id"]
    shirt, mug = shop.variant("S", "Blue"), shop.mug_variant["id"]
    await fill_cart(client, buyer, room_id, [(shirt, 2), (mug, 3)])
    order = (await checkout(client, buyer, room_id)).json()["order"]
    event = await queue_payment(services, order["id"])
    await expire_holds_past_payment_grace(services)
    assert await order_moves.expire_due_orders(services) == [order["id"]]
    assert await counts(services, shirt) == (5, 0, 0)

    # when the payment lands, every line's units are still free: taken again and sold
    assert await deliver(client, services, event) == "paid_after_expiry"
    assert await counts(services, shirt) == (3, 0, 2)
    assert await counts(services, mug) == (7, 0, 3)
    assert await order_status(services, order["id"]) == "paid"


async def test_a_cart_line_whose_product_left_the_lineup_refuses_the_checkout_naming_it(
        client, shop: Shop, buyer: TestUser, services: Services):
    room_id = shop.room["id"]
    shirt, mug = shop.variant("S", "Blue"), shop.mug_variant["id"]
    await fill_cart(client, buyer, room_id, [(shirt, 1), (mug, 1)])
    # the host takes the mug out of the show
    response = await client.put(f"/api/rooms/{room_id}/lineup",
                                json={"product_ids": [shop.shirt["id"]]}, headers=shop.host.headers)
    assert response.status_code == 200
    before = await snapshot(services, [shirt, mug])

    refused = await checkout(client, buyer, room_id)

    assert refused.status_code == 422
    line = sorted([shirt, mug]).index(mug)
    assert refused.json()["error"]["field"] == f"lines[{line}].variant_id"
    assert await snapshot(services, [shirt, mug]) == before


async def test_a_variant_left_out_by_the_host_can_no_longer_be_bought(
        client, shop: Shop, buyer: TestUser, services: Services):
    red_small = shop.variant("S", "Red")
    fewer = {"options": [{"name": "size", "values": ["S"]}, {"name": "colour", "values": ["Blue"]}],
             "variants": [{"options": {"size": "S", "colour": "Blue"}, "stock": 5}]}
    response = await client.put(f"/api/products/{shop.shirt['id']}/variants", json=fewer,
                                headers=shop.host.headers)
    assert response.status_code == 200
    assert [v["label"] for v in response.json()["variants"]] == ["Blue / S"]

    refused = await buy(client, buyer, shop.room["id"], red_small)

    assert refused.status_code == 404 and refused.json()["error"]["field"] == "variant_id"
    assert (await buy(client, buyer, shop.room["id"], shop.variant("S", "Blue"))).status_code == 201


async def test_two_presses_with_one_key_at_once_make_one_order_and_hold_once(
        client, make_user, make_product, make_room, services: Services):
    # (each press holds its units until its insert meets the first press's order; here the
    # stock covers them all)
    shop = await open_shop(client, make_user, make_product, make_room, mug_stock=20)
    buyer = await with_address(client, await make_user())
    mug = shop.mug_variant["id"]

    replies = await asyncio.gather(*(buy(client, buyer, shop.room["id"], mug, 2, key="same")
                                     for _ in range(6)))

    assert {r.status_code for r in replies} == {201}
    assert len({r.json()["order"]["id"] for r in replies}) == 1
    # the presses that lost the race gave back what they held: only one order's units are out
    assert await counts(services, mug) == (18, 2, 0)
