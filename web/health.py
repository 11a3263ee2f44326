"""GET /healthz: does PostgreSQL answer, does Redis answer."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from core.context import Services
from web.api import ApiRouter
from web.edge import services
from web.responses import JSON

router = ApiRouter("health")

# A dependency that takes longer than this is as good as down for a health probe.
CHECK_TIMEOUT_SECONDS = 2.0


async def _check_postgres(svc: Services) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), svc.db.engine.connect() as conn:
            await conn.execute(text("select 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]


async def _check_redis(svc: Services) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await svc.redis.ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]


@router.add("/healthz", "GET", summary="Whether PostgreSQL and Redis answer", auth=False,
            errors=(503,))
async def healthz(request: Request) -> Response:
    svc = services(request)
    pg_error, redis_error = await asyncio.gather(_check_postgres(svc), _check_redis(svc))
    body = {
        "status": "ok" if pg_error is None and redis_error is None else "unavailable",
        "postgres": {"ok": pg_error is None, **({"error": pg_error} if pg_error else {})},
        "redis": {"ok": redis_error is None, **({"error": redis_error} if redis_error else {})},
    }
    return JSON(body, status_code=200 if body["status"] == "ok" else 503)
