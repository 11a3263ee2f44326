"""The buy route's own way in: `POST /api/sales/{sale_id}/buy` straight to its endpoint.

A flash sale sends thousands of buys a second to one route. Through Starlette each one walks
the router's route table (every route's regex until the buy route, near the end), the
exception middleware, and `request_response`'s wrappers; measured, that is about a tenth of a
sold-out reply's CPU. This middleware sits where Starlette's exception middleware would wrap
the router (the last user middleware: inside the request observer and GZip, so the request
id, the metrics, compression and the server error middleware apply as to any route), matches
the buy route itself with the route's own `matches()` (same path regex and convertors, so the
same path params), and calls the endpoint.

It keeps what the route gets from Starlette: `scope["route"]` (the request observer's label),
`scope["endpoint"]`, `path_params`, a `Request` over the same scope, and the app's exception
handlers looked up the way Starlette's exception middleware does (by the exception's MRO;
`Exception` itself goes to the server error middleware outside, as for every route). Anything
else — another path, another method (Starlette's 405), a websocket — goes on to Starlette
untouched. The route stays declared in the route table and in /openapi.json.
tests/web/test_buy_path.py checks that both ways give the same reply for every outcome.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class BuyFastPath:
    # Off: every buy goes through Starlette's router (tests compare the two ways).
    enabled = True

    def __init__(self, app: ASGIApp, route: Route) -> None:
        self.app = app
        self.route = route
        self.handlers: dict[type[BaseException], Any] | None = None
        self.handled = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        match, child_scope = self.route.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        self.handled += 1
        scope.update(child_scope)
        scope["route"] = self.route
        if "router" not in scope:
            scope["router"] = scope["app"].router
        request = Request(scope, receive, send)
        try:
            response = await self.route.endpoint(request)
        except Exception as exc:
            handler = self._handler(scope, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, scope: Scope, exc: Exception) -> Any:
        if self.handlers is None:
            # As Starlette splits them: `Exception` (and 500) belong to the server error
            # middleware, the other exception classes to the exception middleware.
            self.handlers = {key: value for key, value in scope["app"].exception_handlers.items()
                             if isinstance(key, type) and key is not Exception}
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def buy_route(routes: list[Any], endpoint: Any) -> Route:
    """The one route of the table whose endpoint is `endpoint`."""
    found = [r for r in routes if isinstance(r, Route) and r.endpoint is endpoint]
    if len(found) != 1:
        raise LookupError(f"expected one route for {endpoint!r}, found {len(found)}")
    return found[0]
