"""JSON responses encoded with orjson, and the mapping of domain errors to HTTP."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from core.errors import DomainError


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_response(exc: DomainError) -> JSON:
    return JSON({"error": exc.to_dict()}, status_code=exc.status_code, headers=getattr(exc, "headers", None) or None)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSON({"error": {"code": code, "message": exc.detail}}, status_code=exc.status_code,
                headers=exc.headers)
