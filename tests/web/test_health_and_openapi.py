"""GET /healthz and /openapi.json."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from core.context import Services
from core.db import Database
from core.redis import Keys, make_redis
from core.settings import Settings
from web.app import create_app


async def _healthz(settings: Settings, services: Services) -> httpx.Response:
    """GET /healthz of an app started on these services."""
    app = create_app(settings, services)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        return await http.get("/healthz")


async def test_healthz_is_ok_when_both_answer(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": {"ok": True}, "redis": {"ok": True}}


async def test_healthz_is_503_when_redis_does_not_answer(settings, services: Services):
    # given an app whose Redis points at a closed port
    broken = Services(settings=settings, db=services.db,
                      redis=make_redis("redis://127.0.0.1:1/0"), keys=Keys("x:"))
    response = await _healthz(settings, broken)
    await broken.redis.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["postgres"] == {"ok": True}
    assert body["redis"]["ok"] is False and body["redis"]["error"]


async def test_healthz_is_503_when_postgres_does_not_answer(settings, services: Services):
    broken = Services(settings=settings,
                      db=Database("postgresql+asyncpg://postgres@127.0.0.1:1/none"),
                      redis=services.redis, keys=services.keys)
    response = await _healthz(settings, broken)
    await broken.db.dispose()
    assert response.status_code == 503
    assert response.json()["postgres"]["ok"] is False
    assert response.json()["redis"] == {"ok": True}


async def test_openapi_describes_every_json_route(client, app):
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    api_routes = {
        (route.path.replace(":int", ""), method.lower())
        for route in app.routes
        if isinstance(route, Route) and (route.path.startswith("/api/") or route.path == "/healthz")
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert api_routes, "no API routes found"
    assert api_routes <= documented, f"undocumented: {sorted(api_routes - documented)}"
    create_room = spec["paths"]["/api/rooms"]["post"]
    schema_ref = create_room["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/RoomIn")
    assert "title" in spec["components"]["schemas"]["RoomIn"]["properties"]
