"""GET /metrics: ops only, route templates as labels, the request id, the separate listener."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.context import Services
from core.logging import JsonFormatter, RequestIdFilter, request_id_var
from core.settings import Settings, SettingsError, load_settings
from web.app import create_app
from web.embedded import free_port
from web.metrics import RequestObserver


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_are_refused_to_guests_viewers_and_hosts(client, make_user):
    viewer, host = await make_user("viewer"), await make_user("host")

    guest = await client.get("/metrics")
    assert guest.status_code == 401
    assert guest.json()["error"]["code"] == "not_authenticated"
    for user in (viewer, host):
        refused = await client.get("/metrics", headers=user.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "wrong_role"
        assert "livesell_" not in refused.text


async def test_ops_get_the_prometheus_text(client, make_user):
    ops = await make_user("ops")

    response = await client.get("/metrics", headers=ops.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in ("livesell_http_request_duration_seconds", "livesell_ws_connections",
                 "livesell_buy_outcomes_total", "livesell_order_writer_commit_seconds",
                 "livesell_outbox_backlog", "livesell_pool_wait_seconds",
                 "livesell_ws_frames_sent_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in response.text, name


async def test_requests_are_labelled_by_route_template_not_by_path(client, make_user):
    ops = await make_user("ops")
    route = "/api/rooms/{room_id}/lineup"
    before = sample("livesell_http_request_duration_seconds_count",
                    route=route, method="GET", status="404")

    # when two different rooms (that do not exist) are asked for, and two unknown paths
    for room_id in (987654, 987655):
        assert (await client.get(f"/api/rooms/{room_id}/lineup")).status_code == 404
    unmatched_before = sample("livesell_http_request_duration_seconds_count",
                              route="<unmatched>", method="GET", status="404")
    for n in (1, 2):
        assert (await client.get(f"/no/such/page/{n}")).status_code == 404

    # then each pair shares one series, and no raw path is a label
    assert sample("livesell_http_request_duration_seconds_count",
                  route=route, method="GET", status="404") == before + 2
    assert sample("livesell_http_request_duration_seconds_count",
                  route="<unmatched>", method="GET", status="404") == unmatched_before + 2
    text = (await client.get("/metrics", headers=ops.headers)).text
    assert "987654" not in text and "/no/such/page" not in text


async def test_an_unknown_method_is_counted_as_other(client):
    await client.request("BREW", "/healthz")

    assert sample("livesell_http_request_duration_seconds_count",
                  route="/healthz", method="OTHER", status="405") >= 1


async def test_a_sane_request_id_is_kept_and_any_other_is_replaced(client):
    kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123.DEF_4"})
    assert kept.headers["x-request-id"] == "abc-123.DEF_4"

    for bad in ("x" * 65, "with space", "new\\nline", "<script>"):
        replaced = await client.get("/healthz", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert replaced.headers["x-request-id"]

    generated = await client.get("/healthz")
    again = await client.get("/healthz")
    assert generated.headers["x-request-id"] != again.headers["x-request-id"]


async def test_every_log_line_of_a_request_carries_its_id_as_json():
    # given an app behind the middleware whose endpoint logs, and a JSON handler
    logger = logging.getLogger("tests.request_id")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def endpoint(request: Request) -> PlainTextResponse:
        logger.info("buying", extra={"sale_id": 42})
        return PlainTextResponse("ok")

    app = RequestObserver(Starlette(routes=[Route("/x", endpoint)]))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as http:
            response = await http.get("/x", headers={"X-Request-ID": "req-77"})
        logger.info("after the request")
    finally:
        logger.removeHandler(handler)

    # then the line logged during the request has the request's id and the extra field
    during, after = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert response.headers["x-request-id"] == "req-77"
    assert during["request_id"] == "req-77"
    assert during["msg"] == "buying" and during["sale_id"] == 42
    assert during["level"] == "INFO" and during["logger"] == "tests.request_id"
    assert during["ts"].endswith("+00:00")
    assert after["request_id"] is None


async def test_the_outbox_backlog_is_read_at_scrape_time(client, make_user, services: Services):
    from sqlalchemy import text

    ops = await make_user("ops")
    async with services.db.transaction() as session:
        await session.execute(text(
            "insert into outbox (kind, payload, created_at) values "
            "('webhook', '{}', now() - interval '90 seconds'), ('webhook', '{}', now())"))

    await client.get("/metrics", headers=ops.headers)

    assert sample("livesell_outbox_backlog") == 2
    assert sample("livesell_outbox_oldest_age_seconds") >= 90


async def test_metrics_bind_serves_the_text_on_its_own_address(services: Services,
                                                               settings: Settings):
    port = free_port()
    app = create_app(dataclasses.replace(settings, metrics_bind=f"127.0.0.1:{port}"), services)
    async with app.router.lifespan_context(app), httpx.AsyncClient() as http:
        scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
        other = await http.get(f"http://127.0.0.1:{port}/")

    assert scraped.status_code == 200
    assert "livesell_http_request_duration_seconds" in scraped.text
    assert other.status_code == 404


def test_log_format_and_metrics_bind_are_checked(monkeypatch: Any):
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings()
    monkeypatch.setenv("LOG_FORMAT", "")
    monkeypatch.setenv("LIVESELL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    assert load_settings().log_format == "json"
    monkeypatch.setenv("METRICS_BIND", "9101")
    with pytest.raises(SettingsError, match="METRICS_BIND"):
        load_settings()


async def test_pool_checkouts_are_timed(services: Services):
    from sqlalchemy import text

    postgres = sample("livesell_pool_wait_seconds_count", pool="postgres")

    async with services.db.session() as session:
        await session.execute(text("select 1"))

    assert sample("livesell_pool_wait_seconds_count", pool="postgres") == postgres + 1


async def test_a_redis_caller_that_waits_for_a_connection_is_timed(services: Services):
    # given a Redis client with one connection, and that connection taken
    import asyncio

    from core.redis import make_redis

    client = make_redis(services.settings.redis_url, max_connections=1)
    try:
        await client.ping()  # a free connection: not a wait, not counted
        waits = sample("livesell_pool_wait_seconds_count", pool="redis")
        taken = await client.connection_pool.get_connection()

        # when another caller needs one, and the first is given back
        waiting = asyncio.create_task(client.ping())
        await asyncio.sleep(0)
        assert not waiting.done()
        await client.connection_pool.release(taken)

        # then the second caller got it, and its wait was timed once
        assert await waiting is True
        assert sample("livesell_pool_wait_seconds_count", pool="redis") == waits + 1
    finally:
        await client.aclose()


async def test_a_crash_is_counted_as_500_and_its_traceback_line_keeps_the_request_id():
    # given an app whose endpoint raises, behind the middleware
    async def endpoint(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    app = RequestObserver(Starlette(routes=[Route("/crash", endpoint)]))
    before = sample("livesell_http_request_duration_seconds_count",
                    route="/crash", method="GET", status="500")

    # when the server runs it in a task of its own, as uvicorn does, and logs the error there
    async def run_like_a_server() -> str | None:
        scope = {"type": "http", "method": "GET", "path": "/crash", "raw_path": b"/crash",
                 "root_path": "", "query_string": b"", "scheme": "http", "http_version": "1.1",
                 "headers": [(b"x-request-id", b"crash-9")], "server": ("test", 80),
                 "client": ("test", 1)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        with pytest.raises(RuntimeError):
            await app(scope, receive, send)
        return request_id_var.get()

    seen = await asyncio.create_task(run_like_a_server())

    # then the error line would carry the id, and the request counts as a 500
    assert seen == "crash-9"
    assert request_id_var.get() is None
    assert sample("livesell_http_request_duration_seconds_count",
                  route="/crash", method="GET", status="500") == before + 1
