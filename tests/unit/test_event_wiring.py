"""The registry of work between packages (workers/handlers.py), read without a database: every
domain event a package records has someone to handle it, so none is recorded for nothing."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from core.events import DomainEvent, EventBus
from live import events as live_events
from orders import events as order_events
from orders import group_events
from workers.handlers import register_handlers


def _recorded_events(module: ModuleType) -> list[type[DomainEvent]]:
    classes = [value for value in vars(module).values()
               if inspect.isclass(value) and issubclass(value, DomainEvent)
               and value.__module__ == module.__name__]
    # A base class (OrderChanged) is never recorded itself: its subclasses are.
    return [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]


@pytest.mark.parametrize("event_type", [*_recorded_events(live_events),
                                        *_recorded_events(order_events),
                                        *_recorded_events(group_events)],
                         ids=lambda event_type: event_type.__name__)
def test_every_recorded_event_has_a_handler(event_type: type[DomainEvent]) -> None:
    bus = EventBus()
    register_handlers(bus)

    assert bus.handlers_for(event_type) or bus.in_transaction_handler_for(event_type)


def test_the_live_rooms_news_is_told_by_one_handler_per_event() -> None:
    # Given the registry, a pin (say) is told to the room once: two handlers publishing the
    # same change would show it twice.
    bus = EventBus()
    register_handlers(bus)

    for event_type in (live_events.ProductPinned, live_events.ProductUnpinned,
                       live_events.LineupChanged, live_events.RoomUpdated,
                       live_events.UserMuted):
        assert len(bus.handlers_for(event_type)) == 1, event_type.__name__
    # A room gone live is told once, and its followers are alerted.
    assert len(bus.handlers_for(live_events.RoomWentLive)) == 2
    # An ended room is told, and its report is sent.
    assert len(bus.handlers_for(live_events.RoomEnded)) == 2
