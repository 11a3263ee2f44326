"""The demo seed is idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

from core.accounts import User
from core.context import Services
from live.models import LineupItem, Product, Room
from orders.models import ProductVariant
from web.seed import seed_demo


async def _counts(services: Services) -> list[int | None]:
    async with services.db.session() as session:
        return [await session.scalar(select(func.count()).select_from(t))
                for t in (User, Product, Room, LineupItem, ProductVariant)]


async def test_seeding_twice_keeps_the_data_and_adds_nothing(services: Services):
    first = await seed_demo(services)
    after_first = await _counts(services)

    second = await seed_demo(services)

    assert first == second
    assert await _counts(services) == after_first == [3, 4, 1, 4, 6]
