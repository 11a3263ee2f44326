"""The application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from core.context import Services
from core.errors import DomainError
from core.security import configure_password_cost, configure_password_hashing
from core.settings import Settings, get_settings
from engagement import runtime as engagement_runtime
from orders.runtime import close_runtime
from social import follows
from web import (
    api_accounts,
    api_analytics,
    api_bargains,
    api_commissions,
    api_coupons,
    api_engagement,
    api_groups,
    api_ingest,
    api_live,
    api_orders,
    api_regular,
    api_shares,
    api_social,
    api_videos,
    health,
    locale,
    metrics,
    pages,
    pages_bargains,
    pages_commissions,
    pages_engagement,
    pages_groups,
    pages_ops,
    pages_shares,
    pages_social,
    pages_videos,
    payments,
    ws,
)
from web.api import ApiRouter, build_openapi
from web.auth import stop_watch, watch_revocations
from web.buy_path import GZIP_MINIMUM_SIZE, BuyFastPath, buy_route
from web.responses import JSON, domain_error_handler, http_error_handler, server_error_handlers
from workers.handlers import wire

# Paths that answer machines: their errors stay JSON whatever the client accepts.
MACHINE_PREFIXES = ("/api/", "/ws", "/static/", "/metrics", "/health")


async def page_or_json_error(request: Request, exc: Exception) -> Response:
    """A browser that opens a page path that does not exist (`/rooms/abc`) gets the HTML error
    page, not the API's JSON body; everything else gets the JSON error."""
    from web.auth import resolve_principal
    from web.render import error_page

    wants_page = (isinstance(exc, HTTPException) and exc.status_code == 404
                  and request.method in ("GET", "HEAD")
                  and not request.url.path.startswith(MACHINE_PREFIXES)
                  and "text/html" in request.headers.get("accept", ""))
    if not wants_page:
        return await http_error_handler(request, exc)
    return error_page(request, await resolve_principal(request), 404, "error.page_not_found.title",
                      "error.page_not_found.message")

STATIC_DIR = Path(__file__).parent / "static"

# Every JSON router of the app; /openapi.json describes exactly these.
API_ROUTERS: list[ApiRouter] = [
    health.router,
    api_accounts.router,
    api_live.router,
    api_orders.router,  # flash sales, orders
    api_regular.router,  # variants, regular-price buys, the cart, addresses
    payments.router,  # the sandbox gateway's webhook
    api_analytics.router,  # product tracking, broadcast reports, CSV exports
    api_commissions.router,  # host commission statements, balances, CSV
    api_ingest.router,  # the room's stream key
    api_videos.router,  # short videos: upload, status, feed
    api_social.router,  # follows, reminders, notifications, reviews, the seller score
    api_engagement.router,  # red envelope rains, lucky draws, the wallet
    api_coupons.router,  # live-room coupons: drop, claim (used at a regular-price checkout)
    api_shares.router,  # share links, their visits, the sharer's overview
    api_bargains.router,  # bargains: offers, friends' cuts, the buy at the price reached
    api_groups.router,  # group buys: deals, open, join, progress
]


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or get_settings()
    owns_services = services is None
    configure_password_hashing(settings.password_hash_workers,
                               settings.password_hash_queue_per_worker)
    configure_password_cost(settings.password_hash_time_cost, settings.password_hash_memory_kib)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = wire(services or Services.from_settings(settings))
        app.state.settings = settings
        app.state.services = svc
        app.state.db = svc.db
        app.state.redis = svc.redis
        app.state.keys = svc.keys
        # The recorder starts before the hub (which feeds it) and stops after it, so the
        # hub's last events are flushed.
        await api_analytics.start(app)
        await ws.start(app)
        # Rains settle and draws are drawn when their time is up, by every web process.
        # The draws that follow the host enter the host's followers, who are social's.
        engagement_runtime.start_ticking(svc, settings.engagement.tick_seconds,
                                         followers_of=follows.followers_of)
        # Other processes' logouts, heard here, so that principals may be cached for long.
        revocations = asyncio.get_running_loop().create_task(
            watch_revocations(svc.redis, svc.keys), name="revocations")
        listener = (await metrics.start_listener(app, settings.metrics_bind)
                    if settings.metrics_bind else None)
        if owns_services:
            # Everything made at start-up (modules, routes, schemas, pools) lives as long as
            # the process: moved out of the collector's sight, a full collection no longer
            # walks it, so the pauses it costs the buy path and the fan-out stay short.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if listener is not None:
                listener.close()
            await stop_watch(revocations)
            await ws.stop(app)
            # Grabs queued for the batched write fail cleanly (nothing was credited).
            await engagement_runtime.close_runtime(svc)
            # Orders queued for the batched insert fail cleanly and release their units.
            await close_runtime(svc)
            await api_analytics.stop(app)
            if owns_services:
                await svc.close()

    openapi_doc = build_openapi(API_ROUTERS, title="livesell", version="0.1.0")

    async def openapi(request: Request) -> Response:
        return JSON(openapi_doc)

    routes: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    for router in API_ROUTERS:
        routes.extend(router.routes)
    routes.extend(ws.routes)
    routes.extend(api_ingest.routes)  # nginx-rtmp's callbacks (internal)
    routes.extend(pages.routes)
    routes.extend(locale.routes)  # POST /locale: the language switcher
    routes.extend(pages_ops.routes)  # the ops dashboard, reports, the live data screen
    routes.extend(pages_commissions.routes)  # host and ops commission statements
    routes.extend(pages_videos.routes)  # short videos
    routes.extend(pages_social.routes)  # notifications, a host's public page
    routes.extend(pages_engagement.routes)  # a lucky draw's public verification page
    routes.extend(pages_shares.routes)  # /s/{code} and the sharer's page
    routes.extend(pages_bargains.routes)  # a bargain offer's and a bargain's pages
    routes.extend(pages_groups.routes)  # /g/{code}: a group buy's page
    routes.extend(payments.routes)  # the sandbox gateway's payment page
    routes.extend(metrics.routes)  # GET /metrics, ops only (Prometheus text format)
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    # Transcoded short videos (live/videos.py); the uploads beside them are not served.
    media_videos = Path(settings.video.media_dir) / "videos"
    media_videos.mkdir(parents=True, exist_ok=True)
    routes.append(Mount("/media/videos", StaticFiles(directory=media_videos), name="media"))

    app = Starlette(
        debug=settings.debug,
        routes=routes,
        lifespan=lifespan,
        # Outermost first. The buy route's own way in does, for that one route, what the
        # layers after it and Starlette's router do (web/buy_path.py), with GZip's minimum
        # size; the request observer times the whole reply, gzip included.
        middleware=[Middleware(BuyFastPath, route=buy_route(routes, api_orders.buy),
                               gzip_minimum_size=GZIP_MINIMUM_SIZE),
                    Middleware(metrics.RequestObserver),
                    Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE),
                    Middleware(locale.AccountLocale)],
        exception_handlers={DomainError: domain_error_handler, HTTPException: page_or_json_error,
                            **server_error_handlers()},
    )
    app.state.settings = settings
    return app
