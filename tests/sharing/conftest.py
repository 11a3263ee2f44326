"""Fixtures for share links: a sharer's link, a visit through it, a paid order, and the
platform's share rules set for one test."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.context import Services
from core.settings import Settings
from orders.models import CommissionEntry
from tests.conftest import TestUser
from tests.orders.conftest import buy
from tests.orders.regular_helpers import pay


@pytest.fixture
def share_rules(settings: Settings) -> Iterator[Callable[..., None]]:
    """Change the platform's share rules for this test (the app, the webhook and the tests
    read the one settings object), restored after."""
    original = settings.shares

    def change(**values: Any) -> None:
        object.__setattr__(settings, "shares", dataclasses.replace(original, **values))

    yield change
    object.__setattr__(settings, "shares", original)


async def share_link(client: httpx.AsyncClient, sharer: TestUser, kind: str,
                     target_id: int) -> dict[str, Any]:
    response = await client.post("/api/shares", headers=sharer.headers,
                                 json={"kind": kind, "id": target_id})
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


async def follow(client: httpx.AsyncClient, visitor: TestUser | None, code: str) -> httpx.Response:
    headers = visitor.headers if visitor is not None else {}
    return await client.post(f"/api/shares/{code}/visit", headers=headers)


async def paid_order(client: httpx.AsyncClient, services: Services, buyer: TestUser,
                     sale_id: int, key: str, quantity: int = 1) -> dict[str, Any]:
    order: dict[str, Any] = (await buy(client, buyer, sale_id, key, quantity)).json()["order"]
    assert await pay(client, services, order["id"]) == "paid"
    return order


async def entries(services: Services, order_id: int | None = None) -> list[CommissionEntry]:
    async with services.db.session() as session:
        query = select(CommissionEntry).order_by(CommissionEntry.level, CommissionEntry.id)
        if order_id is not None:
            query = query.where(CommissionEntry.order_id == order_id)
        return list(await session.scalars(query))


SaleFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_sale(client: httpx.AsyncClient, make_product: Any, make_room: Any) -> SaleFactory:
    """A live room with a product on sale: {"sale", "product", "room"}."""

    async def make(host: TestUser, *, share_rate: int | None = None,
                   commission_rate: int | None = None, price_minor: int = 1500) -> dict[str, Any]:
        product = await make_product(host, stock=100)
        patch = {k: v for k, v in (("share_rate_bp", share_rate),
                                   ("commission_rate_bp", commission_rate)) if v is not None}
        if patch:
            patched = await client.patch(f"/api/products/{product['id']}", headers=host.headers,
                                         json=patch)
            assert patched.status_code == 200, patched.text
            product = patched.json()
        room = await make_room(host, products=[product], live=True)
        response = await client.post(f"/api/rooms/{room['id']}/sales", headers=host.headers,
                                     json={"product_id": product["id"],
                                           "price_minor": price_minor, "quantity": 50,
                                           "per_user_limit": 5, "duration_seconds": 600})
        assert response.status_code == 201, response.text
        return {"sale": response.json(), "product": product, "room": room}

    return make


