"""The buy route's own way in: `POST /api/sales/{sale_id}/buy` straight to its endpoint.

A flash sale sends thousands of buys a second to one route, and most of its replies (sold out,
limit reached, a replay) are a Redis round trip and a few hundred bytes. Through Starlette
each one would cross the request observer, the GZip middleware (which builds a responder and
normalises its fourteen excluded content types per request), the router (every route's regex
until the buy route, near the end of the table), the exception middleware and
`request_response`'s wrappers. This layer is the first user middleware (inside Starlette's
server error middleware only) and does, for this one route, what those layers do, in one
frame (docs/decisions/0014):

- the request id (the client's `X-Request-ID` if sane, else a new one) in the logging context
  and as the last response header, and one observation of the request histogram labelled by
  the route, method and status, exactly as `web.metrics.RequestObserver`;
- the match, with the route's own compiled path regex and convertors (so the same path
  params), for POST only; `scope["route"]`, `scope["endpoint"]` and `path_params` as the
  router sets them, and a `Request` over the same scope;
- the app's exception handlers, looked up the way Starlette's exception middleware does (by
  the exception's MRO; `Exception` itself goes to the server error middleware outside, as for
  every route);
- the reply: one below GZip's minimum size is what GZip would pass through unchanged, so it
  is sent as it is; a larger one goes through a GZip middleware of the same settings.

Anything else (another path, another method: Starlette's 405; a websocket; a mounted app with
a root path) goes on to the rest of the stack untouched. The route stays declared in the route
table and in /openapi.json. tests/web/test_buy_path.py checks that both ways give the same
reply, headers, request id and metrics for every outcome.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core.logging import new_request_id, request_id_var
from web.metrics import REQUEST_ID_HEADER, incoming_request_id, observe

# The app's GZip middleware's setting (web/app.py): smaller replies are sent as they are.
GZIP_MINIMUM_SIZE = 1024
_RESPONSE = "livesell.buy_response"


async def _send_response(scope: Scope, receive: Receive, send: Send) -> None:
    response: Response = scope.pop(_RESPONSE)
    await response(scope, receive, send)


class BuyFastPath:
    # Off: every buy goes through the whole stack and Starlette's router (tests compare).
    enabled = True

    def __init__(self, app: ASGIApp, route: Route,
                 gzip_minimum_size: int = GZIP_MINIMUM_SIZE) -> None:
        self.app = app
        self.route = route
        self.endpoint = route.endpoint
        self.path_regex = route.path_regex
        self.convertors = route.param_convertors
        self.minimum_size = gzip_minimum_size
        self.gzip = GZipMiddleware(_send_response, minimum_size=gzip_minimum_size)
        self.handlers: dict[type[BaseException], Any] | None = None
        self.children: dict[tuple[int, str, int], Any] = {}
        self.handled = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST" or not self.enabled
                or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        matched = self.path_regex.match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        self.handled += 1
        params = dict(scope.get("path_params", {}))
        for name, value in matched.groupdict().items():
            params[name] = self.convertors[name].convert(value)
        scope["endpoint"] = self.endpoint
        scope["path_params"] = params
        scope["route"] = self.route
        if "router" not in scope:
            scope["router"] = scope["app"].router

        request_id = incoming_request_id(scope) or new_request_id()
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the endpoint raises without a handler
        started = time.perf_counter()
        try:
            request = Request(scope, receive, send)
            try:
                response = await self.endpoint(request)
            except Exception as exc:
                handler = self._handler(scope, exc)
                if handler is None:
                    raise
                response = await handler(request, exc)
            status = response.status_code
            id_header = (REQUEST_ID_HEADER, request_id.encode())
            body = getattr(response, "body", None)
            if type(body) is bytes and len(body) < self.minimum_size:
                await send({"type": "http.response.start", "status": status,
                            "headers": [*response.raw_headers, id_header]})
                await send({"type": "http.response.body", "body": body})
                if response.background is not None:
                    await response.background()
            else:
                async def send_with_id(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        message = {**message, "headers": [*message.get("headers", ()),
                                                          id_header]}
                    await send(message)

                scope[_RESPONSE] = response
                await self.gzip(scope, receive, send_with_id)
        except BaseException:
            # As the request observer: the id stays set for the server's traceback line.
            raise
        else:
            request_id_var.reset(token)
        finally:
            observe(self.children, self.route, "POST", status, time.perf_counter() - started)

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
