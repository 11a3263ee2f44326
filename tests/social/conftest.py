"""Fixtures for follows, alerts and reviews: a completed order of a buyer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from core.accounts import User
from core.context import Services
from social.models import Follow
from tests.conftest import TestUser
from tests.orders.conftest import MakeSale, SaleSetup, buy
from tests.orders.conftest import make_sale as make_sale  # (shared factory fixture)
from tests.orders.regular_helpers import pay


async def make_followers(services: Services, host_id: int, count: int) -> list[int]:
    """`count` new viewers following the host, inserted at once (no password hashing)."""
    async with services.db.transaction() as session:
        follower_ids = list(await session.scalars(insert(User).values([
            {"email": f"fan{n}@example.com", "display_name": f"fan{n}",
             "password_hash": "not-a-hash", "role": "viewer"} for n in range(count)
        ]).returning(User.id)))
        await session.execute(insert(Follow).values(
            [{"follower_id": fan, "host_id": host_id} for fan in follower_ids]))
    return follower_ids




@dataclass
class Purchase:
    sale: SaleSetup
    buyer: TestUser
    order: dict[str, Any]

    @property
    def host(self) -> TestUser:
        return self.sale.host


MakePurchase = Callable[..., Awaitable[Purchase]]


@pytest.fixture
def make_purchase(client: httpx.AsyncClient, make_sale: MakeSale, make_user: Any,
                  services: Services) -> MakePurchase:
    """A buyer's order in a flash sale: `paid`, and `completed` (the host marked it fulfilled)
    unless told to stop earlier."""

    async def make(*, sale: SaleSetup | None = None, buyer: TestUser | None = None,
                   status: str = "completed") -> Purchase:
        sale = sale or await make_sale(quantity=20, per_user_limit=5)
        buyer = buyer or await make_user()
        response = await buy(client, buyer, sale.id, f"k{buyer.id}-{id(object())}")
        assert response.status_code == 201, response.text
        order = response.json()["order"]
        if status in ("paid", "completed"):
            await pay(client, services, order["id"])
        if status == "completed":
            done = await client.post(f"/api/orders/{order['id']}/complete",
                                     headers=sale.host.headers)
            assert done.status_code == 200, done.text
            order = done.json()
        return Purchase(sale, buyer, order)

    return make
