"""JSON responses encoded with orjson, and the mapping of domain errors to HTTP."""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

import asyncpg
import orjson
import redis.exceptions
import sqlalchemy.exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from core.errors import DomainError
from web.render import secure

log = logging.getLogger(__name__)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_response(exc: DomainError) -> JSON:
    return JSON({"error": exc.to_dict()}, status_code=exc.status_code, headers=getattr(exc, "headers", None) or None)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DomainError):  # registered for DomainError only
        raise exc
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:

    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSON({"error": {"code": code, "message": exc.detail}}, status_code=exc.status_code,
                headers=exc.headers)


# When a backing service is down ---------------------------------------------------------

# A Redis restart or a PostgreSQL failover takes a few seconds; asking clients to come back
# sooner only adds load while it happens.
RETRY_AFTER_SECONDS = 2


# What a backing service that does not answer raises: worth a retry, so a 503.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # also BusyLoadingError, while Redis loads its data
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.TimeoutError,  # no connection free in the pool in time
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    ConnectionError,  # refused or reset before any driver could wrap it
    TimeoutError,
)


def _is_unavailable(exc: BaseException) -> bool:
    """Whether the failure is a backing service that does not answer (worth a retry)."""
    if isinstance(exc, UNAVAILABLE) or _closed_connection(exc):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        cause = exc.orig.__cause__ if exc.orig is not None else None
        if isinstance(cause, UNAVAILABLE) or isinstance(exc.orig, UNAVAILABLE):
            return True
        if cause is not None and _closed_connection(cause):
            return True
        # Class 08: connection exception; 57P01-57P03: the server is shutting down or starting.
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        return sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
    return False


def _closed_connection(exc: BaseException) -> bool:
    """asyncpg's "connection is closed" / "pool is closing". Only these: its InterfaceError
    also covers bugs (an operation already in progress) and bad values (DataError)."""
    return (type(exc) is asyncpg.exceptions.InterfaceError
            and ("is closed" in str(exc) or "is closing" in str(exc)))


def _bad_value(exc: BaseException) -> bool:
    """A value PostgreSQL refused (class 22, data exception: a NUL byte, a number or a date
    out of range), or one asyncpg refused to send (its client-side DataError)."""
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return isinstance(exc, asyncpg.exceptions.DataError)
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return sqlstate.startswith("22") or isinstance(cause, asyncpg.exceptions.DataError)


def _wants_html(request: Request) -> bool:
    return (request.scope.get("type") == "http" and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def _error_body(request: Request, status: int, code: str, message: str,
                headers: dict[str, str] | None = None, **extra: Any) -> Response:
    if _wants_html(request):
        # Pages get a small page, not a traceback; the message is ours, never the exception's.
        page = (f"<!doctype html><meta charset=utf-8><title>{message}</title>"
                f"<h1>{message}</h1><p>Please try again in a moment.</p>")
        # Through the one page renderer's headers: an error page has the CSP like any other.
        return secure(HTMLResponse(page, status_code=status, headers=headers))
    return JSON({"error": {"code": code, "message": message, **extra}}, status_code=status,
                headers=headers)


async def _close_websocket(conn: Any, code: int) -> None:
    with contextlib.suppress(Exception):
        await conn.close(code)


async def server_error_handler(request: Request, exc: Exception) -> Response | None:
    """Any exception a route did not turn into a DomainError.

    A backing service that does not answer is a 503 with Retry-After (the client may retry
    with the same idempotency key); a value PostgreSQL refuses is a 422; anything else is a
    500 in the JSON error format with a request id, logged with its traceback. Never plain
    text, never a traceback to the client.
    """
    websocket = request.scope.get("type") == "websocket"
    if _is_unavailable(exc):
        log.warning("service unavailable on %s %s: %s: %s", request.scope.get("method", "WS"),
                    request.url.path, type(exc).__name__, exc)
        if websocket:
            await _close_websocket(request, CLOSE_TRY_AGAIN_LATER)
            return None
        return _error_body(request, 503, "service_unavailable",
                           "a backing service does not answer; retry shortly",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if _bad_value(exc):
        # Class 22, data exception: a value out of range or not storable (a NUL byte, a
        # date past year 9999) that validation at the edge missed. The client's input, so
        # a 4xx; logged so that the missing validation gets added.
        log.warning("PostgreSQL refused a value on %s %s: %s", request.scope.get("method", "WS"),
                    request.url.path, exc)
        if websocket:
            await _close_websocket(request, CLOSE_INTERNAL_ERROR)
            return None
        return _error_body(request, 422, "invalid", "a value is out of range or cannot be stored")
    request_id = getattr(request.state, "request_id", None) or secrets.token_hex(8)
    log.error("unhandled error on %s %s (request_id=%s)", request.scope.get("method", "WS"),
              request.url.path, request_id, exc_info=exc)
    if websocket:
        await _close_websocket(request, CLOSE_INTERNAL_ERROR)
        return None
    return _error_body(request, 500, "internal_error", "something went wrong on our side",
                       request_id=request_id)


# RFC 6455 close codes: 1011 internal error, 1013 try again later.
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013


def server_error_handlers() -> dict[Any, Any]:
    """Handlers for everything that is not a DomainError or an HTTPException: a service that
    does not answer is a 503, anything else a JSON 500.

    The service and database classes are listed as well as `Exception` so that Starlette
    handles them in its ExceptionMiddleware (answered and logged here, once) rather than in
    ServerErrorMiddleware, which answers with the same handler and then re-raises for the
    server to log as a crash.
    """
    handlers: dict[Any, Any] = {kind: server_error_handler for kind in (
        *UNAVAILABLE, sqlalchemy.exc.DBAPIError, asyncpg.exceptions.InterfaceError)}
    handlers[Exception] = server_error_handler
    return handlers
