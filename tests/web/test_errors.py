"""Every failure is a JSON error: ids no row can have, nulls, NUL bytes, far dates, unknown
users, a Redis or PostgreSQL that does not answer (503), and anything unexpected (500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from core.context import Services
from core.db import Database
from core.redis import Keys, make_redis
from tests.conftest import MakeUser
from web.app import create_app

PAST_BIGINT = 2**63


def assert_error(response: httpx.Response, status: int, code: str,
                 field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    if field is not None:
        assert error["field"] == field
    return error


@pytest.mark.parametrize(("method", "path", "field"), [
    ("GET", "/api/orders/{id}", "order_id"),
    ("POST", "/api/orders/{id}/cancel", "order_id"),
    ("GET", "/api/sales/{id}/orders", "sale_id"),
    ("POST", "/api/sales/{id}/reconcile", "sale_id"),
    ("DELETE", "/api/rooms/{id}/pin", "room_id"),
    ("GET", "/api/rooms/{id}/events", "room_id"),
    ("GET", "/api/ops/broadcasts/{id}/report", "room_id"),
])
async def test_an_id_past_bigint_is_a_json_404(client: httpx.AsyncClient, make_user: MakeUser,
                                               method: str, path: str, field: str) -> None:
    host = await make_user("host")

    for bad_id in (PAST_BIGINT, 10**40):
        response = await client.request(method, path.format(id=bad_id), headers=host.headers)
        assert_error(response, 404, "not_found", field)


async def test_ids_in_bodies_and_queries_past_bigint_name_the_field(
        client: httpx.AsyncClient, make_user: MakeUser, make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)

    pin = await client.post(f"/api/rooms/{room['id']}/pin", json={"product_id": PAST_BIGINT},
                            headers=host.headers)
    lineup = await client.put(f"/api/rooms/{room['id']}/lineup",
                              json={"product_ids": [1, PAST_BIGINT]}, headers=host.headers)
    rooms = await client.get("/api/rooms", params={"host_id": str(PAST_BIGINT)})
    superscript = await client.get("/api/rooms", params={"host_id": "²"})

    assert_error(pin, 422, "invalid", "product_id")
    assert_error(lineup, 422, "invalid", "product_ids.1")
    assert_error(rooms, 422, "invalid", "host_id")
    assert_error(superscript, 422, "invalid", "host_id")


async def test_the_largest_bigint_id_is_a_plain_miss(client: httpx.AsyncClient,
                                                     make_user: MakeUser) -> None:
    host = await make_user("host")
    response = await client.get(f"/api/orders/{2**63 - 1}", headers=host.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] != "internal_error"


async def test_null_in_a_patch_is_refused_by_name_where_the_field_cannot_be_empty(
        client: httpx.AsyncClient, make_user: MakeUser, make_product: Any,
        make_room: Any) -> None:
    host = await make_user("host")
    product = await make_product(host, image_url="https://example.com/a.png")
    room = await make_room(host, playback_url="https://example.com/live.m3u8")

    for field in ("title", "description", "price_minor", "stock"):
        response = await client.patch(f"/api/products/{product['id']}", json={field: None},
                                      headers=host.headers)
        error = assert_error(response, 422, "invalid", field)
        assert "omit" in error["message"]
    for field in ("title", "slow_mode_seconds"):
        response = await client.patch(f"/api/rooms/{room['id']}", json={field: None},
                                      headers=host.headers)
        assert_error(response, 422, "invalid", field)

    # and where it can be empty, null clears it
    cleared = await client.patch(f"/api/products/{product['id']}", json={"image_url": None},
                                 headers=host.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["image_url"] is None
    cleared_room = await client.patch(f"/api/rooms/{room['id']}", json={"playback_url": None},
                                      headers=host.headers)
    assert cleared_room.status_code == 200, cleared_room.text
    assert cleared_room.json()["playback_url"] is None


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/products", {"title": "Silk\x00", "price_minor": 1, "currency": "USD", "stock": 1},
     "title"),
    ("/api/products", {"title": "Silk", "description": "a\x00b", "price_minor": 1,
                       "currency": "USD", "stock": 1}, "description"),
    ("/api/rooms", {"title": "Evening\x00drop"}, "title"),
    ("/api/rooms", {"title": "Evening\ndrop"}, "title"),
    ("/api/auth/signup", {"email": "a@example.com", "password": "password123",
                          "display_name": "\x00"}, "display_name"),
    ("/api/auth/login", {"email": "a\x00@example.com", "password": "x"}, "email"),
])
async def test_control_characters_in_text_are_refused_by_name(
        client: httpx.AsyncClient, make_user: MakeUser, path: str, body: dict[str, Any],
        field: str) -> None:
    host = await make_user("host")
    response = await client.post(path, json=body, headers=host.headers)
    assert_error(response, 422, "invalid", field)


async def test_a_description_keeps_its_newlines_and_tabs(client: httpx.AsyncClient,
                                                         make_user: MakeUser,
                                                         make_product: Any) -> None:
    host = await make_user("host")
    product = await make_product(host, description="Silk.\n\tHand-rolled edges.\r\n")
    assert product["description"] == "Silk.\n\tHand-rolled edges."


async def test_muting_a_user_who_does_not_exist_is_a_404(client: httpx.AsyncClient,
                                                        make_user: MakeUser,
                                                        make_room: Any) -> None:
    host = await make_user("host")
    room = await make_room(host)

    response = await client.post(f"/api/rooms/{room['id']}/mutes", json={"user_id": 987_654_321},
                                 headers=host.headers)
    assert_error(response, 404, "not_found", "user_id")


@pytest.mark.parametrize("starts_at", ["9999-12-31T23:00:00-10:30", "2999-01-01T00:00:00Z",
                                       "1900-01-01T00:00:00Z"])
async def test_a_sale_far_from_now_is_refused_by_name(client: httpx.AsyncClient,
                                                      make_user: MakeUser, make_product: Any,
                                                      make_room: Any, starts_at: str) -> None:
    host = await make_user("host")
    product = await make_product(host)
    room = await make_room(host, products=[product], live=True)

    response = await client.post(f"/api/rooms/{room['id']}/sales", headers=host.headers, json={
        "product_id": product["id"], "price_minor": 100, "quantity": 1, "duration_seconds": 60,
        "starts_at": starts_at})
    scheduled = await client.post("/api/rooms", headers=host.headers,
                                  json={"title": "Later", "scheduled_at": starts_at})

    assert_error(response, 422, "invalid", "starts_at")
    assert_error(scheduled, 422, "invalid", "scheduled_at")


async def test_redis_that_does_not_answer_is_a_503_with_retry_after(
        settings: Any, services: Services, make_user: MakeUser) -> None:
    # given an app whose Redis points at a closed port
    viewer = await make_user("viewer")
    broken = Services(settings=settings, db=services.db,
                      redis=make_redis("redis://127.0.0.1:1/0"), keys=Keys("x:"))
    app = create_app(settings, broken)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            # when a viewer buys (the sale's counters live in Redis) and tracks a product
            buy = await http.post("/api/sales/1/buy", json={"quantity": 1},
                                  headers={**viewer.headers, "Idempotency-Key": "k1"})
            track = await http.post("/api/rooms/1/track", headers=viewer.headers,
                                    json={"event": "product_view", "product_id": 1})
    finally:
        await broken.redis.aclose()

    # then both are the documented 503, in JSON, with Retry-After
    for response in (buy, track):
        assert_error(response, 503, "service_unavailable")
        assert int(response.headers["retry-after"]) > 0


async def test_postgres_that_does_not_answer_is_a_503(settings: Any, services: Services) -> None:
    broken = Services(settings=settings,
                      db=Database("postgresql+asyncpg://postgres@127.0.0.1:1/none"),
                      redis=services.redis, keys=services.keys)
    app = create_app(settings, broken)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/api/rooms")
    finally:
        await broken.db.dispose()
    assert_error(response, 503, "service_unavailable")
    assert response.headers["retry-after"]


async def test_an_unexpected_error_is_a_json_500_without_a_traceback(
        settings: Any, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    # given a route that fails in a way no handler expects
    async def broken(request: Request) -> Any:
        raise RuntimeError("secret detail /srv/livesell/app.py line 12")

    app = create_app(settings, services)
    app.router.routes.append(Route("/api/broken", broken))
    app.router.routes.append(Route("/broken-page", broken))

    # when it is called (the server's middleware re-raises after answering, for the log)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as http:
        api = await http.get("/api/broken")
        page = await http.get("/broken-page", headers={"Accept": "text/html"})

    # then the API answers in the JSON error format, with a request id and no detail
    error = assert_error(api, 500, "internal_error")
    assert error["request_id"] and "secret" not in api.text and "Traceback" not in api.text
    # and the page is an HTML page, not a plain-text traceback
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "default-src" in page.headers["content-security-policy"]
    assert "secret" not in page.text and "Traceback" not in page.text
    # and the traceback is in the server's log, with the request id
    logged = [r for r in caplog.records if r.exc_info and error["request_id"] in r.getMessage()]
    assert logged and logged[0].levelname == "ERROR"


class _Refused(Exception):
    """Stands in for the DBAPI error SQLAlchemy wraps; only its sqlstate matters here."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("refused")
        self.sqlstate = sqlstate


def _wrapped(orig: Exception, cause: BaseException | None = None, *,
             invalidated: bool = False) -> Exception:
    import sqlalchemy.exc

    if cause is not None:
        orig.__cause__ = cause
    return sqlalchemy.exc.DBAPIError("select 1", None, orig, connection_invalidated=invalidated)


def _failures() -> list[tuple[str, Exception, int]]:
    import asyncpg
    import redis.exceptions

    return [
        ("redis refused", redis.exceptions.ConnectionError("refused"), 503),
        ("redis loading", redis.exceptions.BusyLoadingError("loading"), 503),
        ("redis timeout", redis.exceptions.TimeoutError("timeout"), 503),
        ("pg connection lost", _wrapped(_Refused(None), invalidated=True), 503),
        ("pg shutting down", _wrapped(_Refused("57P01")), 503),
        ("pg connection closed", _wrapped(_Refused(None),
                                          asyncpg.exceptions.InterfaceError("connection is closed")), 503),
        ("pg refused a NUL", _wrapped(_Refused("22021")), 422),
        ("asyncpg refused a value", _wrapped(
            _Refused(None), asyncpg.exceptions.DataError("value out of int64 range")), 422),
        ("asyncpg misuse", _wrapped(_Refused(None), asyncpg.exceptions.InterfaceError(
            "cannot perform operation: another operation is in progress")), 500),
        ("pg unique violation", _wrapped(_Refused("23505")), 500),
        ("a bug", RuntimeError("bug"), 500),
    ]


@pytest.mark.parametrize(("exc", "status"), [(exc, status) for _, exc, status in _failures()],
                         ids=[name for name, _, _ in _failures()])
async def test_each_kind_of_failure_gets_its_status_in_json(exc: Exception, status: int) -> None:
    from web.responses import server_error_handler

    request = Request({"type": "http", "method": "POST", "path": "/api/sales/1/buy",
                       "headers": [], "query_string": b""})
    response = await server_error_handler(request, exc)

    assert response is not None and response.status_code == status
    assert response.media_type == "application/json"
    assert ("retry-after" in response.headers) == (status == 503)


async def test_a_statement_month_past_datetime_is_a_422(client: httpx.AsyncClient,
                                                       make_user: MakeUser) -> None:
    host = await make_user("host")
    response = await client.get("/api/commissions", params={"month": "9999-12"},
                                headers=host.headers)
    assert_error(response, 422, "invalid", "month")


@pytest.mark.parametrize("path", ["/rooms/{id}", "/host/rooms/{id}", "/host/rooms/{id}/data",
                                  "/ops/broadcasts/{id}"])
async def test_pages_with_an_id_past_bigint_are_html_404s(client: httpx.AsyncClient,
                                                          make_user: MakeUser, path: str) -> None:
    ops = await make_user("ops")
    response = await client.get(path.format(id=PAST_BIGINT),
                                headers={**ops.headers, "Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
