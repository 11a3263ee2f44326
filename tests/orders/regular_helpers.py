"""Helpers for regular-price buying tests: a live room whose products have variants, buyers
with an address, paying through the sandbox, and a snapshot of everything a refusal must leave
as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update

from core.accounts import User
from core.context import Services
from orders import paying, variants
from orders.models import CommissionEntry, Order, OrderEvent, OrderLine, OutboxMessage, Payment
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from tests.conftest import TestUser

ADDRESS = {"name": "Li Wei", "line1": "88 Nanjing Road", "line2": "Apt 5", "city": "Shanghai",
           "region": "SH", "postal_code": "200001", "country": "CN", "phone": "+86 138 0000 0000"}

SIZES_AND_COLOURS = {
    "options": [{"name": "size", "values": ["S", "M"]},
                {"name": "colour", "values": ["Blue", "Red"]}],
    "variants": [
        {"options": {"size": "S", "colour": "Blue"}, "stock": 5},
        {"options": {"size": "M", "colour": "Blue"}, "stock": 3, "price_minor": 2900},
        {"options": {"size": "S", "colour": "Red"}, "stock": 2},
        {"options": {"size": "M", "colour": "Red"}, "stock": 0},
    ],
}


@dataclass
class Shop:
    host: TestUser
    room: dict[str, Any]
    shirt: dict[str, Any]   # size x colour
    mug: dict[str, Any]     # no options: one default variant
    shirt_variants: dict[tuple[str, str], dict[str, Any]]
    mug_variant: dict[str, Any]

    def variant(self, size: str, colour: str) -> int:
        return int(self.shirt_variants[(size, colour)]["id"])


async def open_shop(client: httpx.AsyncClient, make_user: Any, make_product: Any,
                    make_room: Any, *, mug_stock: int = 10, live: bool = True) -> Shop:
    host = await make_user("host")
    shirt = await make_product(host, title="Linen shirt", price_minor=2500, currency="CNY")
    mug = await make_product(host, title="Tea mug", price_minor=800, currency="CNY")
    room = await make_room(host, products=[shirt, mug], live=live)
    response = await client.put(f"/api/products/{shirt['id']}/variants", json=SIZES_AND_COLOURS,
                                headers=host.headers)
    assert response.status_code == 200, response.text
    shirt_variants = {(v["options"]["size"], v["options"]["colour"]): v
                      for v in response.json()["variants"]}
    response = await client.put(f"/api/products/{mug['id']}/variants",
                                json={"variants": [{"stock": mug_stock}]}, headers=host.headers)
    assert response.status_code == 200, response.text
    return Shop(host, room, shirt, mug, shirt_variants, response.json()["variants"][0])


async def with_address(client: httpx.AsyncClient, user: TestUser) -> TestUser:
    response = await client.put("/api/account/address", json=ADDRESS, headers=user.headers)
    assert response.status_code == 200, response.text
    return user


async def give_addresses(services: Services, users: list[TestUser]) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(User).where(User.id.in_([u.id for u in users]))
                              .values(shipping_address=ADDRESS))


async def buy(client: httpx.AsyncClient, user: TestUser, room_id: int, variant_id: int,
              quantity: int = 1, key: str | None = None) -> httpx.Response:
    return await client.post(f"/api/rooms/{room_id}/buy",
                             json={"variant_id": variant_id, "quantity": quantity},
                             headers={**user.headers,
                                      "Idempotency-Key": key or uuid.uuid4().hex})


async def fill_cart(client: httpx.AsyncClient, user: TestUser, room_id: int,
                    lines: Iterable[tuple[int, int]]) -> None:
    """Put each (variant, quantity) in the buyer's cart of the room, in that order."""
    for variant_id, quantity in lines:
        response = await client.put(f"/api/rooms/{room_id}/cart/{variant_id}",
                                    json={"quantity": quantity}, headers=user.headers)
        assert response.status_code == 200, response.text


async def checkout(client: httpx.AsyncClient, user: TestUser, room_id: int,
                   key: str = "c") -> httpx.Response:
    return await client.post(f"/api/rooms/{room_id}/cart/checkout",
                             headers={**user.headers, "Idempotency-Key": key})


async def pay(client: httpx.AsyncClient, services: Services, order_id: int) -> str:
    """The buyer pays on the sandbox page; its signed webhook is delivered to the app."""
    return await deliver(client, services, await queue_payment(services, order_id))


async def queue_payment(services: Services, order_id: int) -> dict[str, Any]:
    """The buyer pressed Pay: the sandbox's webhook event, queued and not yet delivered."""
    outbox_id = await paying.submit_sandbox_payment(services, order_id, pay=True)
    async with services.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    assert message is not None
    event: dict[str, Any] = message.payload["event"]
    return event


async def deliver(client: httpx.AsyncClient, services: Services, event: dict[str, Any]) -> str:
    provider = SandboxProvider.from_settings(services.settings)
    body = orjson.dumps(event)
    response = await client.post(WEBHOOK_PATH, content=body,
                                 headers=provider.signed_headers(body))
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


async def expire_holds_past_payment_grace(services: Services) -> None:
    """Every hold runs out and every payment is older than its in-flight grace: the next sweep
    expires the orders even though their payments are on their way."""
    async with services.db.transaction() as session:
        await session.execute(update(Order).values(hold_expires_at=func.now()))
        await session.execute(update(Payment).values(created_at=func.now() - func.make_interval(
            0, 0, 0, 0, 0, 0, paying.PAYMENT_IN_FLIGHT_GRACE_SECONDS + 1)))


async def order_status(services: Services, order_id: int) -> str:
    async with services.db.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return str(order.status)


async def payment_and_commission(services: Services,
                                 order_id: int) -> tuple[Payment, CommissionEntry]:
    """The order's payment and the host's commission entry on it; both must exist."""
    async with services.db.session() as session:
        payment = await session.scalar(select(Payment).where(Payment.order_id == order_id))
        entry = await session.scalar(select(CommissionEntry).where(
            CommissionEntry.order_id == order_id))
    assert payment is not None and entry is not None
    return payment, entry


async def counts(services: Services, variant_id: int) -> tuple[int, int, int]:
    """(available, held, sold) of a variant in Redis, and its invariant holds."""
    check = await variants.check_variant(services, variant_id)
    assert check.ok, check.problems
    assert check.redis is not None
    return check.redis.available, check.redis.held, check.redis.sold


async def snapshot(services: Services, variant_ids: list[int]) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    async with services.db.session() as session:
        tables = {name: await session.scalar(select(func.count()).select_from(model))
                  for name, model in (("orders", Order), ("lines", OrderLine),
                                      ("events", OrderEvent), ("payments", Payment))}
    redis = {}
    for variant_id in variant_ids:
        check = await variants.check_variant(services, variant_id)
        redis[variant_id] = (check.redis, check.holds_held, check.holds_sold)
    return {"tables": tables, "redis": redis}
