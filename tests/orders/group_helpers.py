"""Helpers for group-buy tests: a live room with a group deal, opening and joining over the
API, moving a group past its deadline, and the whole state a refusal must leave as it was."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, update

from core.context import Services
from orders import group_reconcile, group_stock
from orders.group_models import Group
from orders.models import Order, OutboxKind, OutboxMessage, Payment
from tests.conftest import RoomOffer, TestUser


class Deal(RoomOffer):
    @property
    def deal(self) -> dict[str, Any]:
        return self.offer


async def named(make_user: Any, *names: str) -> list[TestUser]:
    """A viewer for each name, made in that order."""
    return [await make_user(name=name) for name in names]


async def offer_deal(client: httpx.AsyncClient, make_user: Any, make_product: Any,
                     make_room: Any, *, size: int = 3, units: int = 9, stock: int = 50,
                     open_seconds: int = 600, price_minor: int = 1500) -> Deal:
    host = await make_user("host")
    product = await make_product(host, title="Tea set", price_minor=2000, currency="CNY",
                                 stock=stock)
    room = await make_room(host, products=[product], live=True)
    response = await client.post(f"/api/rooms/{room['id']}/group-deals", json={
        "product_id": product["id"], "price_minor": price_minor, "group_size": size,
        "open_seconds": open_seconds, "units": units}, headers=host.headers)
    assert response.status_code == 201, response.text
    return Deal(host, room, product, response.json())


async def open_group(client: httpx.AsyncClient, deal_id: int, user: TestUser) -> httpx.Response:
    return await client.post(f"/api/group-deals/{deal_id}/groups", headers=user.headers)


async def join(client: httpx.AsyncClient, group_id: int, user: TestUser) -> httpx.Response:
    return await client.post(f"/api/groups/{group_id}/join", headers=user.headers)


async def opened(client: httpx.AsyncClient, deal_id: int, user: TestUser) -> tuple[int, int]:
    """(group id, order id) of a group the user opened."""
    response = await open_group(client, deal_id, user)
    assert response.status_code == 201, response.text
    body = response.json()
    return int(body["group"]["id"]), int(body["order"]["id"])


async def joined(client: httpx.AsyncClient, group_id: int, user: TestUser) -> int:
    response = await join(client, group_id, user)
    assert response.status_code == 201, response.text
    return int(response.json()["order"]["id"])


async def past_deadline(services: Services, group_id: int) -> None:
    """The group's time is up (PostgreSQL's clock, and the Redis copy the join script reads)."""
    async with services.db.transaction() as session:
        await session.execute(update(Group).where(Group.id == group_id)
                              .values(deadline=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1)))
        deal_id = await session.scalar(select(Group.deal_id).where(Group.id == group_id))
    assert deal_id is not None
    seconds, _ = await services.redis.time()
    await services.redis.hset(group_stock.DealKeys.of(services.keys, deal_id).group(group_id),
                              "deadline_ms", (int(seconds) - 1) * 1000)


async def check(services: Services, deal_id: int) -> group_reconcile.DealCheck:
    result = await group_reconcile.check_deal(services, deal_id)
    assert result.ok, result.problems
    return result


async def refunds_by_order(services: Services) -> dict[int, int]:
    """How many provider refunds the outbox holds for each order."""
    async with services.db.session() as session:
        rows = await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.PROVIDER_REFUND.value))
        out: dict[int, int] = {}
        for message in rows:
            order_id = int(message.payload["order_id"])
            out[order_id] = out.get(order_id, 0) + 1
    return out


async def state(services: Services, deal_id: int) -> dict[str, Any]:
    """Everything a refused request must leave as it was: rows and Redis counters."""
    async with services.db.session() as session:
        tables = {name: await session.scalar(select(func.count()).select_from(model))
                  for name, model in (("orders", Order), ("groups", Group),
                                      ("payments", Payment))}
    result = await group_reconcile.check_deal(services, deal_id)
    return {"tables": tables, "redis": result.redis, "ok": result.ok}
