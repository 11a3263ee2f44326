"""What every HTTP handler needs of its request: the process's services, and who may act.

One place, so that a handler reads `services(request)`, `owns_or_ops(principal, owner_id)`,
`viewer_id(request)` and `host_owned(...)` the same way everywhere (pages, the JSON API, the
payment page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from starlette.requests import HTTPConnection, Request

from core.accounts import Role, owns_or_ops
from core.context import Services
from core.errors import PermissionDenied
from web.auth import require_user, resolve_principal
from web.validation import path_int

__all__ = ["host_owned", "owns_or_ops", "services", "viewer_id"]


def services(request: HTTPConnection) -> Services:
    """The database, Redis and settings that the app's lifespan built for this process."""
    svc: Services = request.app.state.services
    return svc


async def viewer_id(request: HTTPConnection) -> int | None:
    """The signed-in user's id, or None for a guest: for what anyone may read, with more in it
    (their own claim, bargain, entry) for the signed in."""
    principal = await resolve_principal(request)
    return principal.id if principal is not None else None


class HostOwned(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def host_id(self) -> int: ...


Owned = TypeVar("Owned", bound=HostOwned)


async def host_owned(request: Request, id_name: str,
                     load: Callable[[Services, int], Awaitable[Owned]],
                     refusal: PermissionDenied) -> tuple[Services, Owned]:
    """The path's `id_name` loaded by `load`, for its host (or ops) to manage: anyone else, or a
    viewer, is refused (`refusal` for a host of another's)."""
    principal = await require_user(request, Role.HOST)
    svc = services(request)
    owned = await load(svc, path_int(request, id_name))
    if not owns_or_ops(principal, owned.host_id):
        raise refusal
    return svc, owned
