"""Domain errors. The web edge maps them to HTTP status codes and JSON bodies.

The HTTP statuses are named here, once, by the bases below (`NotFound`, `Conflict`,
`Unprocessable` …); a package's error picks its base and names only its own `code`."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """An expected failure with a machine-readable code and, where it applies, the field at fault.

    A subclass names its status and code in its header
    (`class NotFound(DomainError, status_code=404, code="not_found")`) or as class attributes."""

    status_code = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status_code: int | None = None, code: str | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code
        if code is not None:
            cls.code = code

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


class Unprocessable(DomainError, status_code=422, code="unprocessable"):
    """Well-formed, but the domain cannot do what it asks."""


class ValidationError(Unprocessable, code="invalid"):
    """Input that fails its schema: every problem in `errors`, the first one as the message."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        super().__init__(first["message"], field=first.get("field"))
        self.errors = errors

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field, "errors": self.errors}


class NotAuthenticated(DomainError, status_code=401, code="not_authenticated"):
    """No session, or one that has expired."""


class PermissionDenied(DomainError, status_code=403, code="forbidden"):
    """The caller is known but may not do this."""


class NotFound(DomainError, status_code=404, code="not_found"):
    """Nothing by that id that the caller may see."""


class Conflict(DomainError, status_code=409, code="conflict"):
    """The state of things forbids it now."""


class IllegalTransition(Conflict, code="illegal_transition"):
    """A status move that its machine does not allow."""


class RateLimited(DomainError, status_code=429, code="rate_limited"):
    """Too many requests for now; `retry_after_seconds` says when to come back."""


class Gone(DomainError, status_code=410, code="gone"):
    """It was there and will not come back."""


class TooLarge(DomainError, status_code=413, code="payload_too_large"):
    """The body is larger than the endpoint takes."""


class UnsupportedMediaType(DomainError, status_code=415, code="unsupported_media_type"):
    """The body is of a type the endpoint does not read."""


class Unavailable(DomainError, status_code=503, code="service_unavailable"):
    """Not now: a retry shortly will do."""


def present(value: T | None, what: str) -> T:
    """`value`, which the caller's own invariant says is there: None raises (an `assert` would
    be gone under `python -O`, and the None would fail further on, far from its cause)."""
    if value is None:
        raise RuntimeError(f"{what} is missing")
    return value
