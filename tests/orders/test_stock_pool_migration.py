"""Migration 0024 moves each product's stock into its default variant (one pool per variant,
docs/decisions/0021) and points every sale at the variant its unsold units go back to."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text

from core.context import Services
from core.migrate import alembic_config
from core.settings import Settings
from tests.conftest import MakeUser


async def test_product_stock_moves_into_the_default_variant(
        services: Services, settings: Settings, make_user: MakeUser) -> None:
    host = await make_user("host")
    config = alembic_config(settings.database_url)
    await asyncio.to_thread(command.downgrade, config, "0020")
    try:
        async with services.db.transaction() as session:
            async def product(title: str, stock: int) -> int:
                return int(await session.scalar(text(
                    "INSERT INTO products (host_id, title, price_minor, currency, stock) "
                    "VALUES (:host, :title, 1000, 'USD', :stock) RETURNING id"),
                    {"host": host.id, "title": title, "stock": stock}))

            async def variant(product_id: int, options: str, stock: int, active: bool) -> None:
                await session.execute(text(
                    "INSERT INTO product_variants (product_id, host_id, options, label, stock, "
                    "active) VALUES (:p, :host, CAST(:o AS jsonb), '', :s, :a)"),
                    {"p": product_id, "host": host.id, "o": options, "s": stock, "a": active})

            # a mug nobody gave variants to, a cup whose default variant sold at the regular
            # price, and a shirt with sizes
            mug, cup, shirt = await product("Mug", 7), await product("Cup", 3), \
                await product("Shirt", 6)
            await variant(cup, "{}", 5, True)
            await variant(shirt, '{"size": "S"}', 4, True)
            room = await session.scalar(text(
                "INSERT INTO rooms (host_id, title, status, stream_key) "
                "VALUES (:host, 'Old show', 'live', 'key-0024') RETURNING id"), {"host": host.id})
            await session.execute(text(
                "INSERT INTO sales (room_id, product_id, host_id, price_minor, currency, quantity,"
                " per_user_limit, starts_at, ends_at, status) VALUES (:room, :mug, :host, 500, "
                "'USD', 2, 1, now(), now() + interval '1 hour', 'running')"),
                {"room": room, "mug": mug, "host": host.id})
    finally:
        await asyncio.to_thread(command.upgrade, config, "head")

    async with services.db.session() as session:
        defaults = dict((await session.execute(text(
            "SELECT product_id, (stock, active) FROM product_variants "
            "WHERE options = '{}'::jsonb"))).all())
        sale_variant = await session.scalar(text("SELECT variant_id FROM sales"))
        mug_default = await session.scalar(text(
            "SELECT id FROM product_variants WHERE product_id = :p"), {"p": mug})
    assert defaults == {mug: (7, True), cup: (8, True), shirt: (6, False)}
    assert sale_variant == mug_default
