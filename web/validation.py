"""Parse request bodies into pydantic schemas; errors name the field and the reason."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.requests import Request

from core.errors import NotFound, ValidationError
from core.types import is_id

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024


def errors_from_pydantic(exc: PydanticValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": location, "message": error["msg"]})
    return errors


def parse_model(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(errors_from_pydantic(exc)) from None


async def parse_body(request: Request, model: type[M]) -> M:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError([{"field": "body", "message": f"larger than {MAX_BODY_BYTES} bytes"}])
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in content_type or "multipart/form-data" in content_type:
        form = await request.form()
        return parse_model(model, {k: v for k, v in form.items() if isinstance(v, str)})
    if not body:
        data: object = {}
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationError([{"field": "body", "message": f"not valid JSON: {exc}"}]) from None
    if not isinstance(data, dict):
        raise ValidationError([{"field": "body", "message": "must be a JSON object"}])
    return parse_model(model, data)


def parse_id(raw: object, name: str) -> int:
    """An id from a path or a query string: a whole number in 1 .. 2**63 - 1.

    Not a number is a 422; a number that cannot be an id (zero, negative, past bigint) is a
    404 naming the field, as for an id that could exist but does not.
    """
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        # isdigit() alone would let superscripts and other Unicode digits through to int().
        if not (text.isascii() and text.isdigit()) or len(text) > 30:
            raise ValidationError([{"field": name, "message": "must be a whole number"}])
        value = int(text)
    if not is_id(value):
        raise NotFound(f"no such {name.removesuffix('_id') or 'item'}", field=name)
    return value


def path_int(request: Request, name: str) -> int:
    return parse_id(request.path_params.get(name), name)


def query_id(request: Request, name: str) -> int | None:
    """An optional id filter from the query string; absent or empty means no filter."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_id(raw, name)
    except NotFound:
        # A filter is not a resource: a value no id can have is bad input, not a miss.
        raise ValidationError([{"field": name, "message": "must be a positive id"}]) from None
