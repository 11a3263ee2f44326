"""Work between packages: the domain-event handlers, registered in one place.

Every process that runs domain actions (the web app, a Celery worker, the CLI, the tests)
wires its services here at start-up, so an action's effects after commit are the same
wherever it runs. A handler here is glue: it reacts to one package's event by calling
another package's action (orders settled a sale -> live republishes the room's lineup).
It lives in `workers` because this is the layer that may import every domain package, and
the web app, which may import everything, calls it too.
"""

from __future__ import annotations

from core.context import Services
from core.events import EventBus
from live import actions as live_actions
from orders.events import SaleSettled


async def republish_lineup_after_settle(svc: Services, event: SaleSettled) -> None:
    # The sale's unsold units are back in the product's stock: the room shows the count.
    await live_actions.publish_lineup(svc, event.room_id)


def register_handlers(bus: EventBus) -> None:
    bus.subscribe(SaleSettled, republish_lineup_after_settle)


def wire(svc: Services) -> Services:
    """Register every handler on the services' bus; returns the services for chaining."""
    register_handlers(svc.events)
    return svc
