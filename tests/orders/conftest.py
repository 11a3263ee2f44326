"""Fixtures for flash sales: many buyers at once, a room with a product on sale; and for
regular-price buying: a live shop of variants and a buyer with an address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from core.context import Services
from core.settings import Settings
from orders import paying
from orders.models import OutboxMessage
from orders.payments.sandbox import WEBHOOK_PATH, SandboxProvider
from tests.conftest import RoomOffer, TestUser, insert_viewers
from tests.orders.group_helpers import Deal, offer_deal
from tests.orders.regular_helpers import Shop, open_shop, with_address


@pytest.fixture
def make_buyers(services: Services, settings: Settings) -> Callable[[int], Awaitable[list[TestUser]]]:
    """Many viewers at once, inserted in one statement (hashing 2,000 passwords would take
    minutes), each with a valid bearer token."""

    async def make(count: int) -> list[TestUser]:
        return await insert_viewers(services, settings, "buyer", range(count))

    return make


@pytest.fixture
async def shop(client: httpx.AsyncClient, make_user: Any, make_product: Any,
               make_room: Any) -> Shop:
    """A live room selling a shirt in sizes and colours and a mug (regular_helpers.open_shop)."""
    return await open_shop(client, make_user, make_product, make_room)


@pytest.fixture
async def buyer(client: httpx.AsyncClient, make_user: Any) -> TestUser:
    """A viewer with a shipping address, so a regular-price buy can go through."""
    return await with_address(client, await make_user())


MakeDeal = Callable[..., Awaitable[Deal]]


@pytest.fixture
def make_deal(client: httpx.AsyncClient, make_user: Any, make_product: Any,
              make_room: Any) -> MakeDeal:
    """A live room's host offers a group deal (group_helpers.offer_deal takes the terms)."""

    async def make(**terms: Any) -> Deal:
        return await offer_deal(client, make_user, make_product, make_room, **terms)

    return make


class SaleSetup(RoomOffer):
    @property
    def sale(self) -> dict[str, Any]:
        return self.offer


MakeSale = Callable[..., Awaitable[SaleSetup]]


@pytest.fixture
def make_sale(client: httpx.AsyncClient, make_user: Any, make_product: Any,
              make_room: Any) -> MakeSale:
    async def make(*, stock: int = 500, quantity: int = 100, price_minor: int = 1500,
                   per_user_limit: int = 1, duration_seconds: int = 600,
                   start_in_seconds: int | None = None, **overrides: Any) -> SaleSetup:
        host = await make_user("host")
        product = await make_product(host, stock=stock, price_minor=2500)
        room = await make_room(host, products=[product], live=True)
        body = {"product_id": product["id"], "price_minor": price_minor, "quantity": quantity,
                "per_user_limit": per_user_limit, "duration_seconds": duration_seconds,
                **overrides}
        if start_in_seconds is not None:
            body["start_in_seconds"] = start_in_seconds
        response = await client.post(f"/api/rooms/{room['id']}/sales", json=body,
                                     headers=host.headers)
        assert response.status_code == 201, response.text
        return SaleSetup(host, room, product, response.json())

    return make


async def buy(client: httpx.AsyncClient, user: TestUser, sale_id: int, key: str,
              quantity: int = 1) -> httpx.Response:
    return await client.post(f"/api/sales/{sale_id}/buy", json={"quantity": quantity},
                             headers={**user.headers, "Idempotency-Key": key})


async def deliver_sandbox_webhook(client: httpx.AsyncClient, services: Services,
                                  outbox_id: int) -> httpx.Response:
    """Post the sandbox gateway's signed webhook that an outbox message holds, as the worker
    would (the tests deliver it by hand rather than through Celery)."""
    async with services.db.session() as session:
        message = await session.get(OutboxMessage, outbox_id)
    assert message is not None
    body = orjson.dumps(message.payload["event"])
    provider = SandboxProvider.from_settings(services.settings)
    return await client.post(WEBHOOK_PATH, content=body, headers=provider.signed_headers(body))


async def pay(client: httpx.AsyncClient, services: Services, order_id: int) -> httpx.Response:
    """Pay an order through the sandbox gateway: the submission, then its webhook."""
    outbox_id = await paying.submit_sandbox_payment(services, order_id, pay=True)
    return await deliver_sandbox_webhook(client, services, outbox_id)
