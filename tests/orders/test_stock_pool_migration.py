"""Migration 0024 moves each product's stock into its default variant (one pool per variant,
docs/decisions/0021) and points every sale at the variant its unsold units go back to; and
`livesell migrate`, having applied it, rebuilds the variants' Redis counters it made stale."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from alembic import command
from sqlalchemy import text

from core.context import Services
from core.migrate import alembic_config
from core.settings import Settings
from orders import variant_stock
from tests.conftest import MakeUser
from tests.infra import ROOT, TestInfra


async def test_product_stock_moves_into_the_default_variant(
        services: Services, settings: Settings, make_user: MakeUser, infra: TestInfra) -> None:
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

            async def variant(product_id: int, options: str, stock: int, active: bool) -> int:
                return int(await session.scalar(text(
                    "INSERT INTO product_variants (product_id, host_id, options, label, stock, "
                    "active) VALUES (:p, :host, CAST(:o AS jsonb), '', :s, :a) RETURNING id"),
                    {"p": product_id, "host": host.id, "o": options, "s": stock, "a": active}))

            # a mug nobody gave variants to, a cup whose default variant sold at the regular
            # price, and a shirt with sizes
            mug, cup, shirt = await product("Mug", 7), await product("Cup", 3), \
                await product("Shirt", 6)
            cup_variant = await variant(cup, "{}", 5, True)
            await variant(shirt, '{"size": "S"}', 4, True)
            room = await session.scalar(text(
                "INSERT INTO rooms (host_id, title, status, stream_key) "
                "VALUES (:host, 'Old show', 'live', 'key-0024') RETURNING id"), {"host": host.id})
            await session.execute(text(
                "INSERT INTO sales (room_id, product_id, host_id, price_minor, currency, quantity,"
                " per_user_limit, starts_at, ends_at, status) VALUES (:room, :mug, :host, 500, "
                "'USD', 2, 1, now(), now() + interval '1 hour', 'running')"),
                {"room": room, "mug": mug, "host": host.id})
        # the cup's counters in Redis, as its regular-price buyers had them: 5 units
        cup_keys = variant_stock.variant_keys(services.keys, host.id, cup_variant)
        await variant_stock.rebuild(services.redis, cup_keys, variant_stock.Counts(
            initial=5, available=5, held=0, sold=0), {})
        # when the operator upgrades with `livesell migrate`
        migrated = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "web.cli", "migrate"], cwd=ROOT,
            env={**os.environ, **infra.env()}, capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "variants rebuilt" in migrated.stdout + migrated.stderr
    finally:
        await asyncio.to_thread(command.upgrade, config, "head")

    # then the cup's counters hold the 8 units of its one pool, no command needed
    assert await variant_stock.read_counts(services.redis, cup_keys) == variant_stock.Counts(
        initial=8, available=8, held=0, sold=0)

    async with services.db.session() as session:
        defaults = dict((await session.execute(text(
            "SELECT product_id, (stock, active) FROM product_variants "
            "WHERE options = '{}'::jsonb"))).all())
        sale_variant = await session.scalar(text("SELECT variant_id FROM sales"))
        mug_default = await session.scalar(text(
            "SELECT id FROM product_variants WHERE product_id = :p"), {"p": mug})
    assert defaults == {mug: (7, True), cup: (8, True), shirt: (6, False)}
    assert sale_variant == mug_default
