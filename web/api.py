"""A route table that also describes itself as OpenAPI.

Each JSON endpoint is declared once with its request and response schemas; the
same declarations serve `/openapi.json`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.types import MAX_ID

Endpoint = Callable[[Request], Awaitable[Response]]

# Every id is a PostgreSQL bigint identity (web/validation.py checks it, core/types.py's Id).
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


@dataclass(frozen=True)
class Header:
    """A request header an operation reads, as its OpenAPI parameter."""

    description: str
    required: bool = False
    pattern: str | None = None

    def parameter(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return {"name": name, "in": "header", "required": self.required,
                "description": self.description, "schema": schema}


@dataclass
class Operation:
    path: str
    method: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[int, ...] = ()
    parameters: list[dict[str, Any]] = field(default_factory=list)


class ApiRouter:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes: list[Route] = []
        self.operations: list[Operation] = []

    def add(self, path: str, method: str, *, summary: str, body: type[BaseModel] | None = None,
            response: type[BaseModel] | None = None, status: int = 200, auth: bool = True,
            errors: tuple[int, ...] = (), query: dict[str, str] | None = None,
            headers: dict[str, Header] | None = None,
            ) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.routes.append(Route(path, endpoint, methods=[method]))
            params = [{"name": n, "in": "query", "required": False,
                       "schema": ID_SCHEMA if t == "integer" and n.endswith("_id") else {"type": t}}
                      for n, t in (query or {}).items()]
            params += [header.parameter(n) for n, header in (headers or {}).items()]
            self.operations.append(Operation(path, method.lower(), summary, self.tag, body,
                                             response, status, auth, errors, params))
            return endpoint
        return register


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for segment in path.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name, _, kind = segment[1:-1].partition(":")
            params.append({"name": name, "in": "path", "required": True,
                           "schema": ID_SCHEMA if kind == "int" else {"type": "string"}})
    return params


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
    }, "required": ["code", "message"]}},
}


def build_openapi(routers: list[ApiRouter], *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for router in routers:
        for op in router.operations:
            openapi_path = op.path.replace(":int", "")
            item: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "operationId": f"{op.method}_{openapi_path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
                "parameters": _path_params(op.path) + op.parameters,
                "responses": {},
            }
            if op.body is not None:
                item["requestBody"] = {"required": True,
                                       "content": {"application/json": {"schema": ref(op.body)}}}
            success: dict[str, Any] = {"description": "OK"}
            if op.response is not None:
                success["content"] = {"application/json": {"schema": ref(op.response)}}
            item["responses"][str(op.status)] = success
            error_codes = set(op.errors)
            if op.body is not None:
                error_codes.add(422)
            if op.auth:
                error_codes.update({401, 403})
            for code in sorted(error_codes):
                item["responses"][str(code)] = {
                    "description": "error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            # Any other failure, 500 and 503 (Retry-After) included, is the same JSON error.
            item["responses"]["default"] = {
                "description": "any other error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            if op.auth:
                item["security"] = [{"bearer": []}, {"cookie": []}]
            paths.setdefault(openapi_path, {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "livesell_session"},
            },
        },
    }
