"""What every HTTP handler needs of its request: the process's services, and who may act.

One place, so that a handler reads `services(request)` and `owns_or_ops(principal, owner_id)`
the same way everywhere (pages, the JSON API, the payment page).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from core.accounts import owns_or_ops
from core.context import Services

__all__ = ["owns_or_ops", "services"]


def services(request: HTTPConnection) -> Services:
    """The database, Redis and settings that the app's lifespan built for this process."""
    svc: Services = request.app.state.services
    return svc
