"""The domain events the engagement package records; handlers (workers/handlers.py) tell the
room after the commit. A grab records none: like a buy, it is the hot path, and its reply is
the grabber's news; the room hears the count left through the coalesced `rain` ticks."""

from __future__ import annotations

from core.events import DomainEvent, domain_event


@domain_event
class RainDropped(DomainEvent):
    rain_id: int
    room_id: int


@domain_event
class RainSettled(DomainEvent):
    """Grabs are over: the unclaimed envelopes went back to the host and the seed is public."""

    rain_id: int
    room_id: int


@domain_event
class DrawStarted(DomainEvent):
    draw_id: int
    room_id: int


@domain_event
class DrawEntered(DomainEvent):
    draw_id: int
    room_id: int
    user_id: int


@domain_event
class DrawDrawn(DomainEvent):
    draw_id: int
    room_id: int
