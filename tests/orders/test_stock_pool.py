"""One stock pool per variant (docs/decisions/0021): a flash sale takes its quantity out of the
variant regular buyers hold from, atomically against them, and gives back what it did not sell
(or a refund after it settled) exactly once. `stock = available + held + sold` holds for every
variant throughout (`variants.check_variant`, what `livesell check-variants` runs)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import func, update

from core.context import Services
from orders import order_moves, sales, variants
from orders.models import Order
from tests.orders.conftest import buy as flash_buy
from tests.orders.conftest import pay as flash_pay
from tests.orders.regular_helpers import buy, counts, give_addresses, with_address


async def _pool(client: httpx.AsyncClient, product_id: int) -> list[dict[str, Any]]:
    reply = await client.get(f"/api/products/{product_id}/variants")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["variants"])


async def _start_sale(client: httpx.AsyncClient, host: Any, room_id: int, product_id: int,
                      quantity: int, **extra: Any) -> httpx.Response:
    return await client.post(f"/api/rooms/{room_id}/sales", headers=host.headers, json={
        "product_id": product_id, "price_minor": 500, "quantity": quantity,
        "duration_seconds": 600, **extra})


async def _product(client: httpx.AsyncClient, host: Any, product_id: int) -> dict[str, Any]:
    products = (await client.get("/api/products", headers=host.headers)).json()["products"]
    return dict(next(p for p in products if p["id"] == product_id))


async def _product_stock(client: httpx.AsyncClient, host: Any, product_id: int) -> int:
    return int((await _product(client, host, product_id))["stock"])


async def _mug_shop(client: httpx.AsyncClient, make_user: Any, make_product: Any,
                    make_room: Any) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A host, a mug without options (10 units) in a live room's lineup, its default variant."""
    host = await make_user("host")
    mug = await make_product(host, title="Tea mug", price_minor=800, stock=10)
    room = await make_room(host, products=[mug], live=True)
    [default] = await _pool(client, mug["id"])
    return host, mug, room, default


async def test_a_sale_and_regular_buyers_share_the_default_variants_units(
        client, make_user, make_product, make_room, services: Services):
    # given a mug without options: 10 units, its product stock the default variant's
    host, mug, room, default = await _mug_shop(client, make_user, make_product, make_room)
    assert (default["options"], default["stock"], default["remaining"]) == ({}, 10, 10)

    # when a flash sale of 4 starts, the regular pool has 6 left
    sale = await _start_sale(client, host, room["id"], mug["id"], 4)
    assert sale.status_code == 201, sale.text
    assert sale.json()["variant_id"] == default["id"]
    assert await counts(services, default["id"]) == (6, 0, 0)
    assert await _product_stock(client, host, mug["id"]) == 6

    # and regular buyers can hold those 6, not a seventh
    buyer = await with_address(client, await make_user())
    assert (await buy(client, buyer, room["id"], default["id"], 6)).status_code == 201
    refused = await buy(client, buyer, room["id"], default["id"], 1)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "sold_out")

    # when one flash unit sells and the sale settles, its 3 unsold units come back, once
    fan = await make_user()
    order = (await flash_buy(client, fan, sale.json()["id"], "k")).json()["order"]
    assert (await flash_pay(client, services, order["id"])).status_code == 200
    await client.post(f"/api/sales/{sale.json()['id']}/stop", headers=host.headers)
    assert await sales.settle_sale(services, sale.json()["id"]) is None  # done by the stop
    assert await counts(services, default["id"]) == (3, 6, 0)
    assert await _product_stock(client, host, mug["id"]) == 9

    # and a refund after settlement returns its unit to the same pool, exactly once
    ops = await make_user("ops")
    assert (await client.post(f"/api/orders/{order['id']}/refund",
                              headers=ops.headers)).status_code == 200
    assert (await client.post(f"/api/orders/{order['id']}/refund",
                              headers=ops.headers)).status_code == 409
    assert await counts(services, default["id"]) == (4, 6, 0)
    assert await _product_stock(client, host, mug["id"]) == 10


async def test_a_sale_racing_regular_buyers_for_the_last_units_never_oversells(
        client, make_user, make_product, make_room, make_buyers, services: Services):
    # given 10 units, 12 buyers of one each and a sale of 5 pressed at the same moment
    host, mug, room, default = await _mug_shop(client, make_user, make_product, make_room)
    buyers = await make_buyers(12)
    await give_addresses(services, buyers)

    replies = await asyncio.gather(
        _start_sale(client, host, room["id"], mug["id"], 5),
        *(buy(client, b, room["id"], default["id"], 1) for b in buyers))

    # then the units held and the units taken never exceed the pool, and the counters agree
    sale, bought = replies[0], replies[1:]
    codes = Counter(r.status_code for r in bought)
    assert set(codes) <= {201, 409}, [r.text for r in bought]
    taken = 5 if sale.status_code == 201 else 0
    assert sale.status_code in (201, 409), sale.text
    assert codes[201] + taken <= 10
    assert codes[201] == 10 - taken  # nobody was refused while units were left
    assert await counts(services, default["id"]) == (0, codes[201], 0)


async def test_a_product_with_options_names_the_variant_its_sale_takes(
        client, make_user, make_product, make_room, services: Services):
    # given a shirt whose stock is its sizes' (nothing left at the product level)
    host = await make_user("host")
    shirt = await make_product(host, title="Linen shirt", price_minor=2500, stock=0)
    room = await make_room(host, products=[shirt], live=True)
    defined = await client.put(f"/api/products/{shirt['id']}/variants", headers=host.headers,
                               json={"options": [{"name": "size", "values": ["S", "M"]}],
                                     "variants": [{"options": {"size": "S"}, "stock": 5},
                                                  {"options": {"size": "M"}, "stock": 3}]})
    assert defined.status_code == 200, defined.text
    sizes = {v["options"]["size"]: v["id"] for v in defined.json()["variants"]}
    assert await _product_stock(client, host, shirt["id"]) == 8

    # when a sale names no size, or more units than the size has, it is refused, naming why
    unnamed = await _start_sale(client, host, room["id"], shirt["id"], 2)
    too_many = await _start_sale(client, host, room["id"], shirt["id"], 4, variant_id=sizes["M"])
    assert (unnamed.status_code, unnamed.json()["error"]["code"],
            unnamed.json()["error"]["field"]) == (422, "variant_required", "variant_id")
    assert (too_many.status_code, too_many.json()["error"]["code"],
            too_many.json()["error"]["field"]) == (409, "not_enough_stock", "quantity")
    assert await counts(services, sizes["M"]) == (3, 0, 0)

    # and a sale of size M takes its 2 units from M alone
    sale = await _start_sale(client, host, room["id"], shirt["id"], 2, variant_id=sizes["M"])
    assert sale.status_code == 201, sale.text
    assert sale.json()["variant_id"] == sizes["M"]
    assert await counts(services, sizes["M"]) == (1, 0, 0)
    assert await counts(services, sizes["S"]) == (5, 0, 0)


async def test_a_sale_refused_after_its_units_were_taken_gives_them_back(
        client, make_user, make_product, make_room, services: Services):
    # given a running sale of 2 of a mug's 10 units
    host, mug, room, default = await _mug_shop(client, make_user, make_product, make_room)
    assert (await _start_sale(client, host, room["id"], mug["id"], 2)).status_code == 201

    # when a second sale in the room takes its units, then is refused (one sale at a time)
    second = await _start_sale(client, host, room["id"], mug["id"], 3)
    await variants.recounts_done()

    # then its units are back in the pool, in PostgreSQL and Redis alike
    assert (second.status_code, second.json()["error"]["code"]) == (409, "sale_in_progress")
    assert await counts(services, default["id"]) == (8, 0, 0)
    assert await _product_stock(client, host, mug["id"]) == 8


async def test_the_products_stock_field_is_its_default_variants_stock(
        client, make_user, make_product, make_room, services: Services):
    host, mug, room, default = await _mug_shop(client, make_user, make_product, make_room)
    buyer = await with_address(client, await make_user())
    order = (await buy(client, buyer, room["id"], default["id"], 4)).json()["order"]

    # a restock moves the pool, its held units kept
    restocked = await client.patch(f"/api/products/{mug['id']}", json={"stock": 20},
                                   headers=host.headers)
    assert (restocked.status_code, restocked.json()["stock"]) == (200, 20), restocked.text
    assert await counts(services, default["id"]) == (16, 4, 0)
    # below what orders hold: refused, nothing changed
    below = await client.patch(f"/api/products/{mug['id']}", json={"stock": 3, "price_minor": 1},
                               headers=host.headers)
    assert (below.status_code, below.json()["error"]["code"],
            below.json()["error"]["field"]) == (409, "stock_below_committed", "stock")
    assert (await _product(client, host, mug["id"]))["price_minor"] == 800
    # the order expiring gives its units back to the same pool
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == order["id"]).values(
            hold_expires_at=func.now()))
    await order_moves.expire_due_orders(services)
    assert await counts(services, default["id"]) == (20, 0, 0)

    # a product with sizes has no single stock to set
    await client.put(f"/api/products/{mug['id']}/variants", headers=host.headers,
                     json={"options": [{"name": "size", "values": ["S"]}],
                           "variants": [{"options": {"size": "S"}, "stock": 1}]})
    refused = await client.patch(f"/api/products/{mug['id']}", json={"stock": 5},
                                 headers=host.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "product_has_options")
