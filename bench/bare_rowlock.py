"""The naive flash sale the product is measured against (not part of the product).

    DATABASE_URL=postgresql://... uvicorn bench.bare_rowlock:app

A bare Starlette + asyncpg app with no authentication (the buyer's id comes in an `X-User-Id`
header), no middleware and no Redis: one transaction locks the sale row (`SELECT … FOR
UPDATE`), inserts the order, decrements the units and commits; then it replies with the same
shape as the product's buy (201 `{"order": {...}}`, 409 `{"error": {"code": "sold_out"}}`).
Every buyer of one sale queues on that one row lock for the length of the transaction's round
trips. The per-user limit is 1 (a unique index), a repeated Idempotency-Key gets the first
reply again.

Its tables live beside the product's in the same database, prefixed `bench_bare_`; the
benchmark creates them (`SCHEMA`) and its sales (`create_sale`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCHEMA = """
create table if not exists bench_bare_sales (
    id bigserial primary key,
    remaining integer not null check (remaining >= 0),
    price_minor integer not null,
    currency text not null,
    room_id bigint not null,
    product_id bigint not null
);
create table if not exists bench_bare_orders (
    id bigserial primary key,
    sale_id bigint not null references bench_bare_sales (id),
    user_id bigint not null,
    idempotency_key text not null,
    quantity integer not null,
    amount_minor integer not null,
    currency text not null,
    status text not null,
    hold_expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    unique (sale_id, user_id)
);
"""

# The product's default pool size (core/db.py), so neither side has more connections.
POOL_SIZE = 10
# The product's default unpaid-order hold.
HOLD_SECONDS = 600


def dsn(database_url: str) -> str:
    """The SQLAlchemy URL the product uses, as asyncpg takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_sale(conn: asyncpg.Connection, units: int) -> int:
    sale_id: int = await conn.fetchval(
        "insert into bench_bare_sales (remaining, price_minor, currency, room_id, product_id) "
        "values ($1, 1500, 'USD', 1, 1) returning id", units)
    return sale_id


def _json(content: Any, status: int) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _error(code: str, message: str, field: str | None, status: int) -> Response:
    return _json({"error": {"code": code, "message": message, "field": field}}, status)


def _order(row: Any, sale: Any, sale_id: int) -> dict[str, Any]:
    hold: datetime = row["hold_expires_at"]
    return {"order": {
        "id": row["id"], "sale_id": sale_id, "room_id": sale["room_id"],
        "product_id": sale["product_id"], "status": row["status"], "quantity": row["quantity"],
        "amount_minor": row["amount_minor"], "currency": row["currency"],
        "hold_expires_at": hold.isoformat(), "hold_expires_at_ms": int(hold.timestamp() * 1000),
        "payment_url": f"/pay/{row['id']}", "created_at": row["created_at"].isoformat()}}


async def buy(request: Request) -> Response:
    sale_id = int(request.path_params["sale_id"])
    key = request.headers.get("idempotency-key")
    if not key:
        return _error("idempotency_key_required", "send an Idempotency-Key header",
                      "Idempotency-Key", 400)
    user_id = int(request.headers["x-user-id"])
    quantity = int(orjson.loads(await request.body() or b"{}").get("quantity", 1))
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        sale = await conn.fetchrow(
            "select remaining, price_minor, currency, room_id, product_id "
            "from bench_bare_sales where id = $1 for update", sale_id)
        if sale is None:
            return _error("not_found", "no such sale", "sale_id", 404)
        existing = await conn.fetchrow(
            "select * from bench_bare_orders where sale_id = $1 and user_id = $2",
            sale_id, user_id)
        if existing is not None:
            if existing["idempotency_key"] == key:
                return _json(_order(existing, sale, sale_id), 201)
            return _error("limit_reached", "you have reached this sale's per-person limit",
                          "quantity", 409)
        if sale["remaining"] < quantity:
            return _error("sold_out", "sold out", "quantity", 409)
        row = await conn.fetchrow(
            "insert into bench_bare_orders (sale_id, user_id, idempotency_key, quantity, "
            "amount_minor, currency, status, hold_expires_at) values ($1, $2, $3, $4, $5, $6, "
            f"'pending_payment', now() + interval '{HOLD_SECONDS} seconds') returning *",
            sale_id, user_id, key, quantity, sale["price_minor"] * quantity, sale["currency"])
        await conn.execute("update bench_bare_sales set remaining = remaining - $2 where id = $1",
                           sale_id, quantity)
    return _json(_order(row, sale, sale_id), 201)


async def ping(request: Request) -> Response:
    """The floor: uvicorn and a bare Starlette route, a small JSON reply, nothing else."""
    return _json({"ok": True}, 200)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(dsn(os.environ["DATABASE_URL"]),
                                               min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


routes = Starlette(routes=[Route("/sales/{sale_id:int}/buy", buy, methods=["POST"]),
                           Route("/ping", ping, methods=["GET"])],
                   lifespan=lifespan)

RAW_PING = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`GET /raw-ping` answered by a plain ASGI callable before Starlette: uvicorn's own floor.
    Everything else goes to the Starlette app."""
    if scope["type"] == "http" and scope["path"] == "/raw-ping":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(RAW_PING)).encode())]})
        await send({"type": "http.response.body", "body": RAW_PING})
        return
    await routes(scope, receive, send)
