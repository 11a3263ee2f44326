"""Every HTML page of the app goes out with the same security headers (web/render.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.routing import Route

from tests.conftest import MakeUser, TestUser
from web.app import API_ROUTERS
from web.render import CONTENT_SECURITY_POLICY

# The ingest's HLS origin with the default settings (core.settings.IngestSettings).
HLS_ORIGIN = "http://127.0.0.1:8088"

# Not pages: the API description and the Prometheus text.
NOT_PAGES = {"/openapi.json", "/metrics"}


def _page_routes(app: Any) -> list[Route]:
    api_paths = {route.path for router in API_ROUTERS for route in router.routes
                 if isinstance(route, Route)}
    return [route for route in app.routes
            if isinstance(route, Route) and "GET" in (route.methods or set())
            and route.path not in api_paths and route.path not in NOT_PAGES]


async def test_every_html_route_sends_the_content_security_policy(
        app: Any, client: httpx.AsyncClient, make_user: MakeUser,
        make_room: Callable[..., Awaitable[dict[str, Any]]]) -> None:
    # given a host with a room, a viewer and an ops user, and every GET route that is a page
    host = await make_user("host")
    room = await make_room(host)
    readers: list[TestUser | None] = [None, await make_user("viewer"), host,
                                      await make_user("ops")]
    routes = _page_routes(app)
    assert {"/ops", "/host/commissions", "/ops/commissions", "/"} <= {r.path for r in routes}

    # when each of them opens each page
    html_routes: set[str] = set()
    for route in routes:
        url = (route.path.replace("{room_id:int}", str(room["id"]))
               .replace("{order_id:int}", "1").replace("{video_id:int}", "1")
               .replace("{host_id:int}", str(host.id)).replace("{draw_id:int}", "1")
               .replace("{offer_id:int}", "1").replace("{bargain_id:int}", "1")
               .replace("{group_id:int}", "1"))
        for reader in readers:
            response = await client.get(url, headers=reader.headers if reader else None)
            if response.headers.get("content-type", "").startswith("text/html"):
                html_routes.add(route.path)
                # then every HTML answer, a page or a refusal, carries the headers
                expected = CONTENT_SECURITY_POLICY
                if route.path == "/rooms/{room_id:int}" and response.status_code == 200:
                    # The live room's player fetches the HLS from the ingest's origin, and only
                    # that page may (web/live_video.py).
                    expected = expected.replace("connect-src 'self'",
                                                f"connect-src 'self' {HLS_ORIGIN}")
                assert response.headers.get("content-security-policy") == \
                    expected, (url, reader and reader.role, response.status_code)
                assert response.headers.get("x-content-type-options") == "nosniff"
                assert response.headers.get("cache-control") == "no-store"

    # and every page route answered in HTML to someone
    assert html_routes == {route.path for route in routes}
