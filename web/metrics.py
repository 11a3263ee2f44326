"""`GET /metrics` (Prometheus text format) and the HTTP middleware that measures requests and
gives each one a request id.

/metrics is not public: the app serves it to ops users only (bearer token or session cookie),
and `METRICS_BIND=host:port` adds a listener without authentication for a Prometheus on a
private network. What each metric means: docs/operations.md.

Counts of Celery task outcomes come from the workers through Redis (workers/app.py adds to
one hash per outcome; a prefork worker's tasks run in child processes that no in-process
registry would see), and are read here at scrape time, like the outbox backlog and the
gauges read off the hub and the pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.accounts import Role
from core.context import Services
from core.logging import new_request_id, request_id_var, sane_request_id
from core.metrics import (
    HTTP_REQUEST_SECONDS,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_SECONDS,
    POOL_IN_USE,
    WRITER_QUEUE,
    WS_CONNECTIONS,
    WS_ROOMS,
)
from orders.runtime import runtime
from web.auth import require_user

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# Any other method (anyone can send one) is counted as OTHER: label values stay bounded.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
_CONVERTOR = re.compile(r":\w+}")
# A scrape's own queries give up after this long: a slow database must not stall Prometheus.
SCRAPE_QUERY_TIMEOUT_SECONDS = 2.0


def _route_template(route: Any) -> str:
    """The route's path as declared, without convertors: `/api/rooms/{room_id}`."""
    if isinstance(route, Mount):
        path = route.path + "/{path}"
    elif isinstance(route, Route):
        path = route.path
    else:
        return UNMATCHED
    return _CONVERTOR.sub("}", path)


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return sane_request_id(value.decode("latin-1"))
    return None


class RequestObserver:
    """A plain ASGI middleware (no BaseHTTPMiddleware: no extra task or body copy per request).

    Per request: the request id (the client's `X-Request-ID` if sane, else a new one) set in
    the logging context and sent back as a header, and one histogram observation labelled by
    the matched route's path template (Starlette leaves the route in the scope), method and
    status. The labelled child is looked up once per (route, method, status) and kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.children: dict[tuple[int, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind != "websocket":
                await self.app(scope, receive, send)
                return
            # A websocket's log lines carry an id too; its metrics are the hub's.
            token = request_id_var.set(incoming_request_id(scope) or new_request_id())
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        request_id = incoming_request_id(scope) or new_request_id()
        token = request_id_var.set(request_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # what the client gets if the app raises before replying

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The id stays set: the server logs the traceback in this same task (its own
            # task per request, so the id goes no further), and that line needs the id most.
            raise
        else:
            request_id_var.reset(token)
        finally:
            observe(self.children, scope.get("route"), scope["method"], status,
                    time.perf_counter() - started)


def observe(children: dict[tuple[int, str, int], Any], route: Any, method: str, status: int,
            elapsed: float) -> None:
    """One observation of `livesell_http_request_duration_seconds`; `children` keeps the
    labelled child of each (route, method, status) once looked up."""
    if method not in KNOWN_METHODS:
        method = "OTHER"
    # By identity: routes define __eq__ (unhashable) and live as long as the app.
    key = (id(route), method, status)
    child = children.get(key)
    if child is None:
        child = HTTP_REQUEST_SECONDS.labels(_route_template(route), method, str(status))
        children[key] = child
    child.observe(elapsed)


class CeleryTaskCounts(Collector):
    """`livesell_celery_tasks_total{task, outcome}`: the workers' counts as last read from Redis."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "livesell_celery_tasks", "Celery task outcomes (success, failure, retry) by task, "
            "summed over every worker", labels=["task", "outcome"])
        for (task, outcome), value in sorted(self.counts.items()):
            family.add_metric([task, outcome], value)
        yield family


CELERY_TASKS = CeleryTaskCounts()
REGISTRY.register(CELERY_TASKS)


def celery_counts_key(svc: Services) -> str:
    return svc.keys("metrics", "celery_tasks")


async def refresh(app: Starlette) -> None:
    """Read what lives elsewhere into the registry, just before it is rendered."""
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        WS_ROOMS.set(len(hub.rooms))
        WS_CONNECTIONS.set(sum(len(room.connections) for room in hub.rooms.values()))
    svc: Services = app.state.services
    checkedout = getattr(svc.db.engine.sync_engine.pool, "checkedout", None)
    if checkedout is not None:
        POOL_IN_USE.labels("postgres").set(checkedout())
    POOL_IN_USE.labels("redis").set(
        len(getattr(svc.redis.connection_pool, "_in_use_connections", ())))
    WRITER_QUEUE.set(runtime(svc).writer.queue.qsize())
    try:
        async with asyncio.timeout(SCRAPE_QUERY_TIMEOUT_SECONDS):
            async with svc.db.session() as session:
                # The partial index on undelivered rows makes this cheap at any table size.
                backlog, oldest = (await session.execute(text(
                    "select count(*), coalesce(extract(epoch from now() - min(created_at)), 0) "
                    "from outbox where delivered_at is null"))).one()
            OUTBOX_BACKLOG.set(backlog)
            OUTBOX_OLDEST_SECONDS.set(float(oldest))
            raw: dict[bytes, bytes] = await svc.redis.hgetall(  # type: ignore[assignment]
                celery_counts_key(svc))
        counts: dict[tuple[str, str], float] = {}
        for field, value in raw.items():
            task, _, outcome = field.decode().rpartition("|")
            counts[(task, outcome)] = float(value)
        CELERY_TASKS.counts = counts
    except Exception:  # the scrape still answers, with the last values read
        log.warning("metrics: reading the outbox backlog or Celery counts failed", exc_info=True)


async def render(app: Starlette) -> Response:
    await refresh(app)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def metrics(request: Request) -> Response:
    await require_user(request, Role.OPS)
    return await render(request.app)


routes = [Route("/metrics", metrics, methods=["GET"])]


# The separate listener (METRICS_BIND) -----------------------------------------------------------

async def _serve_scrape(app: Starlette, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    """Just enough HTTP/1.0 for a scraper: `GET /metrics`, one reply, close."""
    try:
        async with asyncio.timeout(SCRAPE_QUERY_TIMEOUT_SECONDS * 2):
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].split(b" ")
            if len(request_line) >= 2 and request_line[0] == b"GET" and \
                    request_line[1].split(b"?", 1)[0] == b"/metrics":
                await refresh(app)
                status, body, kind = b"200 OK", generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            else:
                status, body, kind = b"404 Not Found", b"not found\n", "text/plain"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: " + kind.encode()
                         + b"\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start_listener(app: Starlette, bind: str) -> asyncio.Server:
    host, _, port = bind.rpartition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_scrape(app, reader, writer)

    # A request head past 8 KiB is not a scraper's: readuntil refuses it.
    server = await asyncio.start_server(handle, host.strip("[]"), int(port), limit=8192)
    log.info("metrics: serving /metrics on %s", bind)
    return server
