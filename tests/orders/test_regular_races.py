"""Races at the regular price, over real HTTP to a `livesell serve` process: many buyers for a
variant's last units, many carts for the same lines, and expiry sweepers racing each other.
Exact counts and the variant invariant afterwards; `livesell check-variants` agrees. Nothing
here is timed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter

import httpx
from sqlalchemy import func, select, update

from core.context import Services
from orders import order_moves, variants
from orders.models import Order, OrderLine
from tests.conftest import LiveServer
from tests.infra import ROOT, TestInfra
from tests.orders.regular_helpers import checkout, counts, fill_cart, give_addresses, open_shop

BUYERS = 150


def _code(response: httpx.Response) -> object:
    return response.json()["error"]["code"] if response.status_code >= 400 else response.status_code


async def test_buyers_racing_for_a_variants_last_units_never_oversell(
        live_server: LiveServer, infra: TestInfra, client, make_user, make_product, make_room,
        make_buyers, services: Services) -> None:
    # given a size and colour with 5 units left and 150 buyers, some wanting two
    shop = await open_shop(client, make_user, make_product, make_room)
    variant_id = shop.variant("S", "Blue")
    buyers = await make_buyers(BUYERS)
    await give_addresses(services, buyers)
    wants = {b.id: 1 + (i % 3 == 0) for i, b in enumerate(buyers)}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=live_server.url, limits=limits, timeout=60) as http:
        # when they all press buy at once
        replies = await asyncio.gather(*(http.post(
            f"/api/rooms/{shop.room['id']}/buy",
            json={"variant_id": variant_id, "quantity": wants[b.id]},
            headers={**b.headers, "Idempotency-Key": f"race-{b.id}"}) for b in buyers))

    # then the units held are exactly those the successful buyers asked for, never more than
    # the stock, and everyone else heard sold_out
    codes = Counter(_code(r) for r in replies)
    assert set(codes) <= {201, "sold_out"}, codes
    won = [r.json()["order"] for r in replies if r.status_code == 201]
    held_units = sum(o["quantity"] for o in won)
    assert 4 <= held_units <= 5, won
    async with services.db.session() as session:
        pg_units = await session.scalar(select(func.sum(OrderLine.quantity)).where(
            OrderLine.variant_id == variant_id))
    assert pg_units == held_units
    assert await counts(services, variant_id) == (5 - held_units, held_units, 0)
    check = subprocess.run([sys.executable, "-m", "web.cli", "check-variants", str(variant_id)],
                           cwd=ROOT, env={**os.environ, **infra.env()}, capture_output=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


async def test_carts_racing_for_the_same_lines_are_held_whole_or_not_at_all(
        live_server: LiveServer, client, make_user, make_product, make_room, make_buyers,
        services: Services) -> None:
    # given 60 buyers whose carts each hold one shirt (5 left) and two mugs (plenty)
    shop = await open_shop(client, make_user, make_product, make_room, mug_stock=500)
    room_id = shop.room["id"]
    shirt, mug = shop.variant("S", "Blue"), shop.mug_variant["id"]
    buyers = await make_buyers(60)
    await give_addresses(services, buyers)
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=live_server.url, limits=limits, timeout=60) as http:
        for variant_id, quantity in ((shirt, 1), (mug, 2)):
            filled = await asyncio.gather(*(http.put(
                f"/api/rooms/{room_id}/cart/{variant_id}", json={"quantity": quantity},
                headers=b.headers) for b in buyers))
            assert {r.status_code for r in filled} == {200}

        # when they all check out at once
        replies = await asyncio.gather(*(http.post(
            f"/api/rooms/{room_id}/cart/checkout",
            headers={**b.headers, "Idempotency-Key": f"cart-{b.id}"}) for b in buyers))

    # then exactly five carts became orders, each with both lines; the others were refused
    # naming the shirt's line, and held no mug
    codes = Counter(_code(r) for r in replies)
    assert codes == {201: 5, "sold_out": 55}, codes
    shirt_line = sorted([shirt, mug]).index(shirt)
    assert {r.json()["error"]["field"] for r in replies if r.status_code != 201} == {
        f"lines[{shirt_line}].quantity"}
    for reply in replies:
        if reply.status_code == 201:
            assert sorted((line["variant_id"], line["quantity"])
                          for line in reply.json()["order"]["lines"]) == sorted(
                [(shirt, 1), (mug, 2)])
    assert await counts(services, shirt) == (0, 5, 0)
    assert await counts(services, mug) == (490, 10, 0)


async def test_expiry_sweepers_racing_return_every_lines_units_once(
        client, make_user, make_product, make_room, make_buyers, services: Services) -> None:
    # given 20 cart orders of two lines each, all past their hold
    shop = await open_shop(client, make_user, make_product, make_room, mug_stock=100)
    room_id = shop.room["id"]
    shirt, mug = shop.variant("S", "Blue"), shop.mug_variant["id"]
    buyers = await make_buyers(20)
    await give_addresses(services, buyers)
    placed = []
    for index, buyer in enumerate(buyers):
        lines = [(mug, 3)] + ([(shirt, 1)] if index < 5 else [])
        await fill_cart(client, buyer, room_id, lines)
        response = await checkout(client, buyer, room_id)
        assert response.status_code == 201, response.text
        placed.append(response.json()["order"]["id"])
    assert await counts(services, mug) == (40, 60, 0)
    assert await counts(services, shirt) == (0, 5, 0)
    async with services.db.transaction() as session:
        await session.execute(update(Order).values(hold_expires_at=func.now()))

    # when three sweepers run at once (and a fourth after them)
    swept = await asyncio.gather(*(order_moves.expire_due_orders(services) for _ in range(3)))
    swept.append(await order_moves.expire_due_orders(services))

    # then each order expired once and every line's units are back once
    expired = [order_id for batch in swept for order_id in batch]
    assert sorted(expired) == sorted(placed)
    assert await counts(services, mug) == (100, 0, 0)
    assert await counts(services, shirt) == (5, 0, 0)
    for variant_id in (shirt, mug):
        assert (await variants.check_variant(services, variant_id)).ok
