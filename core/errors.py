"""Domain errors. The web edge maps them to HTTP status codes and JSON bodies.

The HTTP statuses are named here, once, by the bases below (`NotFound`, `Conflict`,
`Unprocessable` …); a package's error picks its base and names only its own `code`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected failure with a machine-readable code and, where it applies, the field at fault."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 extra: dict[str, Any] | None = None,
                 retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.extra = extra or {}
        # HTTP headers of the error response: `Retry-After` for a 429 or 503 that will pass.
        self.headers: dict[str, str] = {}
        if retry_after_seconds is not None:
            self.extra["retry_after"] = retry_after_seconds
            self.headers["Retry-After"] = str(retry_after_seconds)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class Unprocessable(DomainError):
    """Well-formed, but the domain cannot do what it asks."""

    status_code = 422
    code = "unprocessable"


class ValidationError(Unprocessable):
    code = "invalid"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        super().__init__(first["message"], field=first.get("field"))
        self.errors = errors

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field, "errors": self.errors}


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"


class Gone(DomainError):
    status_code = 410
    code = "gone"


class TooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class Unavailable(DomainError):
    """Not now: a retry shortly will do."""

    status_code = 503
    code = "service_unavailable"
