"""The domain events the engagement package records; handlers (workers/handlers.py) tell the
room after the commit. A grab records none: like a buy, it is the hot path, and its reply is
the grabber's news; the room hears the count left through the coalesced `rain` ticks."""

from __future__ import annotations

from dataclasses import dataclass

from core.events import DomainEvent


@dataclass(frozen=True, slots=True)
class RainDropped(DomainEvent):
    rain_id: int
    room_id: int


@dataclass(frozen=True, slots=True)
class RainSettled(DomainEvent):
    """Grabs are over: the unclaimed envelopes went back to the host and the seed is public."""

    rain_id: int
    room_id: int


@dataclass(frozen=True, slots=True)
class DrawStarted(DomainEvent):
    draw_id: int
    room_id: int


@dataclass(frozen=True, slots=True)
class DrawEntered(DomainEvent):
    draw_id: int
    room_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class DrawDrawn(DomainEvent):
    draw_id: int
    room_id: int
