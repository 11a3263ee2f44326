"""Parse request bodies into pydantic schemas; errors name the field and the reason."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from core.errors import NotFound, TooLarge, ValidationError
from core.types import is_id

M = TypeVar("M", bound=BaseModel)

# The largest body any route takes: a product with a 2,000-character description is
# under 10 kB of JSON even with every character escaped; a webhook is far smaller.
MAX_BODY_BYTES = 64 * 1024

# Validated bodies of frozen request models, by model and raw bytes. A flash sale's thousands
# of buys a second send a handful of distinct bodies (`{"quantity":1}`), and validating one
# costs about 0.04 ms of a 0.44 ms refusal; a frozen model cannot be changed by the handler
# that gets it, so one instance serves every request with the same bytes. Short bodies only,
# at most this many kept (the memo starts again when full); errors are never kept.
_VALIDATED: dict[tuple[type[BaseModel], bytes], BaseModel] = {}
VALIDATED_MAX_ENTRIES = 1024
VALIDATED_MAX_BODY_BYTES = 128


class PayloadTooLarge(TooLarge):
    """A request body over `MAX_BODY_BYTES`."""


def _plural(count: object, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def human_message(error: Any) -> str:
    """A validator's complaint as a person reads it ("Use at least 8 characters.", not
    "String should have at least 8 characters"): the pages show it under the field."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    field = str(error["loc"][-1]) if error.get("loc") else ""
    if field == "email" and kind in ("value_error", "string_too_short", "string_too_long"):
        return "Enter an email address like name@example.com."
    messages = {
        "missing": "This is required.",
        "string_too_short": ("This can't be empty." if ctx.get("min_length") == 1 else
                             f"Use at least {_plural(ctx.get('min_length'), 'character')}."),
        "string_too_long": f"Use at most {_plural(ctx.get('max_length'), 'character')}.",
        "greater_than_equal": f"Must be {ctx.get('ge')} or more.",
        "greater_than": f"Must be more than {ctx.get('gt')}.",
        "less_than_equal": f"Must be {ctx.get('le')} or less.",
        "less_than": f"Must be less than {ctx.get('lt')}.",
        "int_parsing": "Must be a whole number.",
        "int_type": "Must be a whole number.",
        "int_from_float": "Must be a whole number.",
        "bool_parsing": "Must be true or false.",
        "bool_type": "Must be true or false.",
        "string_type": "Must be text.",
        "extra_forbidden": "This field is not known here.",
        "literal_error": f"Must be one of: {ctx.get('expected', '')}.",
        "enum": f"Must be one of: {ctx.get('expected', '')}.",
    }
    if kind in messages:
        return messages[kind]
    message = str(error.get("msg", "invalid"))
    # "Value error, <our own message>": our validators' text reads fine on its own.
    return message.removeprefix("Value error, ")


# The limit a validator names, by its kind: the pages put it in their own words.
_LIMITS = {"string_too_short": "min_length", "string_too_long": "max_length",
           "greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le",
           "less_than": "lt"}


def error_code(error: Any) -> dict[str, str]:
    """A validator's complaint as a stable code (and the limit or the choices it names), for
    the pages to say in the reader's language (web/i18n: `errors.field.<code>`); the message
    stays English for API clients."""
    kind = str(error.get("type", "invalid"))
    ctx = error.get("ctx") or {}
    field = str(error["loc"][-1]) if error.get("loc") else ""
    if field == "email" and kind in ("value_error", "string_too_short", "string_too_long"):
        return {"code": "invalid_email"}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return {"code": "empty"}
    if kind in _LIMITS and _LIMITS[kind] in ctx:
        return {"code": kind, "count": str(ctx[_LIMITS[kind]])}
    if kind in ("literal_error", "enum"):
        return {"code": kind, "expected": str(ctx.get("expected", ""))}
    return {"code": kind}


def errors_from_pydantic(exc: PydanticValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": location, "message": human_message(error), **error_code(error)})
    return errors


def parse_model(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(errors_from_pydantic(exc)) from None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 before it is read when it is larger than `limit`.

    Every route that takes a body reads it here (or through `read_form`/`parse_body`),
    so the check costs nothing on routes without one, and no middleware sits in front of
    every request (the buy path included) to do it. A declared Content-Length over the
    limit is refused at once, without reading a byte; a body without one (chunked) is
    read until it passes the limit and no further.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's own cache of the body: request.body() and request.form() read it from
    # there instead of the (now consumed) stream.
    request._body = body
    return body


async def read_form(request: Request, limit: int = MAX_BODY_BYTES) -> FormData:
    """request.form(), with the body read through `read_body` (so limited) first."""
    await read_body(request, limit)
    return await request.form()


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body may be at most {limit} bytes", field="body")


async def parse_body(request: Request, model: type[M]) -> M:
    body = await read_body(request)
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in content_type or "multipart/form-data" in content_type:
        form = await request.form()
        return parse_model(model, {k: v for k, v in form.items() if isinstance(v, str)})
    memo = model.model_config.get("frozen") and len(body) <= VALIDATED_MAX_BODY_BYTES
    if memo:
        known = _VALIDATED.get((model, body))  # (kept under its own model)
        if known is not None:
            return known  # type: ignore[return-value]
    if not body:
        data: object = {}
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationError([{"field": "body", "message": f"not valid JSON: {exc}"}]) from None
    if not isinstance(data, dict):
        raise ValidationError([{"field": "body", "message": "must be a JSON object"}])
    parsed = parse_model(model, data)
    if memo:
        if len(_VALIDATED) >= VALIDATED_MAX_ENTRIES:
            _VALIDATED.clear()
        _VALIDATED[(model, body)] = parsed
    return parsed


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


def query_choice(request: Request, name: str, choices: type[StrEnum]) -> str | None:
    """An optional filter from the query string that must be one of `choices` (a status);
    absent or empty means no filter."""
    value = request.query_params.get(name) or None
    if value is not None and value not in {choice.value for choice in choices}:
        raise ValidationError([{"field": name, "message": "Must be one of: "
                                + ", ".join(choice.value for choice in choices) + "."}])
    return value
