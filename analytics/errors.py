"""Errors of the analytics package."""

from __future__ import annotations

from core.errors import Conflict, PermissionDenied


class RoomNotEnded(Conflict):
    """A stored report is built once the room has ended; a live room has live numbers."""

    code = "room_not_ended"


class NotYourBroadcast(PermissionDenied):
    code = "not_your_broadcast"
