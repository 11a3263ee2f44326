"""One name per event: the room log and the wire agree, and a room's status change has a
named log entry (no name built from a string at run time)."""

from __future__ import annotations

from live.models import ROOM_MOVES, STATUS_EVENTS, RoomEventType
from realtime.protocol import ServerEvent


def test_a_pin_has_the_same_name_in_the_room_log_and_on_the_wire() -> None:
    assert RoomEventType.PIN == ServerEvent.PIN == "pin"
    assert RoomEventType.UNPIN == ServerEvent.UNPIN == "unpin"


def test_every_room_move_has_a_log_entry_of_its_own() -> None:
    targets = {target for moves in ROOM_MOVES.values() for target in moves}
    assert set(STATUS_EVENTS) == targets
    assert STATUS_EVENTS[next(t for t in targets if t.value == "ended")] == \
        RoomEventType.ROOM_ENDED
